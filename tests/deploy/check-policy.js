// What the schemas cannot say about deploy/kubernetes, checked on the
// rendered manifest (stdin): the objects the base promises, the Pod Security
// "restricted" profile on every container, the sidecar as a native sidecar
// with its three probes, the token mounted so that rotation reaches the
// daemon, memory sized for the measured peak, and the PrometheusRule equal
// to the plain rules file (argv[2]).
'use strict';
const fs = require('fs');
const assert = require('assert');
const YAML = require('yaml');

const objs = YAML.parseAllDocuments(fs.readFileSync(0, 'utf8'))
	.map((d) => d.toJSON()).filter((o) => o);
const rules = YAML.parse(fs.readFileSync(process.argv[2], 'utf8'));
let failed = 0;
function check(what, fn) {
	try {
		fn();
		console.log(`ok   ${what}`);
	} catch (e) {
		failed++;
		console.log(`FAIL ${what}: ${e.message}`);
	}
}
const byKind = (k) => objs.filter((o) => o.kind === k);
const one = (k) => {
	const l = byKind(k);
	assert.strictEqual(l.length, 1, `${l.length} ${k} objects`);
	return l[0];
};
// Mebibytes of a Kubernetes quantity like 96Mi or 100M.
function mebibytes(q) {
	const m = /^([0-9.]+)(Ki|Mi|Gi|k|M|G)?$/.exec(String(q));
	assert.ok(m, `quantity ${q}`);
	const f = { Ki: 1 / 1024, Mi: 1, Gi: 1024, k: 1e3 / 2 ** 20,
		M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20 }[m[2]] ?? 1 / 2 ** 20;
	return Number(m[1]) * f;
}

for (const k of ['Deployment', 'Service', 'PodDisruptionBudget',
	'PodMonitor', 'PrometheusRule'])
	check(`one ${k}`, () => one(k));
// The app's ingress policy and the egress component's.
const policies = (type) => byKind('NetworkPolicy')
	.filter((np) => (np.spec.policyTypes || []).includes(type));
check('two NetworkPolicies: ingress and egress', () => {
	assert.strictEqual(byKind('NetworkPolicy').length, 2);
	assert.strictEqual(policies('Ingress').length, 1);
	assert.strictEqual(policies('Egress').length, 1);
});

const dep = one('Deployment');
const pod = dep.spec.template.spec;
const all = [...(pod.initContainers || []), ...pod.containers];
const sidecar = (pod.initContainers || []).find((c) => c.name === 'intercom-healthd');

check('pod: runAsNonRoot, seccomp RuntimeDefault', () => {
	assert.strictEqual(pod.securityContext.runAsNonRoot, true);
	assert.strictEqual(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
});
for (const c of all) {
	check(`container ${c.name}: restricted profile`, () => {
		const s = c.securityContext;
		assert.ok(s, 'no securityContext');
		assert.strictEqual(s.allowPrivilegeEscalation, false);
		assert.deepStrictEqual(s.capabilities.drop, ['ALL']);
		assert.ok(!s.capabilities.add, 'adds capabilities');
		assert.strictEqual(s.readOnlyRootFilesystem, true);
		assert.notStrictEqual(s.runAsNonRoot, false);
		assert.notStrictEqual(s.runAsUser, 0);
		assert.ok(!s.privileged, 'privileged');
	});
}
check('intercom-healthd is a native sidecar', () => {
	assert.ok(sidecar, 'not among initContainers');
	assert.strictEqual(sidecar.restartPolicy, 'Always');
	assert.ok(!pod.containers.some((c) => c.name === 'intercom-healthd'),
		'also a plain container');
});
check('sidecar probes: startup and liveness on /livez, readiness on /readyz', () => {
	assert.strictEqual(sidecar.startupProbe.httpGet.path, '/livez');
	assert.strictEqual(sidecar.livenessProbe.httpGet.path, '/livez');
	assert.strictEqual(sidecar.readinessProbe.httpGet.path, '/readyz');
});
check('sidecar: the token is a Secret mounted as a directory, read by token_file', () => {
	const m = sidecar.volumeMounts.find((v) => v.mountPath === '/run/secrets/intercom');
	assert.ok(m, 'no mount at /run/secrets/intercom');
	assert.ok(!m.subPath && !m.subPathExpr, 'subPath: a rotated Secret never reaches the file');
	const vol = pod.volumes.find((v) => v.name === m.name);
	assert.ok(vol.secret, 'the volume is not a Secret');
	assert.ok(sidecar.args.includes('--token-file=/run/secrets/intercom/token'));
	assert.ok(!(sidecar.env || []).some((e) => e.name === 'INTERCOM_ACCESS_TOKEN'),
		'the token also comes by env');
	assert.ok(!sidecar.args.some((a) => /dG9rO/.test(a)), 'a token in args');
});
check('sidecar: readiness survives 429s (degraded_ok)', () => {
	assert.ok(sidecar.args.includes('--degraded-ok'));
});
check('sidecar resources: limit holds the 49 MB hostile-load peak with headroom', () => {
	const r = sidecar.resources;
	assert.ok(mebibytes(r.requests.memory) >= 16, `request ${r.requests.memory} under idle RSS`);
	assert.ok(mebibytes(r.limits.memory) >= 1.5 * 49e6 / 2 ** 20,
		`limit ${r.limits.memory}`);
	assert.ok(r.requests.cpu && r.limits.cpu, 'cpu request and limit');
});
check('health port: Prometheus only (NetworkPolicy), not on the Service', () => {
	const np = policies('Ingress')[0];
	const rulesFor = np.spec.ingress.filter((r) =>
		(r.ports || []).some((p) => p.port === 'health' || p.port === 9180));
	assert.strictEqual(rulesFor.length, 1);
	assert.ok(rulesFor[0].from && rulesFor[0].from.length > 0, 'open to all');
	const svc = one('Service');
	assert.ok(!svc.spec.ports.some((p) => p.targetPort === 'health' || p.targetPort === 9180));
});
check('egress: the sidecar Pods reach DNS (53) and HTTPS (443), nothing else', () => {
	const np = policies('Egress')[0];
	const labels = dep.spec.template.metadata.labels;
	for (const [k, v] of Object.entries(np.spec.podSelector.matchLabels))
		assert.strictEqual(labels[k], v, `the Pods lack ${k}=${v}`);
	const ports = [];
	for (const r of np.spec.egress) {
		assert.ok(r.ports && r.ports.length, 'a rule open on every port');
		assert.ok(r.to && r.to.length, 'a rule open to every peer');
		for (const p of r.ports)
			ports.push(`${p.protocol}/${p.port}`);
	}
	assert.deepStrictEqual(ports.sort(), ['TCP/443', 'TCP/53', 'UDP/53']);
});
check('PodMonitor scrapes /metrics on the health port', () => {
	const ep = one('PodMonitor').spec.podMetricsEndpoints[0];
	assert.strictEqual(ep.port, 'health');
	assert.strictEqual(ep.path, '/metrics');
});
check('PrometheusRule carries the rules file unchanged', () => {
	assert.deepStrictEqual(one('PrometheusRule').spec.groups, rules.groups);
});
process.exit(failed ? 1 : 0);

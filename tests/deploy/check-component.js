// The sidecar component rendered onto Deployments it did not write
// (stdin: the render; argv[2]: the input the test wrote, before the
// component): every Deployment labelled intercom-healthd/sidecar: "true"
// gains the daemon as a native sidecar with its probes, token volume and a
// container that meets the "restricted" Pod Security profile on its own,
// and keeps everything of its own unchanged; every other Deployment comes
// out exactly as it went in.
'use strict';
const fs = require('fs');
const assert = require('assert');
const YAML = require('yaml');

const docs = (text) => YAML.parseAllDocuments(text).map((d) => d.toJSON()).filter((o) => o);
const out = docs(fs.readFileSync(0, 'utf8'));
const inp = docs(fs.readFileSync(process.argv[2], 'utf8'));
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
const rendered = (name) => {
	const o = out.find((x) => x.kind === 'Deployment' && x.metadata.name === name);
	assert.ok(o, `Deployment ${name} is not in the render`);
	return o;
};
const marked = (d) => (d.metadata.labels || {})['intercom-healthd/sidecar'] === 'true';
const deployments = inp.filter((o) => o.kind === 'Deployment');
check('the input has a marked and an unmarked Deployment', () => {
	assert.ok(deployments.some(marked) && deployments.some((d) => !marked(d)));
});

for (const before of deployments.filter((d) => !marked(d))) {
	check(`${before.metadata.name} (unmarked): unchanged`, () => {
		assert.deepStrictEqual(rendered(before.metadata.name), before);
	});
}

for (const before of deployments.filter(marked)) {
	const name = before.metadata.name;
	const after = rendered(name);
	const pod = after.spec.template.spec;
	const was = before.spec.template.spec;
	const sidecar = (pod.initContainers || []).find((c) => c.name === 'intercom-healthd');
	check(`${name}: intercom-healthd is a native sidecar`, () => {
		assert.ok(sidecar, 'not among initContainers');
		assert.strictEqual(sidecar.restartPolicy, 'Always');
		assert.ok(!pod.containers.some((c) => c.name === 'intercom-healthd'));
	});
	check(`${name}: startup and liveness on /livez, readiness on /readyz, port health`, () => {
		assert.strictEqual(sidecar.startupProbe.httpGet.path, '/livez');
		assert.strictEqual(sidecar.livenessProbe.httpGet.path, '/livez');
		assert.strictEqual(sidecar.readinessProbe.httpGet.path, '/readyz');
		assert.ok(sidecar.ports.some((p) => p.name === 'health' && p.containerPort === 9180));
	});
	check(`${name}: the token Secret mounted as a directory, read by token_file`, () => {
		const m = sidecar.volumeMounts.find((v) => v.mountPath === '/run/secrets/intercom');
		assert.ok(m && !m.subPath, 'no whole-directory mount');
		const vol = pod.volumes.find((v) => v.name === m.name);
		assert.ok(vol && vol.secret && vol.secret.secretName === 'intercom-healthd-token');
		assert.ok(sidecar.args.includes('--token-file=/run/secrets/intercom/token'));
	});
	check(`${name}: the sidecar meets the restricted profile by itself`, () => {
		const s = sidecar.securityContext;
		assert.strictEqual(s.runAsNonRoot, true);
		assert.ok(s.runAsUser > 0, 'runAsUser');
		assert.strictEqual(s.allowPrivilegeEscalation, false);
		assert.deepStrictEqual(s.capabilities.drop, ['ALL']);
		assert.strictEqual(s.readOnlyRootFilesystem, true);
		assert.strictEqual(s.seccompProfile.type, 'RuntimeDefault');
		assert.ok(sidecar.resources.limits.memory && sidecar.resources.requests.cpu);
	});
	check(`${name}: its own containers, init containers, volumes and Pod security unchanged`, () => {
		assert.deepStrictEqual(pod.containers, was.containers);
		assert.deepStrictEqual(pod.initContainers.filter((c) => c !== sidecar),
			was.initContainers || []);
		assert.deepStrictEqual(pod.volumes.filter((v) => v.name !== 'intercom-token'),
			was.volumes || []);
		assert.deepStrictEqual(pod.securityContext, was.securityContext);
		assert.deepStrictEqual(after.spec.selector, before.spec.selector);
		assert.strictEqual(after.spec.replicas, before.spec.replicas);
	});
	check(`${name}: its Pods carry the label the egress policy selects`, () => {
		assert.strictEqual(after.spec.template.metadata.labels['intercom-healthd/sidecar'], 'true');
	});
}
process.exit(failed ? 1 : 0);

// Validates every object of a rendered manifest (multi-document YAML on
// stdin) against the Kubernetes OpenAPI schemas (kubernetes-models) and the
// prometheus-operator CRD schemas (@kubernetes-models/prometheus-operator).
//
// Those validators are ajv code compiled from the schemas, which accept
// fields the schema does not name: a misspelt `readinesProbe` would pass,
// and the API server would drop it with a warning at most. So every object
// is validated through a Proxy that records which keys the validator reads
// at each path; a validator reads each property its schema declares (and,
// for maps such as labels, every key), so a key it never read is unknown
// to the schema, and is reported as such.
//
// Prints one line per object; exits 1 on any error.
'use strict';
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

// The compiled schemas are not among the packages' exports: loaded by path.
const modules = path.join(__dirname, 'node_modules');

// apps -> Apps, networking.k8s.io -> Networking, "" -> Core;
// monitoring.coreos.com -> MonitoringCoreosCom (its CRD package).
function schemaFor(apiVersion, kind) {
	const slash = apiVersion.lastIndexOf('/');
	const group = slash < 0 ? '' : apiVersion.slice(0, slash);
	const version = apiVersion.slice(slash + 1);
	const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
	const ver = cap(version);
	let file;
	if (group === '' || group.endsWith('.k8s.io') || !group.includes('.')) {
		const g = group === '' ? 'Core' : cap(group.split('.')[0]);
		file = path.join(modules, 'kubernetes-models', '_schemas',
			`IoK8sApi${g}${ver}${kind}.js`);
	} else if (group === 'monitoring.coreos.com') {
		file = path.join(modules, '@kubernetes-models', 'prometheus-operator',
			'_schemas', `MonitoringCoreosCom${ver}${kind}.js`);
	} else {
		return null;
	}
	try {
		return require(file).validate;
	} catch (e) {
		return null;
	}
}

function isObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Wraps data so that reads are recorded in `seen` (path -> Set of keys).
function watch(data, where, seen) {
	if (data === null || typeof data !== 'object')
		return data;
	const cache = new Map();
	if (!seen.has(where))
		seen.set(where, new Set());
	const keys = seen.get(where);
	return new Proxy(data, {
		get(target, key, receiver) {
			if (typeof key !== 'string')
				return Reflect.get(target, key, receiver);
			keys.add(key);
			const v = Reflect.get(target, key, receiver);
			if (v === null || typeof v !== 'object')
				return v;
			if (!cache.has(key))
				cache.set(key, watch(v, `${where}/${key}`, seen));
			return cache.get(key);
		},
		has(target, key) {
			if (typeof key === 'string')
				keys.add(key);
			return Reflect.has(target, key);
		},
	});
}

function unknownKeys(data, where, seen, out) {
	if (Array.isArray(data)) {
		data.forEach((v, i) => unknownKeys(v, `${where}/${i}`, seen, out));
		return;
	}
	if (!isObject(data))
		return;
	const read = seen.get(where) || new Set();
	for (const [k, v] of Object.entries(data)) {
		if (!read.has(k))
			out.push(`${where}/${k}`);
		else
			unknownKeys(v, `${where}/${k}`, seen, out);
	}
}

const docs = YAML.parseAllDocuments(fs.readFileSync(0, 'utf8'));
let failed = 0;
let count = 0;
for (const doc of docs) {
	if (doc.errors.length) {
		console.log(`FAIL YAML: ${doc.errors[0].message}`);
		failed++;
		continue;
	}
	const obj = doc.toJSON();
	if (obj === null)
		continue;
	count++;
	const name = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
	const validate = schemaFor(String(obj.apiVersion), String(obj.kind));
	if (!validate) {
		console.log(`FAIL ${name}: no schema for ${obj.apiVersion} ${obj.kind}`);
		failed++;
		continue;
	}
	const seen = new Map();
	const problems = [];
	if (!validate(watch(obj, '', seen))) {
		for (const e of validate.errors)
			problems.push(`${e.instancePath || '/'}: ${e.message ||
				`${e.keyword} ${JSON.stringify(e.params)}`}`);
	}
	const unknown = [];
	unknownKeys(obj, '', seen, unknown);
	for (const u of unknown)
		problems.push(`${u}: unknown field`);
	if (problems.length) {
		failed++;
		console.log(`FAIL ${name}`);
		for (const p of problems)
			console.log(`  ${p}`);
	} else {
		console.log(`ok   ${name} (${obj.apiVersion})`);
	}
}
if (count === 0) {
	console.log('FAIL: no objects on stdin');
	failed++;
}
process.exit(failed ? 1 : 0);

// Turns every query of the Grafana dashboard (argv[2]) into a recording
// rule, so that promtool parses and type-checks each one (`check rules`);
// Grafana's variables are replaced by what they stand for at query time.
// With --list, prints one query a line instead (for the live Prometheus).
'use strict';
const fs = require('fs');
const dash = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const exprs = [];
(function walk(panels) {
	for (const p of panels || []) {
		walk(p.panels);
		if (p.type === 'row')
			continue;
		if (!p.targets || p.targets.length === 0)
			throw new Error(`panel ${p.id} "${p.title}" has no query`);
		for (const t of p.targets) {
			if (!t.expr)
				throw new Error(`panel ${p.id} "${p.title}" target ${t.refId} has no expr`);
			const expr = t.expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '1m')
				.replace(/\$instance/g, '.*');
			if (expr.includes('$'))
				throw new Error(`panel ${p.id}: unknown variable in ${t.expr}`);
			exprs.push({ record: `dashboard:panel_${p.id}_${t.refId}`, expr });
		}
	}
})(dash.panels);
if (process.argv[3] === '--list') {
	for (const e of exprs)
		console.log(e.expr);
} else {
	console.log('groups:\n  - name: dashboard\n    rules:');
	for (const e of exprs)
		console.log(`      - record: ${e.record}\n        expr: ${JSON.stringify(e.expr)}`);
}

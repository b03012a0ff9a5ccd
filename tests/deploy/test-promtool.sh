#!/bin/bash
# The alerting rules offline: promtool checks the rules file, runs its unit
# tests (each alert fires 10 minutes into its outage and stays silent
# through one failed probe), and checks what the contract fixes: exactly the
# five alerts, their severities, summary/description/runbook_url (whose
# anchor must exist in RUNBOOK.md), and no job/namespace matchers. Then every
# query of the Grafana dashboard is checked by promtool as a recording rule,
# and a deliberately broken query must be refused (the check can fail).
#
# Environment: HEALTHD_SOURCE_ROOT, PROMTOOL, NODE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT PROMTOOL NODE
need "$PROMTOOL" "$NODE"
trap 'rm -rf "$tmp"' EXIT
prom=$HEALTHD_SOURCE_ROOT/deploy/prometheus
rules=$prom/intercom-healthd.rules.yml
[ -d "$here/node_modules/yaml" ] ||
	{ echo "FAIL: $here/node_modules is missing: run npm ci --prefix tests/deploy"; exit 1; }

"$PROMTOOL" check rules "$rules"
(cd "$prom" && "$PROMTOOL" test rules intercom-healthd.rules.test.yml)

YAML_MODULE=$here/node_modules/yaml \
	"$NODE" - "$rules" "$HEALTHD_SOURCE_ROOT/deploy/RUNBOOK.md" <<'JS'
const fs = require('fs');
const YAML = require(process.env.YAML_MODULE);
const [rulesFile, runbookFile] = process.argv.slice(2);
const doc = YAML.parse(fs.readFileSync(rulesFile, 'utf8'));
const runbook = fs.readFileSync(runbookFile, 'utf8');
const want = { IntercomApiUnreachable: 'critical', IntercomAuthFailure: 'critical',
	IntercomRateLimited: 'warning', IntercomHighLatency: 'warning',
	IntercomWebhookFailures: 'info' };
const got = {};
let bad = 0;
const fail = (m) => { console.log(`FAIL: ${m}`); bad++; };
for (const g of doc.groups)
	for (const r of g.rules) {
		if (!r.alert) continue;
		if (got[r.alert]) fail(`${r.alert} twice`);
		got[r.alert] = r;
		if (r.labels?.severity !== want[r.alert])
			fail(`${r.alert}: severity ${r.labels?.severity}, want ${want[r.alert]}`);
		for (const a of ['summary', 'description', 'runbook_url'])
			if (!r.annotations?.[a]) fail(`${r.alert}: no annotations.${a}`);
		const anchor = (r.annotations?.runbook_url || '').split('#')[1] || '';
		const heads = [...runbook.matchAll(/^#+ (.*)$/gm)]
			.map((m) => m[1].toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-'));
		if (!heads.includes(anchor)) fail(`${r.alert}: RUNBOOK.md has no section #${anchor}`);
		if (/\b(job|namespace|pod|instance)\s*(=|!=|=~|!~)/.test(r.expr))
			fail(`${r.alert}: selects on a target label: ${r.expr}`);
	}
for (const a of Object.keys(want)) if (!got[a]) fail(`no alert ${a}`);
for (const a of Object.keys(got)) if (!(a in want)) fail(`alert ${a} is not in the contract`);
if (bad) process.exit(1);
console.log(`ok: the five alerts, severities, annotations, runbook anchors, metric-name selectors`);
JS

"$NODE" "$here/dashboard-rules.js" "$prom/grafana-dashboard.json" >"$tmp/dashboard.rules.yml"
n=$(grep -c 'record:' "$tmp/dashboard.rules.yml")
"$PROMTOOL" check rules "$tmp/dashboard.rules.yml"
echo "ok: the dashboard's $n queries parse"
for panel in 'state-timeline' 'histogram_quantile' 'intercom_rate_limit_remaining' 'intercom_probes_total'; do
	grep -q "$panel" "$prom/grafana-dashboard.json" ||
		{ echo "FAIL: the dashboard lacks $panel"; exit 1; }
done

# The check can fail: a query with a typo must be refused.
sed 's/histogram_quantile(0.95, /histogram_quantile(0.95, sum by (le) (/' \
	"$tmp/dashboard.rules.yml" >"$tmp/broken.rules.yml"
if "$PROMTOOL" check rules "$tmp/broken.rules.yml" >/dev/null 2>&1; then
	echo "FAIL: promtool accepted a broken dashboard query"
	exit 1
fi
echo "ok: a broken query is refused"

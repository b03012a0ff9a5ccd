#!/bin/bash
# The alerts on a real Prometheus: Debian's prometheus on loopback scrapes a
# daemon every second while it probes the stand-in Intercom every second,
# with a test copy of the rules whose `for:` is shortened to 2 s (the
# expressions are the shipped ones). With the stand-in healthy no alert
# fires; flipped to 401, IntercomAuthFailure must be firing in
# /api/v1/alerts before the deadline, and IntercomApiUnreachable not (a 401
# is an answer). Then every query of the Grafana dashboard runs against
# this Prometheus: each must succeed, and those about the probes (all but
# the status page and webhook, which this daemon does not watch) must
# return data.
#
# Environment: HEALTHD_SOURCE_ROOT, HEALTHD_BIN, FAKE_INTERCOM_BIN,
# TEST_CERT_DIR, PROMETHEUS, NODE, PYTHON3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT HEALTHD_BIN FAKE_INTERCOM_BIN TEST_CERT_DIR PROMETHEUS NODE PYTHON3
need "$PROMETHEUS" "$NODE" "$PYTHON3" curl
trap 'stop_all; rm -rf "$tmp"' EXIT
src=$HEALTHD_SOURCE_ROOT

start_fake fake
fake_control=$control_port
start_daemon daemon "$api_port"
daemon=$daemon_port

sed 's/^\( *for:\).*/\1 2s/' "$src/deploy/prometheus/intercom-healthd.rules.yml" >"$tmp/rules.yml"
cat >"$tmp/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - $tmp/rules.yml
scrape_configs:
  - job_name: intercom-healthd
    static_configs:
      - targets: ['127.0.0.1:$daemon']
EOF2
prom_port=$(free_port)
"$PROMETHEUS" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
	--web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
api=http://127.0.0.1:$prom_port/api/v1

# jq-less JSON checks: a python one-liner over the API's answer.
query() {
	curl -sf --max-time 5 "$api/$1" 2>/dev/null || echo '{}'
}
target_up() {
	query targets | "$PYTHON3" -c 'import json,sys; t=json.load(sys.stdin).get("data",{}).get("activeTargets",[]); sys.exit(0 if t and t[0]["health"]=="up" else 1)'
}
# alert_state NAME: firing, pending or none.
alert_state() {
	query alerts | "$PYTHON3" -c 'import json,sys
a=[x["state"] for x in json.load(sys.stdin).get("data",{}).get("alerts",[]) if x["labels"]["alertname"]==sys.argv[1]]
print(a[0] if a else "none")' "$1"
}
firing() { [ "$(alert_state "$1")" = firing ]; }
scraped_healthy() {
	query 'query?query=intercom_health_state%7Bstate%3D%22healthy%22%7D%3D%3D1' |
		"$PYTHON3" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("data",{}).get("result") else 1)'
}

wait_until 30 "Prometheus scrapes the daemon" target_up || { cat "$tmp/prometheus.log"; exit 1; }
wait_until 30 "Prometheus sees the daemon healthy" scraped_healthy
# A few evaluations with everything fine: nothing may fire.
sleep 3
for a in IntercomAuthFailure IntercomApiUnreachable IntercomRateLimited IntercomHighLatency; do
	s=$(alert_state "$a")
	[ "$s" = none ] || { echo "FAIL: $a is $s while the stand-in is healthy"; exit 1; }
done
echo "ok: scraped every second, no alert while healthy"

knob "$fake_control" 'me=error&code=401'
start=$SECONDS
wait_until 60 "IntercomAuthFailure firing after the stand-in answers 401" firing IntercomAuthFailure ||
	{ query alerts; echo; cat "$tmp/prometheus.log"; exit 1; }
echo "ok: IntercomAuthFailure firing $((SECONDS - start))s after the flip to 401"
s=$(alert_state IntercomApiUnreachable)
[ "$s" = none ] || { echo "FAIL: IntercomApiUnreachable is $s on 401s"; exit 1; }

n=0
while IFS= read -r expr; do
	n=$((n + 1))
	out=$(curl -sf --max-time 5 --get --data-urlencode "query=$expr" "$api/query") ||
		{ echo "FAIL: dashboard query refused: $expr"; exit 1; }
	case "$expr" in
	*status_page* | *webhook*) continue ;;
	esac
	if ! printf '%s' "$out" | "$PYTHON3" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'; then
		echo "FAIL: dashboard query returns nothing: $expr"
		exit 1
	fi
done < <("$NODE" "$here/dashboard-rules.js" "$src/deploy/prometheus/grafana-dashboard.json" --list)
echo "ok: the dashboard's $n queries run on Prometheus"
no_token "$tmp/daemon.log" "$tmp/prometheus.log"

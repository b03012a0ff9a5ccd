#!/bin/bash
# HAProxy, the daemon's main client: Debian's haproxy on loopback with
# `option httpchk GET /readyz` in front of two daemons, each probing its own
# stand-in Intercom. Both UP at first; stand-in A answers 401 -> HAProxy
# marks daemon A DOWN and every request through the frontend reaches B
# (stats: A's session count stands still, B's grows); A's stand-in healthy
# again -> A UP again. States come from HAProxy's stats CSV.
#
# Environment: HEALTHD_BIN, FAKE_INTERCOM_BIN, TEST_CERT_DIR, HAPROXY, PYTHON3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_BIN FAKE_INTERCOM_BIN TEST_CERT_DIR HAPROXY PYTHON3
need "$HAPROXY" "$PYTHON3" curl
trap 'stop_all; rm -rf "$tmp"' EXIT

start_fake fake_a
control_a=$control_port
start_daemon daemon_a "$api_port"
port_a=$daemon_port
start_fake fake_b
start_daemon daemon_b "$api_port"
port_b=$daemon_port

front=$(free_port)
stats=$(free_port)
# Checks every 300 ms, 2 in a row to change state: a second or two per
# transition, well inside the deadlines even under a sanitizer.
cat >"$tmp/haproxy.cfg" <<EOF2
global
	log stdout format raw local0 warning
defaults
	mode http
	timeout connect 2s
	timeout client 5s
	timeout server 5s
frontend health
	bind 127.0.0.1:$front
	default_backend daemons
backend daemons
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 300ms fall 2 rise 2
	server a 127.0.0.1:$port_a check
	server b 127.0.0.1:$port_b check
listen stats
	bind 127.0.0.1:$stats
	stats enable
	stats uri /stats
EOF2
"$HAPROXY" -c -q -f "$tmp/haproxy.cfg"
"$HAPROXY" -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
pids+=($!)

# field SERVER COLUMN: one column of the stats CSV for daemons/SERVER.
field() {
	curl -sf --max-time 5 "http://127.0.0.1:$stats/stats;csv" 2>/dev/null |
		"$PYTHON3" -c 'import csv,sys
rows=list(csv.reader(l.lstrip("# ") for l in sys.stdin))
if not rows:
    sys.exit()
head=rows[0]
for r in rows[1:]:
    if r[0]=="daemons" and r[1]==sys.argv[1]:
        print(r[head.index(sys.argv[2])])' "$1" "$2"
}
is() { [ "$(field "$1" status)" = "$2" ]; }

wait_until 30 "both daemons UP" is a UP || { cat "$tmp/haproxy.log"; exit 1; }
wait_until 30 "both daemons UP" is b UP
echo "ok: both daemons UP behind HAProxy"

knob "$control_a" 'me=error&code=401'
wait_until 30 "daemon A DOWN once its stand-in answers 401" is a DOWN ||
	{ cat "$tmp/haproxy.log"; exit 1; }
is b UP || { echo "FAIL: daemon B went $(field b status) too"; exit 1; }
echo "ok: A DOWN on 401, B UP"

a0=$(field a stot)
b0=$(field b stot)
# Every request reaches B, and B answers it: 200, or B's own "not ready"
# when a machine busy with other work timed one of its probes out. Never
# HAProxy's own 503 (no server up), and never A.
for _ in $(seq 20); do
	body=$(curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:$front/readyz" || true)
	code=${body##* }
	if [ "$code" != 200 ] && [[ "$body" != "not ready"* ]]; then
		echo "FAIL: a request through HAProxy got $code: $body"
		exit 1
	fi
done
a1=$(field a stot)
b1=$(field b stot)
[ "$a1" = "$a0" ] || { echo "FAIL: $((a1 - a0)) requests reached daemon A while DOWN"; exit 1; }
[ $((b1 - b0)) -ge 20 ] || { echo "FAIL: daemon B got $((b1 - b0)) of 20 requests"; exit 1; }
echo "ok: 20 of 20 requests answered 200 by B while A is DOWN"

knob "$control_a" 'me=ok&code=200'
wait_until 30 "daemon A UP again after recovery" is a UP || { cat "$tmp/haproxy.log"; exit 1; }
echo "ok: A UP again after its stand-in recovered"
no_token "$tmp"/daemon_*.log "$tmp/haproxy.log"

#!/bin/bash
# Under journald the daemon logs natively, with fields: a state change
# for the worse at PRIORITY=4 with INTERCOM_STATE, INTERCOM_PREVIOUS_STATE,
# INTERCOM_HTTP_STATUS and MESSAGE_ID; a new reason while still bad once;
# a recovery at PRIORITY=5. The journal is a stand-in socket on a tmpfs
# over /run in a private mount namespace (unshare -m, as root), so the
# real journal is never touched.
#
# Environment: HEALTHD_BIN, FAKE_INTERCOM_BIN, TEST_CERT_DIR, PYTHON3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = inside ]; then
	# In the namespace: our own /run, a receiver on journald's socket,
	# and the daemon with stderr on a file JOURNAL_STREAM names.
	dir=$2 api_port=$3
	mount -t tmpfs tmpfs /run
	mkdir -p /run/systemd/journal
	"$PYTHON3" "$here/journal-receiver.py" /run/systemd/journal/socket \
		"$dir/entries.jsonl" &
	receiver=$!
	for _ in $(seq 100); do
		[ -S /run/systemd/journal/socket ] && break
		sleep 0.05
	done
	[ -S /run/systemd/journal/socket ] || { echo "receiver did not bind"; exit 1; }
	: >"$dir/stderr"
	exec 2>>"$dir/stderr"
	JOURNAL_STREAM=$(stat -c %d:%i "$dir/stderr")
	export JOURNAL_STREAM
	"$HEALTHD_BIN" --listen=127.0.0.1:0 --status-url=off \
		--api-url="https://127.0.0.1:$api_port" \
		--ca-file="$TEST_CERT_DIR/ca.pem" \
		--interval=2s --timeout=1500ms &
	daemon=$!
	echo "$daemon" >"$dir/daemon.pid"
	wait "$daemon" || true
	kill "$receiver" 2>/dev/null || true
	wait "$receiver" 2>/dev/null || true
	exit 0
fi

for v in HEALTHD_BIN FAKE_INTERCOM_BIN TEST_CERT_DIR PYTHON3; do
	eval "[ -n \"\${$v:-}\" ]" || { echo "$v is not set"; exit 1; }
done
command -v unshare >/dev/null || { echo "unshare is missing"; exit 1; }
command -v curl >/dev/null || { echo "curl is missing"; exit 1; }

dir=$(mktemp -d /tmp/test-journal.XXXXXX)
fake=
inside=
# The namespace's processes (daemon, receiver) share a process group of
# their own (setsid below): killed whole, none can outlive the test and
# hold meson's output pipe open. Without set -e: under it, the first
# command here to fail (a kill of what already ended, a wait returning
# a signal's status) ended the trap and left the stand-in running, and
# meson waited for its pipe until the test timed out.
cleanup() {
	set +e
	[ -f "$dir/daemon.pid" ] && kill "$(cat "$dir/daemon.pid")" 2>/dev/null
	if [ -n "$inside" ]; then
		for _ in $(seq 50); do
			kill -0 "$inside" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$inside" 2>/dev/null
		wait "$inside" 2>/dev/null
	fi
	[ -n "$fake" ] && kill "$fake" 2>/dev/null && wait "$fake" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

token="dG9rOjEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6"
"$FAKE_INTERCOM_BIN" --cert "$TEST_CERT_DIR/server.pem" \
	--key "$TEST_CERT_DIR/server.key" --quiet >"$dir/fake.out" &
fake=$!
for _ in $(seq 100); do
	grep -q control_port "$dir/fake.out" 2>/dev/null && break
	sleep 0.05
done
api_port=$(sed -n 's/.*https_port=\([0-9]*\).*/\1/p' "$dir/fake.out")
control_port=$(sed -n 's/.*control_port=\([0-9]*\).*/\1/p' "$dir/fake.out")
if [ -z "$api_port" ] || [ -z "$control_port" ]; then
	echo "stand-in did not start"
	exit 1
fi
knob() { curl -sf "http://127.0.0.1:$control_port/set?$1" >/dev/null; }

INTERCOM_ACCESS_TOKEN=$token setsid unshare -m --propagation private \
	"$0" inside "$dir" "$api_port" </dev/null &
inside=$!

# has FIELD=VALUE... : some entry has all of them. In the shell, not a
# Python per poll: on a busy machine an interpreter's start-up each
# 100 ms ate the whole test's time. The receiver writes json.dumps()'s
# '"KEY": "VALUE"' form, and none of the values asked for needs escaping.
has() {
	[ -f "$dir/entries.jsonl" ] || return 1
	while IFS= read -r line; do
		all=1
		for kv in "$@"; do
			case $line in
			*"\"${kv%%=*}\": \"${kv#*=}\""*) ;;
			*) all=0; break ;;
			esac
		done
		[ "$all" = 1 ] && return 0
	done <"$dir/entries.jsonl"
	return 1
}
# wait_for DESCRIPTION FIELD=VALUE...: polls for 60 s, a bound that only
# a test that already failed reaches.
wait_for() {
	what=$1
	shift
	for _ in $(seq 600); do
		has "$@" && return 0
		kill -0 "$inside" 2>/dev/null ||
			{ echo "FAIL: the namespace ended before: $what"; exit 1; }
		sleep 0.1
	done
	echo "FAIL: no journal entry: $what"
	cat "$dir/entries.jsonl" 2>/dev/null
	exit 1
}

changed=6b153f21a5e948ecaca0b698ce000390
reason=32e785eaf0b84a8a92bac34eff52e07d

# Healthy on an answer: from "starting", or from a first probe that a
# machine busy with other work timed out.
wait_for "first state" MESSAGE_ID=$changed INTERCOM_STATE=healthy \
	INTERCOM_HTTP_STATUS=200 SYSLOG_IDENTIFIER=intercom-healthd
knob code=401
wait_for "healthy -> unhealthy on a 401, as a warning" MESSAGE_ID=$changed \
	INTERCOM_STATE=unhealthy INTERCOM_PREVIOUS_STATE=healthy PRIORITY=4 \
	INTERCOM_HTTP_STATUS=401
knob code=500
wait_for "a new reason while unhealthy, as a warning" MESSAGE_ID=$reason \
	INTERCOM_STATE=unhealthy PRIORITY=4 INTERCOM_HTTP_STATUS=500
knob code=200
wait_for "the recovery, as a notice" MESSAGE_ID=$changed INTERCOM_STATE=healthy \
	INTERCOM_PREVIOUS_STATE=unhealthy PRIORITY=5 INTERCOM_HTTP_STATUS=200

# Once per reason: more probes at 500 would have logged it again.
n=$(grep "\"MESSAGE_ID\": \"$reason\"" "$dir/entries.jsonl" |
	grep -c '"INTERCOM_HTTP_STATUS": "500"')
[ "$n" -eq 1 ] || { echo "FAIL: the new reason was logged $n times"; exit 1; }
# Natively, so nothing went to the stream as well.
if grep -q "state " "$dir/stderr"; then
	echo "FAIL: state changes also went to stderr:"
	cat "$dir/stderr"
	exit 1
fi
if grep -q "${token:0:6}\|${token: -6}" "$dir/entries.jsonl" "$dir/stderr"; then
	echo "FAIL: a piece of the token was logged"
	exit 1
fi
echo "ok: $(wc -l <"$dir/entries.jsonl") journal entries with the expected fields"

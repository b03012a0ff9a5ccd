# Shared by the tests/deploy scripts (sourced): the stand-in Intercom, the
# daemon, free ports and deadlines. Every process started here is ended by
# the caller's trap through stop_all.
# shellcheck shell=bash disable=SC2034 # api_port, control_port, daemon_port: for the caller

pids=()
tmp=$(mktemp -d /tmp/test-deploy.XXXXXX)
# A token shaped like Intercom's; it must never show in any output.
TEST_TOKEN="dG9rOmRlcGxveXRlc3Q6MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u"

need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null ||
			{ echo "FAIL: $tool is missing (scripts/setup installs it)"; exit 1; }
	done
}

need_env() {
	local v
	for v in "$@"; do
		[ -n "${!v:-}" ] || { echo "FAIL: $v is not set (run through meson test)"; exit 1; }
	done
}

stop_all() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}

# Sanitizer builds run 5-10x slower: deadlines scale with them.
scale=${HEALTHD_TEST_TIME_SCALE:-1}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_until() {
	local limit=$(($1 * scale)) what=$2
	shift 2
	local deadline=$((SECONDS + limit))
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "FAIL: after ${limit}s: $what"
			return 1
		fi
		sleep 0.2
	done
}

free_port() {
	"${PYTHON3:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_fake NAME: a stand-in Intercom; sets api_port and control_port.
start_fake() {
	local name=$1 out="$tmp/$1.out"
	"$FAKE_INTERCOM_BIN" --cert "$TEST_CERT_DIR/server.pem" \
		--key "$TEST_CERT_DIR/server.key" --quiet >"$out" &
	pids+=($!)
	wait_until 10 "stand-in $name announced its ports" grep -q control_port "$out"
	api_port=$(sed -n 's/.*https_port=\([0-9]*\).*/\1/p' "$out")
	control_port=$(sed -n 's/.*control_port=\([0-9]*\).*/\1/p' "$out")
}

# knob CONTROL_PORT QUERY: changes the stand-in's behaviour.
knob() {
	curl -sf "http://127.0.0.1:$1/set?$2" >/dev/null
}

# start_daemon NAME API_PORT [ARGS...]: the daemon on an ephemeral port,
# probing every 2 s with 1.5 s to answer (room for a first TLS handshake
# on a machine busy with other work); sets daemon_port from its
# "listening on" line.
start_daemon() {
	local name=$1 api=$2 log="$tmp/$1.log"
	shift 2
	INTERCOM_ACCESS_TOKEN=$TEST_TOKEN "$HEALTHD_BIN" serve \
		--listen=127.0.0.1:0 --status-url=off \
		--api-url="https://127.0.0.1:$api" --ca-file="$TEST_CERT_DIR/ca.pem" \
		--interval=2s --timeout=1500ms "$@" 2>"$log" &
	pids+=($!)
	wait_until 20 "daemon $name listening" grep -q 'listening on' "$log" ||
		{ cat "$log"; exit 1; }
	daemon_port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$log" | head -n1)
}

http_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true
}

# no_token FILE...: fails if any piece of the token shows in the files.
no_token() {
	if grep -q -e "${TEST_TOKEN:6:12}" -e "${TEST_TOKEN: -12}" "$@"; then
		echo "FAIL: a piece of the token appears in $*"
		exit 1
	fi
}

#!/bin/bash
# deploy/rollback.sh rehearsed: a stub kubectl on PATH records its
# arguments (and fails where a case says), a stand-in serves the flag
# service and the app's /health, and a curl wrapper on PATH records curl's
# argv. Cases: success, flag service down, rollout failing, health never
# recovering, dry run, usage errors, a hostile token, plain http with and
# without a token. The flag credential must reach the flag service and
# never appear in argv or output. The flag service speaks HTTPS with the
# test CA (curl trusts it through CURL_CA_BUNDLE), as a token needs.
#
# Environment: HEALTHD_SOURCE_ROOT, PYTHON3, TEST_CERT_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT PYTHON3 TEST_CERT_DIR
need "$PYTHON3" curl
trap 'stop_all; rm -rf "$tmp"' EXIT
rollback=$HEALTHD_SOURCE_ROOT/deploy/rollback.sh
flag_token="flag-credential-$RANDOM$RANDOM-do-not-print"
real_curl=$(command -v curl)

mkdir -p "$tmp/bin"
cat >"$tmp/bin/kubectl" <<'EOF2'
#!/bin/bash
printf '%s\n' "$*" >>"$KUBECTL_LOG"
case " $* " in
*" rollout status "*) [ -z "${KUBECTL_FAIL_STATUS:-}" ] || { echo "error: deployment exceeded its progress deadline" >&2; exit 1; } ;;
esac
echo "kubectl stub: ok"
EOF2
cat >"$tmp/bin/curl" <<EOF2
#!/bin/bash
printf '%s\n' "\$*" >>"\$CURL_ARGV_LOG"
exec "$real_curl" "\$@"
EOF2
chmod +x "$tmp/bin/kubectl" "$tmp/bin/curl"
export PATH="$tmp/bin:$PATH" CURL_ARGV_LOG="$tmp/curl-argv.log"
export CURL_CA_BUNDLE=$TEST_CERT_DIR/ca.pem

# standin NAME MODE [plain]: a stand-in flag service and /health, over
# HTTPS unless "plain"; sets standin_port.
standin() {
	local tls=("$TEST_CERT_DIR/server.pem" "$TEST_CERT_DIR/server.key")
	[ "${3:-}" != plain ] || tls=()
	"$PYTHON3" "$here/standin.py" "$tmp/$1.port" "$tmp/$1.requests" "$2" "${tls[@]}" &
	pids+=($!)
	wait_until 10 "stand-in $1 listening" test -s "$tmp/$1.port"
	standin_port=$(cat "$tmp/$1.port")
}

# run_case NAME ARGS...: runs rollback.sh; its output in $tmp/NAME.out,
# its status in rc.
run_case() {
	local name=$1
	shift
	export KUBECTL_LOG="$tmp/$name.kubectl"
	: >"$KUBECTL_LOG"
	rc=0
	ROLLBACK_FLAG_TOKEN=${token-$flag_token} timeout 120 "$rollback" "$@" >"$tmp/$name.out" 2>&1 || rc=$?
	if grep -q -e "$flag_token" -e "${flag_token:15:10}" "$tmp/$name.out" "$CURL_ARGV_LOG" 2>/dev/null; then
		echo "FAIL: $name: the flag credential shows in the output or curl's argv"
		exit 1
	fi
}
fail_case() {
	echo "FAIL: $1"
	echo "--- output:"
	cat "$tmp/$2.out"
	exit 1
}
requests() { grep -c "\"$2\"" "$tmp/$1.requests" 2>/dev/null || true; }

# --- success
standin ok recover-after-2
base=https://127.0.0.1:$standin_port
run_case success --namespace prod --deployment app --flag-url "$base/flag" \
	--health-url "$base/health" --timeout 20
[ "$rc" -eq 0 ] || fail_case "success: exit $rc" success
"$PYTHON3" - "$tmp/ok.requests" "$flag_token" <<'PY' || fail_case "success: the flag PATCH is wrong" success
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
patch = [r for r in reqs if r["method"] == "PATCH"]
assert len(patch) == 1, patch
assert json.loads(patch[0]["body"]) == {"value": False}, "body"
assert patch[0]["authorization"] == "Bearer " + sys.argv[2], "no bearer credential"
assert patch[0]["content_type"] == "application/json", "content type"
assert sum(r["method"] == "GET" for r in reqs) == 3, "health polls"
PY
printf 'prod rollout undo deployment/app\nprod rollout status deployment/app --timeout=20s\n' >"$tmp/want"
sed 's/^--namespace //' "$tmp/success.kubectl" | diff "$tmp/want" - ||
	fail_case "success: kubectl was not called as expected" success
grep -q 'Developer Hub' "$tmp/success.out" || fail_case "success: no manual webhook step" success
# Every line of its own carries a timestamp (kubectl's output passes through).
grep -v '^kubectl stub' "$tmp/success.out" |
	grep -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z rollback.sh: ' &&
	fail_case "success: a line without a timestamp" success
echo "ok: success: flag PATCHed with the credential, undo, status, health after 3 polls, manual step"

# --- the flag service is down: nothing else runs
closed=$(free_port)
run_case flagdown --namespace prod --deployment app --flag-url "https://127.0.0.1:$closed/flag" \
	--health-url "$base/health" --timeout 5
[ "$rc" -ne 0 ] || fail_case "flag service down: exit 0" flagdown
grep -q 'FAILED at step flag-off' "$tmp/flagdown.out" || fail_case "flag service down: step not named" flagdown
[ ! -s "$tmp/flagdown.kubectl" ] || fail_case "flag service down: kubectl ran anyway" flagdown
echo "ok: flag service down: exit $rc at flag-off, kubectl never ran"

# --- the rollout fails: health is not polled
standin roll recover-after-0
KUBECTL_FAIL_STATUS=1 run_case rollout --namespace prod --deployment app \
	--flag-url "https://127.0.0.1:$standin_port/flag" \
	--health-url "https://127.0.0.1:$standin_port/health" --timeout 5
[ "$rc" -ne 0 ] || fail_case "rollout failing: exit 0" rollout
grep -q 'FAILED at step rollout-status' "$tmp/rollout.out" || fail_case "rollout failing: step not named" rollout
[ "$(requests roll GET)" -eq 0 ] || fail_case "rollout failing: health polled" rollout
[ "$(requests roll PATCH)" -eq 1 ] || fail_case "rollout failing: the flag was not turned off first" rollout
echo "ok: rollout failing: exit $rc at rollout-status, health never polled"

# --- health never recovers: bounded by --timeout
standin never never
start=$SECONDS
run_case health --namespace prod --deployment app --flag-url "https://127.0.0.1:$standin_port/flag" \
	--health-url "https://127.0.0.1:$standin_port/health" --timeout 3
took=$((SECONDS - start))
[ "$rc" -ne 0 ] || fail_case "health never recovering: exit 0" health
grep -q 'FAILED at step health' "$tmp/health.out" || fail_case "health never recovering: step not named" health
grep -q 'last answer: 503' "$tmp/health.out" || fail_case "health never recovering: no last answer" health
[ "$took" -le 15 ] || fail_case "health never recovering: took ${took}s for --timeout 3" health
[ "$(requests never GET)" -ge 2 ] || fail_case "health never recovering: polled once" health
echo "ok: health never recovering: exit $rc at health after ${took}s"

# --- dry run: every command printed, none run
standin dry recover-after-0
: >"$CURL_ARGV_LOG"
run_case dry --namespace prod --deployment app --flag-url "https://127.0.0.1:$standin_port/flag" \
	--health-url "https://127.0.0.1:$standin_port/health" --timeout 7 --dry-run
[ "$rc" -eq 0 ] || fail_case "dry run: exit $rc" dry
[ ! -s "$tmp/dry.kubectl" ] || fail_case "dry run: kubectl ran" dry
[ ! -s "$tmp/dry.requests" ] || fail_case "dry run: the stand-in got requests" dry
[ ! -s "$CURL_ARGV_LOG" ] || fail_case "dry run: curl ran" dry
for want in 'would run: curl .*--request PATCH .*flag' \
	'would run: kubectl --namespace prod rollout undo deployment/app' \
	'would run: kubectl --namespace prod rollout status deployment/app --timeout=7s' \
	'would poll .*health' 'Developer Hub'; do
	grep -q -- "$want" "$tmp/dry.out" || fail_case "dry run: no line matching '$want'" dry
done
echo "ok: dry run: every step printed, nothing run"

# --- usage errors exit 2
for args in "--deployment app" "--namespace prod" "--namespace prod --deployment app --timeout soon" \
	"--namespace prod --deployment app --flag-url ftp://x" "--namespace prod --deployment app --bogus"; do
	# shellcheck disable=SC2086 # args is a list of words
	run_case usage $args
	[ "$rc" -eq 2 ] || fail_case "usage: '$args' exit $rc, want 2" usage
done
echo "ok: usage errors exit 2"

# --- a hostile token: a quote and a newline must not become curl
# configuration (once, a second url = line made curl PATCH that URL too,
# with the token). Such a token cannot be a header value: refused, nothing
# sent anywhere.
standin victim recover-after-0
victim=$standin_port
standin thief recover-after-0
token="x\"
url = \"https://127.0.0.1:$standin_port/stolen" run_case hostile \
	--namespace prod --deployment app --flag-url "https://127.0.0.1:$victim/flag" --timeout 5
[ ! -s "$tmp/thief.requests" ] || fail_case "hostile token: a second URL got a request" hostile
[ "$rc" -eq 2 ] || fail_case "hostile token: exit $rc, want 2 (refused)" hostile
[ ! -s "$tmp/victim.requests" ] || fail_case "hostile token: the flag service got a request" hostile
grep -q 'ROLLBACK_FLAG_TOKEN' "$tmp/hostile.out" || fail_case "hostile token: the refusal names no variable" hostile
echo "ok: a token holding a newline is refused; no URL of its making is called"

# A quote alone is a legal header byte: it reaches the service verbatim.
standin quote recover-after-0
token='quoted"token"value' run_case quote --namespace prod --deployment app \
	--flag-url "https://127.0.0.1:$standin_port/flag" --timeout 5
[ "$rc" -eq 0 ] || fail_case "quoted token: exit $rc" quote
"$PYTHON3" - "$tmp/quote.requests" <<'PY' || fail_case "quoted token: not sent verbatim" quote
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["authorization"] for r in reqs] == ['Bearer quoted"token"value'], reqs
PY
echo "ok: a token holding quotes reaches the flag service verbatim"

# --- plain http: refused with a token (it would go in clear text), the
# same URL allowed without one.
standin plain recover-after-0 plain
run_case cleartext --namespace prod --deployment app \
	--flag-url "http://127.0.0.1:$standin_port/flag" --timeout 5
[ "$rc" -eq 2 ] || fail_case "http with a token: exit $rc, want 2" cleartext
[ ! -s "$tmp/plain.requests" ] || fail_case "http with a token: the flag service got a request" cleartext
token='' run_case notoken --namespace prod --deployment app \
	--flag-url "http://127.0.0.1:$standin_port/flag" --timeout 5
[ "$rc" -eq 0 ] || fail_case "http without a token: exit $rc" notoken
"$PYTHON3" - "$tmp/plain.requests" <<'PY' || fail_case "http without a token: no PATCH without credential" notoken
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert [(r["method"], r["authorization"]) for r in reqs] == [("PATCH", None)], reqs
PY
echo "ok: http:// refused with a flag token, allowed without one"

#!/bin/bash
# deploy/rollback.sh rehearsed: a stub kubectl on PATH records its
# arguments (and fails where a case says), a stand-in serves the flag
# service and the app's /health, and a curl wrapper on PATH records curl's
# argv. Cases: success, flag service down, rollout failing, health never
# recovering, dry run, usage errors. The flag credential must reach the
# flag service and never appear in argv or output.
#
# Environment: HEALTHD_SOURCE_ROOT, PYTHON3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT PYTHON3
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

# standin NAME MODE: a stand-in flag service and /health; sets standin_port.
standin() {
	"$PYTHON3" "$here/standin.py" "$tmp/$1.port" "$tmp/$1.requests" "$2" &
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
	ROLLBACK_FLAG_TOKEN=$flag_token timeout 120 "$rollback" "$@" >"$tmp/$name.out" 2>&1 || rc=$?
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
base=http://127.0.0.1:$standin_port
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
run_case flagdown --namespace prod --deployment app --flag-url "http://127.0.0.1:$closed/flag" \
	--health-url "$base/health" --timeout 5
[ "$rc" -ne 0 ] || fail_case "flag service down: exit 0" flagdown
grep -q 'FAILED at step flag-off' "$tmp/flagdown.out" || fail_case "flag service down: step not named" flagdown
[ ! -s "$tmp/flagdown.kubectl" ] || fail_case "flag service down: kubectl ran anyway" flagdown
echo "ok: flag service down: exit $rc at flag-off, kubectl never ran"

# --- the rollout fails: health is not polled
standin roll recover-after-0
KUBECTL_FAIL_STATUS=1 run_case rollout --namespace prod --deployment app \
	--flag-url "http://127.0.0.1:$standin_port/flag" \
	--health-url "http://127.0.0.1:$standin_port/health" --timeout 5
[ "$rc" -ne 0 ] || fail_case "rollout failing: exit 0" rollout
grep -q 'FAILED at step rollout-status' "$tmp/rollout.out" || fail_case "rollout failing: step not named" rollout
[ "$(requests roll GET)" -eq 0 ] || fail_case "rollout failing: health polled" rollout
[ "$(requests roll PATCH)" -eq 1 ] || fail_case "rollout failing: the flag was not turned off first" rollout
echo "ok: rollout failing: exit $rc at rollout-status, health never polled"

# --- health never recovers: bounded by --timeout
standin never never
start=$SECONDS
run_case health --namespace prod --deployment app --flag-url "http://127.0.0.1:$standin_port/flag" \
	--health-url "http://127.0.0.1:$standin_port/health" --timeout 3
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
run_case dry --namespace prod --deployment app --flag-url "http://127.0.0.1:$standin_port/flag" \
	--health-url "http://127.0.0.1:$standin_port/health" --timeout 7 --dry-run
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

#!/bin/bash
# Rolls the Intercom integration back, as deploy/RUNBOOK.md's "Rollback"
# describes, in one rehearsable command:
#
#   1. flag-off        PATCH {"value": false} to the feature flag (--flag-url)
#   2. rollout-undo    kubectl rollout undo deployment/NAME
#   3. rollout-status  kubectl rollout status, bounded by --timeout
#   4. health          poll --health-url until it answers 200, up to --timeout
#   5. manual          print the step no API can do: disable the app's
#                      webhooks in Intercom's Developer Hub
#
# usage: rollback.sh --namespace NS --deployment NAME [--flag-url URL]
#                    [--health-url URL] [--timeout SECONDS] [--dry-run]
#
# The flag service's credential comes from the environment
# (ROLLBACK_FLAG_TOKEN, sent as a bearer token), never from argv, where every
# user of the machine can read it; curl reads the header from stdin. With a
# token, --flag-url must be https:// (the token would cross the network in
# clear text); without one, http:// is allowed. --dry-run prints
# every command it would run and runs none. Every step is logged with a UTC
# timestamp; the first that fails stops the run, named, with exit status 1
# (2 for a usage error).
set -euo pipefail

prog=rollback.sh
namespace=
deployment=
flag_url=
health_url=
timeout=300
dry_run=false

log() {
	printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$prog" "$*"
}

usage() {
	printf '%s\n' "usage: $prog --namespace NS --deployment NAME [--flag-url URL]" \
		"                   [--health-url URL] [--timeout SECONDS] [--dry-run]" >&2
	exit 2
}

die_usage() {
	printf '%s: %s\n' "$prog" "$*" >&2
	usage
}

# fail STEP WHAT: the step that failed, named, and nothing after it runs.
fail() {
	log "FAILED at step $1: $2" >&2
	log "stopped: the steps after $1 did not run" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	arg=$1
	case "$arg" in
	--*=*)
		name=${arg%%=*}
		value=${arg#*=}
		shift
		;;
	--dry-run | -h | --help)
		name=$arg
		value=
		shift
		;;
	--*)
		name=$arg
		[ $# -ge 2 ] || die_usage "$name needs a value"
		value=$2
		shift 2
		;;
	*)
		die_usage "unexpected argument: $arg"
		;;
	esac
	case "$name" in
	--namespace) namespace=$value ;;
	--deployment) deployment=$value ;;
	--flag-url) flag_url=$value ;;
	--health-url) health_url=$value ;;
	--timeout) timeout=$value ;;
	--dry-run) dry_run=true ;;
	-h | --help) usage ;;
	*) die_usage "unknown option: $name" ;;
	esac
done

[ -n "$namespace" ] || die_usage "--namespace is required"
[ -n "$deployment" ] || die_usage "--deployment is required"
case "$timeout" in
'' | *[!0-9]*) die_usage "--timeout: '$timeout' is not a whole number of seconds" ;;
esac
[ "$timeout" -gt 0 ] || die_usage "--timeout must be at least 1"
for url in "$flag_url" "$health_url"; do
	case "$url" in
	'' | http://* | https://*) ;;
	*) die_usage "not an http(s) URL: $url" ;;
	esac
done

# The token goes out as a header line: a CR, LF or other control byte
# would end the header and start another (or, in a curl config line,
# another option). No bearer token holds one, so such a value is refused,
# named by its variable, never shown.
if [ -n "${ROLLBACK_FLAG_TOKEN:-}" ]; then
	case "$ROLLBACK_FLAG_TOKEN" in
	*[[:cntrl:]]*)
		die_usage "ROLLBACK_FLAG_TOKEN holds a control character (a newline?): not a usable token" ;;
	esac
	case "$flag_url" in
	http://*)
		die_usage "--flag-url $flag_url: plain http would send ROLLBACK_FLAG_TOKEN in clear text; use https://" ;;
	esac
fi

# show WORDS...: a command as a shell would read it back.
show() {
	local out='' w
	for w in "$@"; do
		out+=" $(printf '%q' "$w")"
	done
	printf '%s' "${out# }"
}

# run STEP COMMAND...: logs the command, runs it unless --dry-run.
run() {
	local step=$1
	shift
	if $dry_run; then
		log "[$step] would run: $(show "$@")"
		return 0
	fi
	log "[$step] running: $(show "$@")"
	"$@" || fail "$step" "$(show "$@") exited with status $?"
}

# Step 1. The credential reaches curl as a header line on stdin
# (--header @-): neither argv nor the log ever holds it, and curl takes the
# line as a header, never as configuration.
flag_off() {
	if [ -z "$flag_url" ]; then
		log "[flag-off] skipped: no --flag-url (turn the flag off by hand)"
		return 0
	fi
	local cmd=(curl --silent --show-error --fail --max-time 10
		--request PATCH --header 'Content-Type: application/json'
		--data '{"value": false}' "$flag_url")
	local auth="no credential"
	if [ -n "${ROLLBACK_FLAG_TOKEN:-}" ]; then
		auth="bearer credential from ROLLBACK_FLAG_TOKEN"
		cmd+=(--header @-)
	fi
	if $dry_run; then
		log "[flag-off] would run: $(show "${cmd[@]}") ($auth on stdin)"
		return 0
	fi
	log "[flag-off] running: $(show "${cmd[@]}") ($auth on stdin)"
	local rc=0
	if [ -n "${ROLLBACK_FLAG_TOKEN:-}" ]; then
		printf 'Authorization: Bearer %s\n' "$ROLLBACK_FLAG_TOKEN" |
			"${cmd[@]}" >/dev/null || rc=$?
	else
		"${cmd[@]}" </dev/null >/dev/null || rc=$?
	fi
	[ "$rc" -eq 0 ] || fail flag-off "PATCH $flag_url failed (curl status $rc)"
	log "[flag-off] done: the feature flag is off"
}

# Step 4. Polls once a second; each request is bounded so that one hanging
# answer cannot outlast the deadline by much.
wait_healthy() {
	if [ -z "$health_url" ]; then
		log "[health] skipped: no --health-url"
		return 0
	fi
	local cmd=(curl --silent --output /dev/null --write-out '%{http_code}'
		--max-time 5 "$health_url")
	if $dry_run; then
		log "[health] would poll every 1s for up to ${timeout}s until 200: $(show "${cmd[@]}")"
		return 0
	fi
	log "[health] polling $health_url for up to ${timeout}s until it answers 200"
	local deadline=$((SECONDS + timeout)) code=
	while :; do
		code=$("${cmd[@]}" 2>/dev/null) || code=${code:-000}
		if [ "$code" = 200 ]; then
			log "[health] done: $health_url answered 200"
			return 0
		fi
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 1
	done
	fail health "$health_url did not answer 200 within ${timeout}s (last answer: $code)"
}

$dry_run && log "dry run: printing every command, running none"
log "rolling back deployment/$deployment in namespace $namespace (timeout ${timeout}s)"
flag_off
run rollout-undo kubectl --namespace "$namespace" rollout undo "deployment/$deployment"
run rollout-status kubectl --namespace "$namespace" rollout status \
	"deployment/$deployment" "--timeout=${timeout}s"
wait_healthy
log "[manual] left to do by hand: in Intercom's Developer Hub, open the app," \
	"Webhooks, and turn off the topics the rolled-back release subscribed to" \
	"(or pause the webhook) until a fixed release is out"
if $dry_run; then
	log "dry run finished: nothing was run"
else
	log "rollback finished"
fi

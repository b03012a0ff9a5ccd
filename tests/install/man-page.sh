#!/bin/sh
# The man page against itself and against the program:
#   - groff and man render it without a single warning;
#   - it has the sections an operator looks for;
#   - every flag `--help` lists and every metric src/render.c emits is
#     documented in it;
#   - its `check` example has the perfdata thresholds `check` prints;
#   - `--help` prints no printf escape (a doubled %).
# Every tool it needs is required: a missing one fails the test.
#
# Environment (set by tests/install/meson.build): HEALTHD_SOURCE_ROOT,
# HEALTHD_BIN, GROFF, MAN.
set -eu

fail() {
	echo "FAIL: $*" >&2
	status=1
}
status=0

for var in HEALTHD_SOURCE_ROOT HEALTHD_BIN GROFF MAN; do
	eval "value=\${$var:-}"
	[ -n "$value" ] || { echo "FAIL: $var is not set (run through meson test)" >&2; exit 1; }
done
for tool in "$HEALTHD_BIN" "$GROFF" "$MAN"; do
	[ -x "$tool" ] || { echo "FAIL: $tool: not found or not executable" >&2; exit 1; }
done

page=$HEALTHD_SOURCE_ROOT/doc/intercom-healthd.8
render=$HEALTHD_SOURCE_ROOT/src/render.c
[ -f "$page" ] || { echo "FAIL: $page: missing" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/healthd-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# All of groff's warnings (-ww), for a terminal as man formats it and for
# groff's default device; man itself at 80 columns, with its preprocessors.
"$GROFF" -man -ww -z -t "$page" 2>"$tmp/groff.log" || fail "groff exited $?"
"$GROFF" -man -ww -z -t -Tutf8 "$page" 2>>"$tmp/groff.log" || fail "groff -Tutf8 exited $?"
if [ -s "$tmp/groff.log" ]; then
	cat "$tmp/groff.log" >&2
	fail "groff -man -ww warns about the man page"
fi
LC_ALL=C.UTF-8 MANWIDTH=80 "$MAN" --warnings=w -l "$page" >"$tmp/page.txt" 2>"$tmp/man.log" ||
	fail "man -l exited $?"
if [ -s "$tmp/man.log" ]; then
	cat "$tmp/man.log" >&2
	fail "man --warnings warns about the man page"
fi
[ -s "$tmp/page.txt" ] || fail "man -l rendered nothing"

# The source with troff's escaped hyphens plain, for the searches below.
sed -e 's/\\-/-/g' -e 's/\\(en/-/g' "$page" >"$tmp/page.src"

for section in NAME SYNOPSIS DESCRIPTION COMMANDS ENVIRONMENT FILES "EXIT STATUS" "SEE ALSO"; do
	grep -q "^\.SH \"\{0,1\}$section\"\{0,1\}\$" "$tmp/page.src" ||
		fail "no $section section"
done
grep -q '^\.B intercom-healthd preflight' "$tmp/page.src" ||
	fail "SYNOPSIS: no preflight line"

"$HEALTHD_BIN" --help >"$tmp/help" 2>&1 || fail "--help exited $?"
if grep -n -F '%%' "$tmp/help" >&2; then
	fail "--help prints a doubled %"
fi
flags=$(grep -o -- '--[a-z][a-z-]*' "$tmp/help" | sort -u)
[ -n "$flags" ] || fail "--help lists no flags"
for flag in $flags; do
	grep -q -E -- "$flag([^a-z-]|\$)" "$tmp/page.src" ||
		fail "--help lists $flag, the man page does not"
done

metrics=$(grep -o '"intercom_[a-z_]*' "$render" | tr -d '"' | sort -u)
[ -n "$metrics" ] || fail "no metric names found in $render"
for metric in $metrics; do
	grep -q -E "(^|[^a-z_])$metric([^a-z_]|\$)" "$tmp/page.src" ||
		fail "render.c emits $metric, the man page does not list it"
done

# `check` with the default thresholds, against a port that refuses at once:
# its perfdata `time=...s;WARN;CRIT;0` must be the man page example's.
# A loopback port nothing listens on: the kernel's pick, released at once
# (a fixed port could be anyone's).
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
set +e
INTERCOM_ACCESS_TOKEN=man-page-test-token "$HEALTHD_BIN" check \
	--api-url="https://127.0.0.1:$closed_port" --status-url=off >"$tmp/check" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || { cat "$tmp/check" >&2; fail "check exited $rc, expected 2"; }
real=$(sed -n 's/.*| time=[0-9.]*s\(;[^ ]*\).*/\1/p' "$tmp/check")
documented=$(sed -n 's/.*| time=[0-9.]*s\(;[^ ]*\).*/\1/p' "$tmp/page.src" | sort -u)
[ -n "$real" ] || fail "no perfdata in check's output: $(cat "$tmp/check")"
[ "$documented" = "$real" ] ||
	fail "the man page's check example has perfdata thresholds '$documented', check prints '$real'"

[ "$status" -eq 0 ] && echo "man page: renders cleanly; $(echo "$flags" | wc -l) flags, $(echo "$metrics" | wc -l) metrics documented"
exit "$status"

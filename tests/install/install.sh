#!/bin/sh
# An install as a package build makes it: a fresh build with --prefix=/usr,
# `meson install --destdir`, then what a host would run of it:
#   - the units sit where systemd looks for them, with no @var@ left over;
#   - ExecStart= names the installed binary and config, and both exist;
#   - the installed binary runs and accepts the installed config;
#   - `systemd-analyze verify` passes on the installed units (on copies
#     whose two paths are mapped into the DESTDIR, so the binary and the
#     man page it names are the installed ones);
#   - `systemd-analyze security --offline=true` finds the unit by name in
#     the DESTDIR and scores its exposure at most EXPOSURE_MAX.
# Every tool it needs is required: a missing one fails the test.
#
# Environment (set by tests/install/meson.build): HEALTHD_SOURCE_ROOT,
# MESON, SYSTEMD_ANALYZE, MAN, SYSTEMD_UNITDIR.
set -eu

# Exposure times ten, as --threshold= takes it. 11 is what the unit
# scores on systemd 252 (Debian 12); the rest of the score is what an API
# client on any address cannot give up (see the unit's comments). Raise it
# only with a reason in the unit.
EXPOSURE_MAX=${EXPOSURE_MAX:-11}
exposure_max=$((EXPOSURE_MAX / 10)).$((EXPOSURE_MAX % 10))

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

for var in HEALTHD_SOURCE_ROOT MESON SYSTEMD_ANALYZE MAN SYSTEMD_UNITDIR; do
	eval "value=\${$var:-}"
	[ -n "$value" ] || fail "$var is not set (run through meson test)"
done
for tool in "$MESON" "$SYSTEMD_ANALYZE" "$MAN"; do
	[ -x "$tool" ] || fail "$tool: not found or not executable"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/healthd-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
build=$tmp/build
dest=$tmp/dest

# -Dtests=disabled keeps the build to the daemon; -Doptimization=0 keeps it
# quick; -Dsystemd=enabled makes a missing libsystemd an error, not a build
# without units.
if ! "$MESON" setup --prefix=/usr -Dtests=disabled -Dsystemd=enabled \
	-Doptimization=0 "$build" "$HEALTHD_SOURCE_ROOT" >"$tmp/setup.log" 2>&1; then
	cat "$tmp/setup.log" >&2
	fail "meson setup --prefix=/usr"
fi
if ! "$MESON" install -C "$build" --destdir "$dest" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	fail "meson install --destdir"
fi
echo "installed into $dest:"
(cd "$dest" && find . -type f | sort)

# With --prefix=/usr, the units go where systemd.pc's systemdsystemunitdir
# says, unmoved: /lib/systemd/system on Debian 12 (where its debhelper
# looks for units to enable), /usr/lib/systemd/system on later systems.
unitdir=$SYSTEMD_UNITDIR
service=$dest$unitdir/intercom-healthd.service
socket=$dest$unitdir/intercom-healthd.socket
for f in "$service" "$socket"; do
	[ -f "$f" ] || fail "not installed: ${f#"$dest"}"
	if grep -n '@[A-Za-z_]*@' "$f" >&2; then
		fail "${f#"$dest"}: a template variable was left unreplaced"
	fi
done

# ExecStart=BINARY serve --config=FILE: both as installed.
execstart=$(sed -n 's/^ExecStart=//p' "$service")
[ -n "$execstart" ] || fail "no ExecStart= in ${service#"$dest"}"
echo "ExecStart=$execstart"
# shellcheck disable=SC2086 # split the command line into words
set -- $execstart
binary=$1
config=
for arg; do
	case $arg in
	--config=*) config=${arg#--config=} ;;
	esac
done
[ "$binary" = /usr/bin/intercom-healthd ] ||
	fail "ExecStart runs $binary, the install put the binary in /usr/bin/intercom-healthd"
[ -x "$dest$binary" ] || fail "ExecStart's $binary is not in the DESTDIR"
[ "$config" = /etc/intercom-healthd.conf ] ||
	fail "ExecStart reads config '$config', the install put it in /etc/intercom-healthd.conf"
[ -f "$dest$config" ] || fail "ExecStart's $config is not in the DESTDIR"
cmp -s "$dest$config" "$HEALTHD_SOURCE_ROOT/config/intercom-healthd.conf" ||
	fail "$config differs from config/intercom-healthd.conf"
man_page=$dest/usr/share/man/man8/intercom-healthd.8
[ -f "$man_page" ] || [ -f "$man_page.gz" ] ||
	fail "the man page the units name is not installed"

# The installed binary with the installed config. `check` exits 3 on a
# settings error and 2 when it cannot reach the API: port 1 on loopback
# refuses at once, so 2 means the config was read and accepted.
"$dest$binary" --version >"$tmp/version" 2>&1 || {
	cat "$tmp/version" >&2
	fail "$binary --version"
}
# A loopback port nothing listens on: the kernel's pick, released at once
# (a fixed port could be anyone's).
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
set +e
INTERCOM_ACCESS_TOKEN=install-test-token \
	"$dest$binary" check --config="$dest$config" \
	--api-url="https://127.0.0.1:$closed_port" --status-url=off --timeout=2s \
	>"$tmp/check" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || {
	cat "$tmp/check" >&2
	fail "check with the installed config exited $rc, expected 2 (API unreachable)"
}

# verify, on copies whose binary and config paths point into the DESTDIR:
# the real ones are absolute host paths that this machine need not have.
# MANPATH makes the Documentation=man:intercom-healthd(8) check find the
# installed page.
mkdir "$tmp/verify"
for f in "$service" "$socket"; do
	sed -e "s|^ExecStart=$binary |ExecStart=$dest$binary |" \
	    -e "s|--config=$config|--config=$dest$config|" \
	    "$f" >"$tmp/verify/${f##*/}"
done
grep -q "^ExecStart=$dest$binary serve --config=$dest$config" \
	"$tmp/verify/intercom-healthd.service" || fail "mapping ExecStart into the DESTDIR"
if ! MANPATH=$dest/usr/share/man "$SYSTEMD_ANALYZE" verify \
	"$tmp/verify/intercom-healthd.service" "$tmp/verify/intercom-healthd.socket" \
	>"$tmp/verify.log" 2>&1 || [ -s "$tmp/verify.log" ]; then
	cat "$tmp/verify.log" >&2
	fail "systemd-analyze verify"
fi
echo "systemd-analyze verify: clean"

# security, on the installed unit itself, loaded by name from the DESTDIR's
# unit path: that also proves systemd would find it where it was installed.
set +e
"$SYSTEMD_ANALYZE" security --offline=true --root="$dest" \
	--threshold="$EXPOSURE_MAX" intercom-healthd.service >"$tmp/security.log" 2>&1
rc=$?
set -e
exposure=$(sed -n 's/.*Overall exposure level for intercom-healthd\.service: \([0-9.]*\).*/\1/p' \
	"$tmp/security.log")
if [ "$rc" -ne 0 ] || [ -z "$exposure" ]; then
	grep -v '✓' "$tmp/security.log" >&2
	fail "systemd-analyze security: exposure ${exposure:-unknown} (at most $exposure_max allowed)"
fi
echo "systemd-analyze security: exposure $exposure (at most $exposure_max)"

#!/bin/bash
# deploy/build-rootfs.sh with a package whose path holds shell syntax (a
# quote, a semicolon, a command): the path must reach the root as a path,
# never run as a command. A stand-in mmdebstrap on PATH runs the extract
# hooks as mmdebstrap does (sh -c HOOK exec ROOT) on an empty root and
# packs it, so this needs no mirror; the package is a minimal one made
# here around the built binary. test-image.sh builds the real thing.
#
# Environment: HEALTHD_SOURCE_ROOT, HEALTHD_BIN, PYTHON3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT HEALTHD_BIN PYTHON3
need tar dpkg-deb "$PYTHON3"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/bin" "$tmp/root"
cat >"$tmp/bin/mmdebstrap" <<'EOF2'
#!/bin/bash
# Runs every --extract-hook=HOOK as mmdebstrap does, then tars the root.
set -euo pipefail
hooks=() pos=()
printf '%s\n' "$@" >"$STUB_ARGS"
for a; do
	case "$a" in
	--extract-hook=*) hooks+=("${a#--extract-hook=}") ;;
	--*) ;;
	*) pos+=("$a") ;;
	esac
done
cat >/dev/null
for h in "${hooks[@]}"; do
	sh -c "$h" exec "$STUB_ROOT"
done
tar -cf "${pos[1]}" -C "$STUB_ROOT" .
EOF2
chmod +x "$tmp/bin/mmdebstrap"

# A directory name that, pasted between single quotes, ends the quote
# and runs touch.
evil="$tmp/x'; touch '$tmp/pwned'; echo '"
mkdir -p "$evil" "$tmp/pkg/DEBIAN" "$tmp/pkg/usr/share/doc/intercom-healthd"
install -D -m 0755 "$HEALTHD_BIN" "$tmp/pkg/usr/bin/intercom-healthd"
printf 'License: MIT\n' >"$tmp/pkg/usr/share/doc/intercom-healthd/copyright"
printf '%s\n' 'Package: intercom-healthd' 'Version: 0.0.1' 'Architecture: all' \
	'Maintainer: test <test@example.org>' 'Depends: libc6, procps' 'Description: test' \
	>"$tmp/pkg/DEBIAN/control"
dpkg-deb --root-owner-group -b "$tmp/pkg" "$evil/intercom-healthd.deb" >/dev/null

rc=0
PATH="$tmp/bin:$PATH" STUB_ROOT="$tmp/root" STUB_ARGS="$tmp/args" IMAGE_SOURCE=https://source.example/x \
	"$HEALTHD_SOURCE_ROOT/deploy/build-rootfs.sh" "$evil/intercom-healthd.deb" "$tmp/image.tar" \
	>"$tmp/out" 2>&1 || rc=$?
if [ -e "$tmp/pwned" ]; then
	echo "FAIL: the binary's path ran as a command"
	exit 1
fi
[ "$rc" -eq 0 ] || { echo "FAIL: build-rootfs.sh exited $rc:"; cat "$tmp/out"; exit 1; }
cmp -s "$HEALTHD_BIN" "$tmp/root/usr/bin/intercom-healthd" ||
	{ echo "FAIL: the binary did not reach the root"; exit 1; }
grep -q -- '--include=base-files,libc6,$' "$tmp/args" ||
	{ echo "FAIL: the package's Depends (less procps) are not what mmdebstrap got:"; cat "$tmp/args"; exit 1; }
echo "ok: a package path holding quotes and a command is unpacked, never run; its Depends go to mmdebstrap"

#!/bin/bash
# deploy/build-rootfs.sh with a binary whose path holds shell syntax (a
# quote, a semicolon, a command): the path must reach the root as a path,
# never run as a command. A stand-in mmdebstrap on PATH runs the extract
# hooks as mmdebstrap does (sh -c HOOK exec ROOT) on an empty root and
# packs it, so this needs no mirror; test-image.sh builds the real thing.
#
# Environment: HEALTHD_SOURCE_ROOT, HEALTHD_BIN, PYTHON3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT HEALTHD_BIN PYTHON3
need tar "$PYTHON3"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/bin" "$tmp/root"
cat >"$tmp/bin/mmdebstrap" <<'EOF2'
#!/bin/bash
# Runs every --extract-hook=HOOK as mmdebstrap does, then tars the root.
set -euo pipefail
hooks=() pos=()
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
mkdir -p "$evil"
cp "$HEALTHD_BIN" "$evil/intercom-healthd"

rc=0
PATH="$tmp/bin:$PATH" STUB_ROOT="$tmp/root" \
	"$HEALTHD_SOURCE_ROOT/deploy/build-rootfs.sh" "$evil/intercom-healthd" "$tmp/image.tar" \
	>"$tmp/out" 2>&1 || rc=$?
if [ -e "$tmp/pwned" ]; then
	echo "FAIL: the binary's path ran as a command"
	exit 1
fi
[ "$rc" -eq 0 ] || { echo "FAIL: build-rootfs.sh exited $rc:"; cat "$tmp/out"; exit 1; }
cmp -s "$HEALTHD_BIN" "$tmp/root/usr/bin/intercom-healthd" ||
	{ echo "FAIL: the binary did not reach the root"; exit 1; }
echo "ok: a binary path holding quotes and a command is copied, never run"

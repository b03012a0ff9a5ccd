#!/bin/bash
# The Debian package, built and used as a Debian 12 host would: a copy of
# the source tree (without build directories) is built with
# `dpkg-buildpackage -us -uc -b`; lintian must report no error and no
# warning; then a fresh bookworm chroot (mmdebstrap, minbase plus systemd,
# Debian's mirror) installs the .deb with apt, and a customize hook checks
# from outside the chroot:
#   - `intercom-healthd --version` prints the version meson.build declares;
#   - the config is a conffile;
#   - both units sit in /lib/systemd/system and `systemd-analyze verify`
#     has nothing to say about them;
#   - the postinst enabled both (deb-systemd-helper's state and the
#     symlinks);
#   - `apt-get purge` leaves the file system as it was before the install
#     (with the package's dependencies already installed then).
# A few minutes: the build, lintian, and ~100 packages from the mirror.
#
# Environment: HEALTHD_SOURCE_ROOT. MMDEBSTRAP_MIRRORS as build-rootfs.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT
need dpkg-buildpackage dh lintian mmdebstrap tar
trap 'rm -rf "$tmp"' EXIT
src=$HEALTHD_SOURCE_ROOT
version=$(sed -n "s/^[[:space:]]*version: '\([^']*\)',.*/\1/p" "$src/meson.build" | head -n1)
[ -n "$version" ] || { echo "FAIL: no version in meson.build"; exit 1; }

# --- Build. A copy, so that the build's files stay out of the tree (and
# the .deb lands in $tmp, dpkg-buildpackage's parent directory).
mkdir "$tmp/src"
tar -C "$src" --exclude='./build*' --exclude=./tests/deploy/node_modules \
	--exclude=./.git -cf - . | tar -C "$tmp/src" -xf -
start=$SECONDS
(cd "$tmp/src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 ||
	{ echo "FAIL: dpkg-buildpackage:"; tail -n 40 "$tmp/build.log"; exit 1; }
deb=$tmp/intercom-healthd_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || { echo "FAIL: no $deb (version mismatch?):"; ls "$tmp"; exit 1; }
echo "ok: dpkg-buildpackage built $(basename "$deb") in $((SECONDS - start))s"

# --- lintian: errors and warnings fail; info and pedantic tags are shown.
if ! lintian --fail-on error,warning --display-level '>=pedantic' \
	"$tmp"/intercom-healthd_*.changes >"$tmp/lintian.out" 2>&1; then
	echo "FAIL: lintian:"
	cat "$tmp/lintian.out"
	exit 1
fi
grep -E '^[EW]: ' "$tmp/lintian.out" && { echo "FAIL: lintian errors or warnings"; exit 1; }
echo "ok: lintian: no error, no warning ($(grep -cE '^[IPX]: ' "$tmp/lintian.out" || true) info/pedantic tags)"

# --- Install, check, purge in a fresh chroot. The checks run as a
# customize hook, when mmdebstrap has /proc and the apt lists in place.
cat >"$tmp/check.sh" <<'EOF2'
#!/bin/bash
# check.sh ROOT DEB VERSION: runs on the host; ROOT is the fresh chroot.
set -euo pipefail
root=$1 deb=$2 version=$3
inroot() { chroot "$root" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
# Everything but what changes with any apt run or at run time.
snapshot() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev \
		-o -path ./tmp -o -path ./run -o -path ./var/lib/dpkg -o -path ./var/lib/apt \
		-o -path ./var/cache -o -path ./var/log \) -prune -o -print) | sort
}
# The package's dependencies first, so that the snapshot holds them: apt
# keeps some of them after a purge whatever the package does (minbase's apt
# recommends ca-certificates, which autoremove therefore never removes), and
# what is compared is what the package itself leaves behind.
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$')
# shellcheck disable=SC2086 # a list of package names
DEBIAN_FRONTEND=noninteractive inroot apt-get install -y -q --no-install-recommends $deps \
	>"$root/../deps.log" 2>&1 || { tail -n 30 "$root/../deps.log"; fail "apt-get install of the Depends"; }
snapshot >"$root/../before.txt"
cp "$deb" "$root/tmp/"
DEBIAN_FRONTEND=noninteractive inroot apt-get install -y -q --no-install-recommends \
	"/tmp/$(basename "$deb")" >"$root/../install.log" 2>&1 ||
	{ tail -n 30 "$root/../install.log"; fail "apt-get install"; }

got=$(inroot intercom-healthd --version)
case "$got" in *" $version"*) ;; *) fail "--version printed '$got', want $version" ;; esac
echo "ok: installed; intercom-healthd --version: $got"

conffiles=$(inroot dpkg-query -W -f='${Conffiles}' intercom-healthd)
case "$conffiles" in *"/etc/intercom-healthd.conf "*) ;; *) fail "the config is no conffile: $conffiles" ;; esac
echo "ok: /etc/intercom-healthd.conf is a conffile"

for u in intercom-healthd.service intercom-healthd.socket; do
	[ -f "$root/lib/systemd/system/$u" ] || fail "$u is not in /lib/systemd/system"
done
# --man=no: the chroot has no man(1); the page itself is checked below.
out=$(inroot systemd-analyze verify --man=no intercom-healthd.service intercom-healthd.socket 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify says: $out"
[ -f "$root/usr/share/man/man8/intercom-healthd.8.gz" ] || fail "no man page"
echo "ok: systemd-analyze verify: both units clean"

# deb-systemd-helper answers only as if from a maintainer script.
for u in intercom-healthd.service intercom-healthd.socket; do
	DPKG_MAINTSCRIPT_PACKAGE=intercom-healthd inroot deb-systemd-helper debian-installed "$u" ||
		fail "$u: not in deb-systemd-helper's state"
	DPKG_MAINTSCRIPT_PACKAGE=intercom-healthd inroot deb-systemd-helper was-enabled "$u" ||
		fail "$u: not enabled"
done
[ -L "$root/etc/systemd/system/multi-user.target.wants/intercom-healthd.service" ] ||
	fail "no multi-user.target.wants link"
[ -L "$root/etc/systemd/system/sockets.target.wants/intercom-healthd.socket" ] ||
	fail "no sockets.target.wants link"
echo "ok: the postinst enabled both units (deb-systemd-helper state and links)"

DEBIAN_FRONTEND=noninteractive inroot apt-get purge -y -q intercom-healthd \
	>"$root/../purge.log" 2>&1 || { tail -n 30 "$root/../purge.log"; fail "apt-get purge"; }
rm -f "$root/tmp/$(basename "$deb")"
snapshot >"$root/../after.txt"
if ! diff "$root/../before.txt" "$root/../after.txt"; then
	fail "purge left the file system different (< before, > after)"
fi
echo "ok: purge left the file system as before the install (its dependencies aside)"
EOF2
chmod +x "$tmp/check.sh"
mirrors=${MMDEBSTRAP_MIRRORS:-"deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main"}
mkdir "$tmp/chroot-parent"
start=$SECONDS
# The hook's "$1" is the chroot, expanded by mmdebstrap's shell; the
# other arguments reach it through the environment.
# shellcheck disable=SC2016
if ! printf '%s\n' "$mirrors" | CHECK_DEB=$deb CHECK_VERSION=$version CHECK_SCRIPT=$tmp/check.sh \
	timeout 900 mmdebstrap --quiet --variant=minbase --mode=root --include=systemd \
	--customize-hook='"$CHECK_SCRIPT" "$1" "$CHECK_DEB" "$CHECK_VERSION"' \
	bookworm "$tmp/chroot-parent/root" - >"$tmp/chroot.log" 2>&1; then
	grep -E '^(ok|FAIL)' "$tmp/chroot.log" || true
	tail -n 30 "$tmp/chroot.log"
	exit 1
fi
grep -E '^ok' "$tmp/chroot.log"
echo "ok: fresh bookworm chroot: install, checks and purge in $((SECONDS - start))s"

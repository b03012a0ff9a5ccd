#!/bin/bash
# The container image, built without an engine from the Debian package:
# the .deb is built (dpkg-buildpackage on a copy of the tree), then
# deploy/build-rootfs.sh makes the OCI archive from it and the packages it
# depends on (mmdebstrap, Debian's mirror), then this test reads it back as a runtime would (index -> manifest ->
# config -> layer), unpacks the layer, mounts it read-only in a private
# mount namespace, and runs the config's Entrypoint as the config's User in
# a chroot: the daemon must start, answer /livez and /health (probing the
# stand-in over TLS), and run as that non-root user; the OCI labels must
# say the version, the license and the source. Also checks that the
# Containerfile builds and installs the same .deb, labels the image, runs
# as a numeric non-root USER and has no HEALTHCHECK. About 2 minutes: the
# package build and the download.
#
# Environment: HEALTHD_SOURCE_ROOT, FAKE_INTERCOM_BIN,
# TEST_CERT_DIR, PYTHON3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
need_env HEALTHD_SOURCE_ROOT FAKE_INTERCOM_BIN TEST_CERT_DIR PYTHON3
need dpkg-buildpackage mmdebstrap unshare chroot mount curl tar readelf ss "$PYTHON3"
src=$HEALTHD_SOURCE_ROOT

inside=
# Without set -e: a wait returning a signal's status would end the trap
# before stop_all, and a stand-in left running holds meson's pipe open.
cleanup() {
	set +e
	[ -n "$inside" ] && kill "$inside" 2>/dev/null && wait "$inside" 2>/dev/null
	stop_all
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- The Containerfile builds from the package too.
cf=$src/deploy/Containerfile
grep -q '^FROM .*debian:bookworm' "$cf" || { echo "FAIL: Containerfile: no Debian bookworm base"; exit 1; }
[ "$(grep -c '^FROM ' "$cf")" -ge 2 ] || { echo "FAIL: Containerfile is not multi-stage"; exit 1; }
grep -q 'dpkg-buildpackage -us -uc -b' "$cf" || { echo "FAIL: Containerfile does not build the .deb"; exit 1; }
# The runtime stage: apt-get install of the .deb, nothing else by name.
cf_pkgs=$(awk '/^FROM/ {stage++} stage == 2 && /install -y/ {on = 1; next}
	on && /^ *&&/ {on = 0} on' "$cf" | sed 's/[\]//g' | tr -s ' \t' '\n' | sed '/^$/d')
[ "$cf_pkgs" = /tmp/pkg/intercom-healthd.deb ] ||
	{ echo "FAIL: the runtime stage installs '$cf_pkgs', not the .deb alone"; exit 1; }
for l in version licenses source; do
	grep -q "org.opencontainers.image.$l=" "$cf" || { echo "FAIL: Containerfile: no $l label"; exit 1; }
done
user=$(sed -n 's/^USER \([0-9]*\).*/\1/p' "$cf" | tail -n1)
if [ -z "$user" ] || [ "$user" -eq 0 ]; then
	echo "FAIL: Containerfile: no numeric non-root USER"
	exit 1
fi
if grep -qi '^HEALTHCHECK' "$cf"; then echo "FAIL: Containerfile has a HEALTHCHECK"; exit 1; fi
echo "ok: Containerfile: multi-stage bookworm, builds and installs the .deb, labels, USER $user, no HEALTHCHECK"

# --- Build the package, then the archive from it.
version=$(sed -n "s/^[[:space:]]*version: '\([^']*\)',.*/\1/p" "$src/meson.build" | head -n1)
mkdir "$tmp/pkg" "$tmp/pkg/src"
tar -C "$src" --exclude='./build*' --exclude=./tests/deploy/node_modules \
	--exclude=./.git -cf - . | tar -C "$tmp/pkg/src" -xf -
start=$SECONDS
(cd "$tmp/pkg/src" && dpkg-buildpackage -us -uc -b) >"$tmp/pkg.log" 2>&1 ||
	{ echo "FAIL: dpkg-buildpackage:"; tail -n 30 "$tmp/pkg.log"; exit 1; }
deb=$tmp/pkg/intercom-healthd_${version}_$(dpkg --print-architecture).deb
echo "ok: $(basename "$deb") built in $((SECONDS - start))s"
start=$SECONDS
IMAGE_SOURCE=https://source.example/intercom-healthd \
	timeout 900 "$src/deploy/build-rootfs.sh" "$deb" "$tmp/image.tar" test/intercom-healthd:test \
	>"$tmp/build.out" 2>"$tmp/build.err" ||
	{ echo "FAIL: build-rootfs.sh failed:"; tail -n 30 "$tmp/build.err"; exit 1; }
echo "ok: OCI archive built in $((SECONDS - start))s: $(cat "$tmp/build.out")"

# --- Read it back as a runtime does.
mkdir "$tmp/oci" "$tmp/root"
tar -xf "$tmp/image.tar" -C "$tmp/oci"
"$PYTHON3" - "$tmp/oci" "$tmp/root" "$version" >"$tmp/config.env" <<'PY'
import hashlib, json, os, sys, tarfile
oci, root, version = sys.argv[1:]
def blob(d):
    data = open(os.path.join(oci, "blobs", *d["digest"].split(":")), "rb").read()
    assert len(data) == d["size"], "size mismatch " + d["digest"]
    assert "sha256:" + hashlib.sha256(data).hexdigest() == d["digest"], "digest mismatch"
    return data
assert json.load(open(os.path.join(oci, "oci-layout")))["imageLayoutVersion"] == "1.0.0"
index = json.load(open(os.path.join(oci, "index.json")))
m = index["manifests"][0]
assert m["annotations"]["org.opencontainers.image.ref.name"] == "test/intercom-healthd:test"
manifest = json.loads(blob(m))
config = json.loads(blob(manifest["config"]))
assert config["os"] == "linux"
layers = manifest["layers"]
assert len(layers) == 1 and layers[0]["mediaType"].endswith("tar+gzip")
path = os.path.join(oci, "blobs", *layers[0]["digest"].split(":"))
blob(layers[0])
with tarfile.open(path, "r:gz") as t:
    t.extractall(root)
c = config["config"]
labels = c["Labels"]
assert labels["org.opencontainers.image.version"] == version, labels
assert labels["org.opencontainers.image.licenses"] == "MIT", labels
assert labels["org.opencontainers.image.source"] == "https://source.example/intercom-healthd", labels
print(c["User"])
print(" ".join(c["Entrypoint"]))
print(layers[0]["size"])
PY
{ read -r image_user; read -r image_entrypoint; read -r layer_bytes; } <"$tmp/config.env"
case "$image_user" in
'' | 0 | 0:* | root | root:*) echo "FAIL: the image runs as root ($image_user)"; exit 1 ;;
esac
uid=${image_user%%:*}
root_size=$(du -sk "$tmp/root" | cut -f1)
echo "ok: image config: User $image_user, Entrypoint $image_entrypoint; layer $layer_bytes bytes gzipped, root $((root_size / 1024)) MiB unpacked"

certs=$(grep -c 'BEGIN CERTIFICATE' "$tmp/root/etc/ssl/certs/ca-certificates.crt" || true)
[ "$certs" -gt 100 ] || { echo "FAIL: the CA bundle holds $certs certificates"; exit 1; }

# Every library the packaged binary needs is in the image.
while read -r lib; do
	if [ -z "$(find "$tmp/root/usr/lib" "$tmp/root/lib" -name "$lib" -print -quit 2>/dev/null)" ]; then
		echo "FAIL: the image lacks $lib, which the daemon needs"
		exit 1
	fi
done < <(readelf -d "$tmp/root/usr/bin/intercom-healthd" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
cmp -s "$tmp/root/usr/bin/intercom-healthd" "$tmp/pkg/src/debian/intercom-healthd/usr/bin/intercom-healthd" ||
	{ echo "FAIL: the image's binary is not the package's"; exit 1; }
echo "ok: labels: version $version, licenses MIT, source; the package's binary and every library it links"

# The stand-in's CA, where the daemon inside can read it.
install -D -m 0644 "$TEST_CERT_DIR/ca.pem" "$tmp/root/etc/intercom-healthd-test/ca.pem"

start_fake fake
# The root read-only (as with readOnlyRootFilesystem), /proc as a runtime
# mounts it, in a private mount namespace; the daemon as the image's user.
# shellcheck disable=SC2016,SC2086 # $1.. are the inner shell's; the Entrypoint is one word
INTERCOM_ACCESS_TOKEN=$TEST_TOKEN unshare --mount --propagation private -- /bin/sh -c '
	root=$1 userspec=$2
	shift 2
	mount --bind "$root" "$root" &&
	mount -o remount,bind,ro "$root" &&
	mount -t proc proc "$root/proc" &&
	exec chroot --userspec="$userspec" "$root" "$@"
' sh "$tmp/root" "$image_user" $image_entrypoint serve --listen=127.0.0.1:0 --status-url=off \
	--api-url="https://127.0.0.1:$api_port" \
	--ca-file=/etc/intercom-healthd-test/ca.pem --interval=1s --timeout=900ms \
	2>"$tmp/daemon.log" &
inside=$!
wait_until 30 "the daemon in the image is listening" grep -q 'listening on' "$tmp/daemon.log" ||
	{ cat "$tmp/daemon.log"; exit 1; }
port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$tmp/daemon.log" | head -n1)
livez() { [ "$(http_code "http://127.0.0.1:$port/livez")" = 200 ]; }
healthy() { [ "$(http_code "http://127.0.0.1:$port/health")" = 200 ]; }
wait_until 20 "/livez answers 200" livez
wait_until 20 "/health answers 200 (probing the stand-in over TLS from inside the image)" healthy ||
	{ curl -s "http://127.0.0.1:$port/health"; cat "$tmp/daemon.log"; exit 1; }

pid=$(ss -ltnpH "sport = :$port" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1)
[ -n "$pid" ] || { echo "FAIL: no process listens on $port"; exit 1; }
read -r _ ruid euid _ < <(grep '^Uid:' "/proc/$pid/status")
if [ "$ruid" != "$uid" ] || [ "$euid" != "$uid" ]; then
	echo "FAIL: the daemon runs as uid $ruid/$euid, not the image's $uid"
	exit 1
fi
# Compared as files, not paths: inside a chroot the kernel names the root
# from the machine's own root.
if [ "$(stat -L -c %d:%i "/proc/$pid/root")" != "$(stat -L -c %d:%i "$tmp/root")" ]; then
	echo "FAIL: the daemon's root is $(readlink "/proc/$pid/root"), not the image"
	exit 1
fi
no_token "$tmp/daemon.log"
echo "ok: the daemon in the image runs as uid $uid on a read-only root, /livez and /health answer 200"

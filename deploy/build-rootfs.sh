#!/bin/bash
# Builds the intercom-healthd container image from its Debian package,
# without a container engine or registry: mmdebstrap extracts the bookworm
# packages the .deb depends on into a root, the .deb's files and a non-root
# user go in, and the root is packed as a one-layer OCI image archive,
# loadable with `podman load -i`, `skopeo copy oci-archive:OUT docker://...`
# or `ctr image import`.
#
# usage: deploy/build-rootfs.sh PACKAGE.deb OUT.tar [TAG]
#
# PACKAGE.deb is built by `dpkg-buildpackage -us -uc -b` (debian/); TAG
# defaults to intercom-healthd:VERSION, the package's version. The image's
# OCI labels come from the package too (version; licenses from its
# copyright file), but for org.opencontainers.image.source: IMAGE_SOURCE,
# or else the source tree's git remote "origin". MMDEBSTRAP_MIRRORS may
# replace the Debian mirrors (one sources.list line each, newline
# separated). Needs root (or a user namespace) and Debian's mirror; takes
# about a minute, most of it downloading ~35 packages.
#
# Unlike debian:bookworm-slim, the root holds no shell, dpkg or apt: only
# the daemon, the libraries it links (and theirs), CA certificates and
# /etc files for the user. Nothing in it writes to the root filesystem, so
# it runs with readOnlyRootFilesystem.
set -euo pipefail

# The daemon's user: numeric, so that Kubernetes' runAsNonRoot can verify it
# without reading /etc/passwd.
UID_GID=10001
# Dependencies of the package that the image leaves out: procps only gives
# the systemd unit's ExecReload= its kill (and would bring perl along).
NOT_IN_IMAGE=procps

usage="usage: build-rootfs.sh PACKAGE.deb OUT.tar [TAG]"
deb=${1:?$usage}
out=${2:?$usage}
for tool in mmdebstrap python3 dpkg-deb; do
	command -v "$tool" >/dev/null ||
		{ echo "build-rootfs.sh: $tool is missing" >&2; exit 2; }
done
if [ ! -f "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
	echo "build-rootfs.sh: $deb is not a Debian package" >&2
	exit 2
fi
# Absolute: the hooks run wherever mmdebstrap runs them.
deb=$(readlink -f -- "$deb")
version=$(dpkg-deb -f "$deb" Version)
tag=${3:-intercom-healthd:$version}
license=$(dpkg-deb --fsys-tarfile "$deb" |
	tar -xOf - ./usr/share/doc/intercom-healthd/copyright |
	sed -n 's/^License: *//p' | head -n1)
[ -n "$license" ] || { echo "build-rootfs.sh: no License: in the package's copyright file" >&2; exit 2; }
source_url=${IMAGE_SOURCE:-$(git -C "$(dirname "$0")" remote get-url origin 2>/dev/null || true)}
[ -n "$source_url" ] ||
	{ echo "build-rootfs.sh: set IMAGE_SOURCE to where this source tree is published (no git remote origin)" >&2; exit 2; }
# The package's Depends, by name: the first of any alternatives, versions
# and architecture qualifiers dropped (the mirror's versions satisfy them).
packages=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:.*//; s/[[:space:]]//g' |
	grep -vxF -e '' -e "$NOT_IN_IMAGE" | tr '\n' ',')

mirrors=${MMDEBSTRAP_MIRRORS:-"deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main"}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# extract: the packages and their dependencies are unpacked, no maintainer
# script runs, and nothing Essential (shell, coreutils, dpkg) comes along
# unless something depends on it. The extract hooks (the last stage this
# variant has: customize hooks never run in it) do what the scripts would
# have done that the daemon needs. Times are clamped for a reproducible layer.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}
# The hooks' "$1" (the root being built) is expanded by mmdebstrap's shell.
# The package's path reaches them through the environment, never pasted
# into a hook's text, where a quote in the path would be shell syntax.
export BUILD_ROOTFS_DEB=$deb
# shellcheck disable=SC2016
printf '%s\n' "$mirrors" |
	mmdebstrap --quiet --variant=extract --mode=root \
		--include="base-files,$packages" \
		--extract-hook='dpkg-deb -x "$BUILD_ROOTFS_DEB" "$1" && rm -rf "$1/lib/systemd"' \
		--extract-hook='rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/info "$1"/usr/share/locale "$1"/usr/share/lintian "$1"/var/cache/* "$1"/var/log/*' \
		--extract-hook='mkdir -p "$1/etc/ssl/certs" && for f in "$1"/usr/share/ca-certificates/*/*.crt; do cat "$f"; echo; done >"$1/etc/ssl/certs/ca-certificates.crt"' \
		--extract-hook="printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nintercom-healthd:x:$UID_GID:$UID_GID:intercom-healthd:/nonexistent:/usr/sbin/nologin\n' >\"\$1/etc/passwd\"" \
		--extract-hook="printf 'root:x:0:\nintercom-healthd:x:$UID_GID:\n' >\"\$1/etc/group\"" \
		--extract-hook='printf "passwd: files\ngroup: files\nhosts: files dns\n" >"$1/etc/nsswitch.conf"; printf "127.0.0.1 localhost\n::1 localhost\n" >"$1/etc/hosts"' \
		--extract-hook='mkdir -p "$1/tmp" "$1/run" && chmod 1777 "$1/tmp"' \
		bookworm "$work/layer.tar" - >&2

arch=$(dpkg --print-architecture)
python3 - "$work" "$out" "$tag" "$UID_GID" "$arch" "$version" "$license" "$source_url" <<'PY'
# An OCI image layout (oci-layout, index.json, blobs/sha256/...) packed
# as one tar: the format `podman load` and `skopeo` read as oci-archive.
import gzip, hashlib, io, json, os, sys, tarfile, time
work, out, tag, uid, arch, version, license, source = sys.argv[1:]
epoch = int(os.environ["SOURCE_DATE_EPOCH"])
goarch = {"amd64": "amd64", "arm64": "arm64", "armhf": "arm",
          "i386": "386", "ppc64el": "ppc64le", "s390x": "s390x"}[arch]
blobs = {}

def blob(data, media):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media, "digest": digest, "size": len(data)}

raw = open(os.path.join(work, "layer.tar"), "rb").read()
gz = io.BytesIO()
with gzip.GzipFile(fileobj=gz, mode="wb", mtime=epoch) as g:
    g.write(raw)
layer = blob(gz.getvalue(), "application/vnd.oci.image.layer.v1.tar+gzip")
created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
config = {
    "created": created,
    "architecture": goarch,
    "os": "linux",
    "config": {
        "User": f"{uid}:{uid}",
        "Entrypoint": ["/usr/bin/intercom-healthd"],
        "Cmd": ["serve", "--listen=0.0.0.0:9180"],
        "Env": ["PATH=/usr/bin:/bin"],
        "ExposedPorts": {"9180/tcp": {}},
        "WorkingDir": "/",
        "Labels": {"org.opencontainers.image.title": "intercom-healthd",
                   "org.opencontainers.image.version": version,
                   "org.opencontainers.image.licenses": license,
                   "org.opencontainers.image.source": source},
    },
    "rootfs": {"type": "layers",
               "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
    "history": [{"created": created, "created_by": "deploy/build-rootfs.sh"}],
}
cfg = blob(json.dumps(config, sort_keys=True).encode(),
           "application/vnd.oci.image.config.v1+json")
manifest = blob(json.dumps({"schemaVersion": 2,
                            "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": cfg, "layers": [layer]}, sort_keys=True).encode(),
                "application/vnd.oci.image.manifest.v1+json")
manifest["annotations"] = {"org.opencontainers.image.ref.name": tag}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [manifest]}

def add(t, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), epoch, 0o644
    t.addfile(info, io.BytesIO(data))

with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    add(t, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    add(t, "index.json", json.dumps(index, sort_keys=True).encode())
    for digest in sorted(blobs):
        add(t, "blobs/sha256/" + digest.split(":", 1)[1], blobs[digest])
print(f"{out}: {tag}, layer {len(gz.getvalue())} bytes compressed, "
      f"{len(raw)} bytes as tar")
PY

#!/bin/sh
# The version has one source, meson.build's project(version:); everything
# that states it again must agree: the binary (from the generated
# config.h), debian/changelog's latest entry, the Containerfile's label
# default, and a section of CHANGELOG.md.
#
# Environment (set by tests/install/meson.build): HEALTHD_SOURCE_ROOT,
# HEALTHD_BIN, HEALTHD_VERSION (meson.project_version()).
set -eu

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
for var in HEALTHD_SOURCE_ROOT HEALTHD_BIN HEALTHD_VERSION; do
	eval "value=\${$var:-}"
	[ -n "$value" ] || fail "$var is not set (run through meson test)"
done
src=$HEALTHD_SOURCE_ROOT
v=$HEALTHD_VERSION

bin=$("$HEALTHD_BIN" --version)
[ "${bin##* }" = "$v" ] || fail "intercom-healthd --version says '$bin', meson.build $v"

# A native package: the Debian version is the upstream one, nothing added.
deb=$(sed -n '1s/^intercom-healthd (\([^)]*\)).*/\1/p' "$src/debian/changelog")
[ "$deb" = "$v" ] || fail "debian/changelog's latest entry is '$deb', meson.build $v"

# LABEL cannot read a file: the Containerfile's default is checked here,
# and the build checks it against the package's version.
grep -q "^ARG VERSION=$v\$" "$src/deploy/Containerfile" ||
	fail "deploy/Containerfile's ARG VERSION is not $v"

grep -q "^## \[$v\] - [0-9]\{4\}-[0-9][0-9]-[0-9][0-9]\$" "$src/CHANGELOG.md" ||
	fail "CHANGELOG.md has no section '## [$v] - DATE'"
grep -q '^## \[Unreleased\]$' "$src/CHANGELOG.md" ||
	fail "CHANGELOG.md has no '## [Unreleased]' section"

echo "ok: version $v in meson.build, the binary, debian/changelog, deploy/Containerfile and CHANGELOG.md"

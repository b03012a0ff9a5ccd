#!/bin/bash
# Runs shellcheck over every shell script of deploy/ and tests/deploy/: clean,
# warnings and style notes included.
#
# Environment: HEALTHD_SOURCE_ROOT, SHELLCHECK.
set -euo pipefail
: "${HEALTHD_SOURCE_ROOT:?run through meson test}" "${SHELLCHECK:?run through meson test}"
command -v "$SHELLCHECK" >/dev/null || { echo "FAIL: shellcheck is missing"; exit 1; }
cd "$HEALTHD_SOURCE_ROOT"
mapfile -t scripts < <(find deploy tests/deploy -name node_modules -prune -o -name '*.sh' -print | sort)
[ "${#scripts[@]}" -ge 8 ] || { echo "FAIL: only ${#scripts[@]} scripts found"; exit 1; }
"$SHELLCHECK" --external-sources --severity=style "${scripts[@]}"
echo "ok: shellcheck clean: ${scripts[*]}"

#!/bin/sh
# Runs a libFuzzer target for the `fuzz` test suite (see README.md).
#
#   run-fuzzer.sh fuzz TARGET SCRATCH SEEDS [LIBFUZZER-OPTION...]
#       A bounded fuzzing run. New inputs go to SCRATCH/corpus, emptied
#       first; SEEDS (the corpus in the tree) is only read, so a test run
#       never grows it. Crash files land in SCRATCH/artifacts.
#       FUZZ_MAX_TOTAL_TIME, when set, overrides -max_total_time.
#
#   run-fuzzer.sh replay TARGET DIR...
#       Runs every file in the DIRs once, each on its own (libFuzzer
#       executes file arguments instead of fuzzing, but stops at the first
#       crash), and fails when any of them crashes.
#
# libFuzzer exits with 77 on a crash, which meson reads as "skipped": it
# becomes a plain failure here.
set -eu

mode=$1
target=$2
shift 2

case $mode in
fuzz)
	scratch=$1
	seeds=$2
	shift 2
	rm -rf "$scratch"
	mkdir -p "$scratch/corpus" "$scratch/artifacts"
	if [ -n "${FUZZ_MAX_TOTAL_TIME:-}" ]; then
		set -- "$@" "-max_total_time=$FUZZ_MAX_TOTAL_TIME"
	fi
	rc=0
	"$target" -artifact_prefix="$scratch/artifacts/" "$@" \
		"$scratch/corpus" "$seeds" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "run-fuzzer.sh: $target failed ($rc); the input is in $scratch/artifacts" >&2
		exit 1
	fi
	;;
replay)
	total=0
	failed=0
	for dir do
		# Dotfiles (.gitkeep) are not inputs, and the glob skips them.
		for f in "$dir"/*; do
			if [ ! -f "$f" ]; then
				continue
			fi
			total=$((total + 1))
			if ! "$target" "$f"; then
				echo "run-fuzzer.sh: FAILED: $f" >&2
				failed=$((failed + 1))
			fi
		done
	done
	echo "run-fuzzer.sh: $total inputs replayed, $failed failed"
	if [ "$failed" -ne 0 ]; then
		exit 1
	fi
	;;
*)
	echo "usage: run-fuzzer.sh fuzz|replay TARGET ..." >&2
	exit 2
	;;
esac

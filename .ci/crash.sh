#!/usr/bin/env bash
# Crash safety of checkpoint saves, from the repo root: `.ci/crash.sh [BUILD_DIR]`
# (default ".", a configured build tree). Builds tests/crash_save (a check_PROGRAMS
# program that is not in TESTS) and runs it: 300 SIGKILLs at PCG32-drawn moments during
# a loop of ~1 MB saves, the file checked after each, bounded to 50 s. Then the control:
# the same kills against an in-place writer must produce a torn file that the checker
# catches, which shows the check can fail.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-.}
make -C "$build" tests/crash_save > /dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/safe" "$work/direct"
timeout 90 "$build/tests/crash_save" "$work/safe" 300 50
timeout 60 "$build/tests/crash_save" --direct "$work/direct" 300 20

#!/usr/bin/env bash
# libFuzzer on the checkpoint loader (fuzz/fuzz_checkpoint.c), from the repo root:
#   .ci/fuzz_checkpoint.sh [SECONDS]   build under _ci/fuzz/ and fuzz (default 60 s)
#   .ci/fuzz_checkpoint.sh --corpus    rewrite the seed corpus fuzz/corpus/checkpoint/
# The library's .c files (src/, rules/) are compiled directly with clang, instrumented
# for coverage (fuzzer-no-link) and with ASan + UBSan, into a static archive the harness
# and the corpus writer link. Fails on any crash, leak, out-of-memory (-rss_limit_mb),
# allocation above -malloc_limit_mb, or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."

out=_ci/fuzz
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-std=c11 -O1 -g -D_POSIX_C_SOURCE=200809L -pthread $san"
rm -rf "$out/obj" && mkdir -p "$out/obj" "$out/corpus"
incs="-Iinclude $(find src -type d | sort | sed 's/^/-I/')"
for f in $(find src rules -name '*.c' | sort); do
    clang $cflags -fsanitize=fuzzer-no-link -fvisibility=hidden $incs -c "$f" \
        -o "$out/obj/$(echo "${f%.c}" | tr / _).o"
done
lib="$out/libtapegrad_fuzz.a"
rm -f "$lib" && ar rcs "$lib" "$out"/obj/*.o
cflags="$cflags -Iinclude -Ifuzz"

if [ "${1:-}" = --corpus ]; then
    clang $cflags -fsanitize=fuzzer-no-link fuzz/make_corpus.c fuzz/fixture.c "$lib" \
        -lz -lm -pthread -o "$out/make_corpus"
    rm -f fuzz/corpus/checkpoint/*
    "$out/make_corpus" fuzz/corpus/checkpoint
    ls -l fuzz/corpus/checkpoint
    exit 0
fi

secs=${1:-60}
clang $cflags -fsanitize=fuzzer fuzz/fuzz_checkpoint.c fuzz/fixture.c "$lib" \
    -lz -lm -pthread -o "$out/fuzz_checkpoint"
# New inputs go to the scratch corpus (first directory); the committed seeds are read only.
status=0
"$out/fuzz_checkpoint" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=64 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$out/" \
    "$out/corpus" fuzz/corpus/checkpoint > "$out/fuzz.log" 2>&1 || status=$?
tail -n 25 "$out/fuzz.log"
if [ "$status" -ne 0 ] || grep -qE "ERROR: |runtime error|SUMMARY: " "$out/fuzz.log"; then
    echo "fuzz_checkpoint: FAILED (exit $status); artifacts in $out/"
    exit 1
fi
echo "fuzz_checkpoint: no crash, leak or sanitizer report in ${secs} s"

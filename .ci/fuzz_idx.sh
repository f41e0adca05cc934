#!/usr/bin/env bash
# libFuzzer over the IDX loader (fuzz/fuzz_idx.c): builds the loader's sources and the
# harness with clang's fuzzer, AddressSanitizer and UBSan out of tree in _ci/fuzz_idx/,
# then fuzzes for a bounded time starting from the seed corpus fuzz/corpus/idx/. Any
# crash, leak, UB report, timeout or memory blow-up fails (libFuzzer exits non-zero and
# leaves the input as _ci/fuzz_idx/crash-*, etc.). FUZZ_SECONDS overrides the 60 s.
# Needs clang, libclang-rt-14-dev (the fuzzer runtime) and zlib1g-dev.
set -euo pipefail
cd "$(dirname "$0")/.."

out=_ci/fuzz_idx
seconds=${FUZZ_SECONDS:-60}
rm -rf "$out" && mkdir -p "$out/corpus"

clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fno-omit-frame-pointer -D_POSIX_C_SOURCE=200809L \
    -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror \
    -Iinclude -Isrc/core -Isrc/data \
    fuzz/fuzz_idx.c src/data/idx.c src/core/alloc.c src/core/error.c \
    -lz -o "$out/fuzz_idx"

# New inputs go to $out/corpus; the seed corpus in the tree is only read.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
"$out/fuzz_idx" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$out/" \
    "$out/corpus" fuzz/corpus/idx
echo "fuzz_idx: no crash, leak or report in ${seconds} s"

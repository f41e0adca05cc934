#!/usr/bin/env bash
# CI: the matrix product's two builds. Out of tree, with warnings as errors: one with
# --with-blas=no (the built-in kernel alone) and one with --with-blas=openblas (OpenBLAS
# for large products; needs libopenblas-dev). Each must pass `make check` and build the
# GEMM benchmark (which links OpenBLAS only in the second). Run from the repository root
# before it is configured in place (an out-of-tree build needs an unconfigured source
# tree); bootstraps with autoreconf if ./configure is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
show_logs() { cat "$1"/tests/*.log "$1"/test-suite.log 2>/dev/null || true; }

test -x configure || autoreconf -fi

for blas in no openblas; do
    dir=_ci/blas-$blas
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && ../../configure -q --with-blas="$blas" CFLAGS="-O2 -g -Werror")
    # the configured build is the one asked for
    if grep -q -- '-DTG_HAVE_CBLAS=1' "$dir/Makefile"; then have=openblas; else have=no; fi
    if [ "$have" != "$blas" ]; then
        echo "blas.sh: --with-blas=$blas configured OpenBLAS: $have"; exit 1
    fi
    make -C "$dir" -j"$jobs" check || { show_logs "$dir"; exit 1; }
    make -C "$dir" -j"$jobs" bench/bench_gemm
    echo "blas.sh: --with-blas=$blas: $(grep -h Synthesis "$dir"/tests/test_tapegrad.log | tail -n 1)"
done

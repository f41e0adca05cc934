#!/usr/bin/env bash
# ThreadSanitizer: builds the library and tests/tsan_stress.c with clang
# -fsanitize=thread out of tree (_ci/tsan) and runs the program: trainer threads on
# their own tapes while others register and look up rules. Fails on any TSan report
# or any failed check of the program. Run from anywhere; needs clang and its runtime
# (libclang-rt-14-dev on Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f config.status ]; then   # automake cannot build out of tree beside an in-tree build
    echo "tsan.sh: the source tree is configured in place; run it before ./configure" \
         "there (or after make distclean)" >&2
    exit 1
fi
[ -x configure ] || autoreconf -fi
rm -rf _ci/tsan && mkdir -p _ci/tsan
san="-fsanitize=thread -fno-omit-frame-pointer"
# --with-blas=no: OpenBLAS is not instrumented, and its threads would be invisible to TSan;
# the built-in kernel and its pool are what this checks.
(cd _ci/tsan && ../../configure -q --disable-shared --with-blas=no CC=clang \
    CFLAGS="-O1 -g -Werror $san" LDFLAGS="$san")
make -C _ci/tsan -j"$(nproc)" libtapegrad.la
clang -std=c11 -O1 -g $san -Werror -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
    -Wmissing-prototypes -pthread -Iinclude tests/tsan_stress.c \
    _ci/tsan/.libs/libtapegrad.a $(pkg-config --libs zlib) -lm -o _ci/tsan/tsan_stress

# TSan's shadow memory needs the address layout it expects: kernels with more mmap
# randomisation than clang 14's runtime handles make it abort at start, so run without
# address randomisation where setarch can turn it off.
norand=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
    norand=(setarch "$(uname -m)" -R)
fi
status=0
TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1" \
    "${norand[@]}" _ci/tsan/tsan_stress > _ci/tsan/stress.log 2>&1 || status=$?
cat _ci/tsan/stress.log
if [ "$status" -ne 0 ] || grep -q "ThreadSanitizer" _ci/tsan/stress.log; then
    echo "tsan: FAILED (exit status $status)"
    exit 1
fi
echo "tsan: no reports"

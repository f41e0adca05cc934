#!/usr/bin/env bash
# Checks that the vmath kernels (src/kernels/vmath*) came out vectorized in a build of
# the default configuration (no -march): every kernel's AVX2 and AVX-512 variants do
# their double arithmetic in packed ymm/zmm instructions (value, derivative, and both in
# one pass), the kept-derivative backward (vmath_saved.c) is packed, and no variant calls
# libm.
# The baseline (SSE2) variants are listed too; compilers may keep some of them scalar
# (clang does elu's value), which costs only the CPUs without AVX2. Usage, from the
# repo root, after a build:
#     .ci/vmath.sh [BUILD_DIR]        (default: the source tree)
set -euo pipefail
build=${1:-.}
lib="$build/.libs/libtapegrad.a"
[ -f "$lib" ] || { echo "vmath.sh: $lib not found: build first" >&2; exit 2; }
dis=$(mktemp)
trap 'rm -f "$dis"' EXIT
objdump -dr --no-show-raw-insn "$lib" > "$dis"

# The body of one function: from its label to the next blank line.
body() { awk -v f="<$1>:" '$2 == f { p = 1; next } p && /^$/ { exit } p' "$dis"; }

fail=0
printf '%-24s %8s %8s %8s\n' kernel baseline avx2 avx512f
for k in tanh sigmoid softplus elu silu gelu gelu_erf safe_log smooth_abs; do
    for dir in map grad both; do
        fn="${k}_${dir}"
        base=$(body "${fn}_base" | grep -cE '\s(mul|add|sub|div|sqrt)pd\s' || true)
        avx2=$(body "${fn}_avx2" | grep -cE '\sv(mul|add|sub|div|sqrt)pd\s.*%ymm' || true)
        avx512=$(body "${fn}_avx512" | grep -cE '\sv(mul|add|sub|div|sqrt)pd\s.*%[yz]mm' || true)
        printf '%-24s %8s %8s %8s\n' "$fn" "$base" "$avx2" "$avx512"
        # A scalar loop has none; a vectorized one has dozens (the polynomials alone).
        if [ "$avx2" -lt 8 ] || [ "$avx512" -lt 8 ]; then
            echo "vmath.sh: $fn is not vectorized for AVX2 and AVX-512" >&2
            fail=1
        fi
    done
done
# the backward from a kept derivative (float arithmetic): packed too
for isa in avx2 avx512; do
    n=$(body "saved_${isa}" | grep -cE '\sv(mul|add)ps\s.*%[yz]mm' || true)
    printf '%-24s %8s\n' "saved_${isa}" "$n"
    if [ "$n" -lt 2 ]; then
        echo "vmath.sh: saved_${isa} is not vectorized" >&2
        fail=1
    fi
done
# the archive members of the vmath files, from each one's header line to the next
if awk '/file format/ { p = ($1 ~ /vmath/) } p' "$dis" \
    | grep -qE 'R_X86_64_PLT32\s+(exp|expm1|log|log1p|sqrt|erfc|tanh|hypot)(-0x4)?$'; then
    echo "vmath.sh: a libm call is left in the library" >&2
    fail=1
fi
[ "$fail" -eq 0 ] && echo "vmath.sh: every kernel is vectorized for AVX2 and AVX-512"
exit "$fail"

#!/usr/bin/env bash
# The tape-vs-local example as a test: it exits non-zero when a float32 derivative is
# more than 4 ULP from the local function or the MLP's gradient leaves its bound; this
# also checks that every elementwise rule has a row, so none is silently skipped, and
# that the two-moons example still learns. Run by `make check` from the build directory.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }

out=$(./examples/tape_vs_local) || { echo "$out"; fail "tape_vs_local exited with $?"; }
echo "$out"
for rule in relu leaky_relu elu sigmoid tanh gelu gelu_erf softplus silu safe_log smooth_abs \
    exp log sqrt square neg; do
    grep -q "^$rule " <<<"$out" || fail "no row for $rule"
done
tail -n 1 <<<"$out" | grep -qx "all within bounds" || fail "last line is not 'all within bounds'"

mlp=$(./examples/mlp) || { echo "$mlp"; fail "mlp exited with $?"; }
echo "$mlp"
tail -n 1 <<<"$mlp" | grep -qx "test accuracy 1.000 (512 points)" || fail "mlp: two moons not learned"

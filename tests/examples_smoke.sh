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

# The option values diffusion and fashion_mnist read through examples/cli.c: a bad number
# exits with status 2 and a message naming the option and the value; the ends of each
# range are taken (--help last: it stops after the options, before any work).
bad_value() {   # program option [value]: refused with status 2 and a message naming them
    local prog=$1 opt=$2 err rc=0 want
    shift 2
    err=$("$prog" "$opt" "$@" 2>&1 > /dev/null) || rc=$?
    [ $rc -eq 2 ] || fail "$prog $opt ${1-}: status $rc"
    want="$(basename "$prog"): bad or missing value for $opt${1+: $1}"
    grep -qxF -- "$want" <<<"$err" || fail "$prog $opt ${1-}: no line '$want' in: $err"
}
for v in abc -1 12x 4294967296 ""; do bad_value ./examples/diffusion --train-steps "$v"; done
for v in nan -nan inf -0.1 1.5 1e400 0x; do bad_value ./examples/diffusion --lr "$v"; done
bad_value ./examples/diffusion --seed 18446744073709551616
for v in " -1" " 7" "+7"; do bad_value ./examples/diffusion --seed "$v"; done
bad_value ./examples/diffusion --batch 0
bad_value ./examples/diffusion --batch 2.5
bad_value ./examples/diffusion --samples 1
bad_value ./examples/diffusion --eta 10.5
bad_value ./examples/diffusion --lr
for v in abc -1 0 10001 1e3 ""; do bad_value ./examples/fashion_mnist --epochs "$v"; done
for v in nan inf -1e-9 2; do bad_value ./examples/fashion_mnist --lr "$v"; done
bad_value ./examples/fashion_mnist --weight-decay -inf
bad_value ./examples/fashion_mnist --seed -1
bad_value ./examples/fashion_mnist --threads 1e3
bad_value ./examples/fashion_mnist --epochs
./examples/diffusion --train-steps 4294967295 --seed 18446744073709551615 --lr 1 --ema-decay 0 \
    --eta 10 --batch 65536 --samples 2 --help > /dev/null || fail "diffusion: range ends refused"
./examples/fashion_mnist --epochs 10000 --seed 0 --lr 0 --weight-decay 10 --threads 0 \
    --batch 1 --help > /dev/null || fail "fashion_mnist: range ends refused"
echo "examples: bad option values refused, naming option and value"

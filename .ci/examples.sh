#!/usr/bin/env bash
# CI: the model examples. Run from the repository root after the in-tree build (`make`).
#  1. tape_vs_local and every path of the Fashion-MNIST smoke test (training, resume,
#     bad option, missing and damaged data) under valgrind: no error, no leak;
#  2. fashion_mnist with its defaults on the real data set (Debian package
#     dataset-fashion-mnist): the test accuracy must reach 0.89 (a published MLP
#     baseline is 0.883), and the run's time is printed.
set -euo pipefail

vg="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
--errors-for-leak-kinds=definite,indirect"

echo "examples: tape_vs_local under valgrind"
$vg ./examples/tape_vs_local > /dev/null
echo "examples: the Fashion-MNIST smoke test, every run under valgrind"
FASHION_MNIST="$vg ./examples/fashion_mnist" tests/fashion_smoke.sh > /dev/null

data=/usr/share/datasets/fashion-mnist
if [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
    echo "examples: no $data: apt-get install dataset-fashion-mnist" >&2
    exit 1
fi
echo "examples: fashion_mnist with its defaults"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
./examples/fashion_mnist > "$log"
cat "$log"
echo "examples: fashion_mnist took $((SECONDS - start)) s"
tail -n 1 "$log" | awk '$1 == "test" && $2 == "accuracy" {
    if ($3 + 0 >= 0.89) exit 0; print "test accuracy " $3 " is below 0.89"; exit 1 }
    { print "no final accuracy line"; exit 1 }'

#!/usr/bin/env bash
# examples/fashion_mnist end to end on a tiny IDX data set this script writes itself
# (200 training and 50 test images; class c lights the pixels 78c .. 78c + 77):
# it learns, gzip and plain files both load, a resumed run equals the uninterrupted one
# (same printed numbers, same checkpoint bytes), and the failures exit as documented:
# bad option 2, missing data 2 (naming the package), damaged data 1.
# Run by `make check` from the build directory.
set -euo pipefail
ex=${FASHION_MNIST:-./examples/fashion_mnist}   # CI runs it under valgrind this way
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
untimed() { sed 's/ *[0-9.]* s)*$//' "$@"; }   # the lines without their seconds

byte() { printf "\\$(printf '%03o' "$1")"; }
be32() { byte $(($1 >> 24 & 255)); byte $(($1 >> 16 & 255)); byte $(($1 >> 8 & 255)); byte $(($1 & 255)); }
# IDX u8 images [n,28,28]: image i is black but for 78 white pixels from 78 (i % 10)
images() {
    byte 0; byte 0; byte 8; byte 3; be32 "$1"; be32 28; be32 28
    for ((i = 0; i < $1; i++)); do
        head -c $((78 * (i % 10))) /dev/zero
        head -c 78 /dev/zero | tr '\000' '\377'
        head -c $((784 - 78 - 78 * (i % 10))) /dev/zero
    done
}
# IDX u8 labels [n]: label i is i % 10
labels() {
    byte 0; byte 0; byte 8; byte 1; be32 "$1"
    for ((i = 0; i < $1; i++)); do byte $((i % 10)); done
}
mkdir -p "$tmp/plain" "$tmp/gz" "$tmp/bad"
images 200 > "$tmp/plain/train-images-idx3-ubyte"
labels 200 > "$tmp/plain/train-labels-idx1-ubyte"
images 50 > "$tmp/plain/t10k-images-idx3-ubyte"
labels 50 > "$tmp/plain/t10k-labels-idx1-ubyte"
for f in "$tmp"/plain/*; do gzip -c "$f" > "$tmp/gz/$(basename "$f").gz"; done
tiny="--hidden 16 --batch 20 --epochs 4 --lr 1e-2"

# 1. it learns, from gzip files; the last line is the accuracy
$ex --data "$tmp/gz" $tiny --save "$tmp/full.ckpt" > "$tmp/full.log" 2> "$tmp/full.err" ||
    { cat "$tmp/full.log" "$tmp/full.err"; fail "training run"; }
cat "$tmp/full.log"
grep -c '^epoch ' "$tmp/full.log" | grep -qx 4 || fail "not 4 epoch lines"
tail -n 1 "$tmp/full.log" | grep -Eq '^test accuracy 1\.0000 ' || fail "did not learn the classes"

# 2. plain files give the same run, on one thread (the default is 2)
$ex --data "$tmp/plain" $tiny --threads 1 > "$tmp/plain.log" 2>/dev/null || fail "plain IDX run"
diff <(untimed "$tmp/full.log" | sed 's/, [0-9]* threads$//') \
     <(untimed "$tmp/plain.log" | sed 's/, [0-9]* threads$//') ||
    fail "plain and gzip runs differ"

# 3. stop after epoch 2, resume: the same epochs 3 and 4 and the same final checkpoint
$ex --data "$tmp/gz" $tiny --save "$tmp/part.ckpt" --stop-after 2 > "$tmp/part.log" 2>/dev/null ||
    fail "interrupted run"
$ex --data "$tmp/gz" $tiny --resume "$tmp/part.ckpt" --save "$tmp/part.ckpt" > "$tmp/resumed.log" \
    2>/dev/null || fail "resumed run"
grep -q '^resumed from .* after epoch 2$' "$tmp/resumed.log" || fail "did not resume after epoch 2"
diff <(grep -A 9 '^epoch   3 ' "$tmp/full.log" | untimed) \
     <(grep -A 9 '^epoch   3 ' "$tmp/resumed.log" | untimed) || fail "resumed epochs differ"
cmp "$tmp/full.ckpt" "$tmp/part.ckpt" || fail "resumed checkpoint differs"
# a checkpoint of another run shape is refused
if $ex --data "$tmp/gz" --hidden 16 --batch 10 --epochs 4 --resume "$tmp/full.ckpt" \
    > /dev/null 2> "$tmp/mismatch.err"; then fail "resumed with another batch size"; fi
cat "$tmp/mismatch.err"

# 4. failures and their exit status
set +e
$ex --epochs 0 > /dev/null 2> "$tmp/opt.err"; st=$?
[ $st -eq 2 ] && grep -q '^usage:' "$tmp/opt.err" || fail "bad option: status $st"
$ex --no-such-option > /dev/null 2>&1; st=$?
[ $st -eq 2 ] || fail "unknown option: status $st"
$ex --threads 1000 > /dev/null 2>&1; st=$?
[ $st -eq 2 ] || fail "--threads 1000: status $st"
$ex --help > "$tmp/help.out" 2>&1; st=$?
[ $st -eq 0 ] && grep -q -- '--resume FILE' "$tmp/help.out" || fail "--help: status $st"
$ex --data "$tmp/none" > /dev/null 2> "$tmp/missing.err"; st=$?
cat "$tmp/missing.err"
[ $st -eq 2 ] && grep -q 'apt-get install dataset-fashion-mnist' "$tmp/missing.err" ||
    fail "missing data: status $st"
cp "$tmp/plain/"* "$tmp/bad/"
head -c 3000 "$tmp/plain/t10k-images-idx3-ubyte" > "$tmp/bad/t10k-images-idx3-ubyte"
$ex --data "$tmp/bad" > /dev/null 2> "$tmp/bad.err"; st=$?
cat "$tmp/bad.err"
[ $st -eq 1 ] && grep -q 't10k-images-idx3-ubyte' "$tmp/bad.err" || fail "damaged data: status $st"
echo "fashion_smoke: ok"

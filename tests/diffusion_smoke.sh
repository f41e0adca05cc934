#!/bin/sh
# The diffusion example end to end on a tiny model: the loss decreases, both samplers
# run, samples.csv and the SVGs are well-formed, a bad option gives status 2, and a run
# resumed from step 100 ends with the same checkpoint bytes and the same samples as the
# uninterrupted run. Run by `make check` from the build directory.
set -eu
ex=./examples/diffusion
xml=./tests/xml_wellformed
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tiny="--hidden 32 --batch 64 --T 100 --samples 300"
fail() { echo "FAIL: $*"; exit 1; }

# 1. train, DDPM; the loss must fall
$ex $tiny --train-steps 300 --out "$tmp/ddpm" --save "$tmp/ddpm.ckpt" > "$tmp/ddpm.log" 2>&1 ||
    { cat "$tmp/ddpm.log"; fail "training run"; }
cat "$tmp/ddpm.log"
grep -q "energy distance" "$tmp/ddpm.log" || fail "no energy distance reported"
sed -n 's/.*loss \([0-9.]*\) -> \([0-9.]*\).*/\1 \2/p' "$tmp/ddpm.log" |
    awk '{ if (!($2 < 0.95 * $1)) { print "loss " $1 " -> " $2 ": not decreasing"; exit 1 } }' ||
    fail "loss did not decrease"

# 2. DDIM from the same checkpoint (no more training)
$ex $tiny --train-steps 300 --resume "$tmp/ddpm.ckpt" --sampler ddim --sample-steps 20 \
    --out "$tmp/ddim" > "$tmp/ddim.log" 2>&1 || { cat "$tmp/ddim.log"; fail "DDIM run"; }
grep -q "with DDIM (20 steps)" "$tmp/ddim.log" || fail "DDIM did not sample"

# 3. the files
for d in ddpm ddim; do
    awk -F, 'NR == 1 { if ($0 !~ /^#/) exit 1; next }
             NF != 2 || $1 !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ || $2 !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ { exit 1 }
             END { if (NR != 301) exit 1 }' "$tmp/$d/samples.csv" || fail "$d/samples.csv malformed"
    $xml "$tmp/$d/samples.svg" || fail "$d/samples.svg malformed"
done
$xml "$tmp/ddpm/loss.svg" || fail "loss.svg malformed"

# 4. bad options: usage and status 2
for bad in "--data cubes" "--train-steps -5" "--nope" "--batch"; do
    set +e
    $ex $bad > "$tmp/bad.log" 2>&1
    rc=$?
    set -e
    [ $rc -eq 2 ] && grep -q "usage:" "$tmp/bad.log" || fail "'$bad' gave status $rc"
done

# 5. resume equality: 200 steps in one go, or 100 + 100
$ex $tiny --train-steps 200 --save "$tmp/full.ckpt" --out "$tmp/full" > /dev/null 2>&1 ||
    fail "uninterrupted run"
$ex $tiny --train-steps 200 --stop-after 100 --save "$tmp/half.ckpt" --out "$tmp/half" \
    > /dev/null 2>&1 || fail "interrupted run"
$ex $tiny --train-steps 200 --resume "$tmp/half.ckpt" --save "$tmp/resumed.ckpt" \
    --out "$tmp/resumed" > /dev/null 2>&1 || fail "resumed run"
cmp "$tmp/full.ckpt" "$tmp/resumed.ckpt" || fail "resumed checkpoint differs"
cmp "$tmp/full/samples.csv" "$tmp/resumed/samples.csv" || fail "resumed samples differ"
echo "diffusion smoke: PASS"

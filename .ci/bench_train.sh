#!/usr/bin/env bash
# bench_train end to end, quickly (one repetition): the loss agreement with PyTorch, a
# perturbed PyTorch side caught as MISMATCH, and the two ways of having no PyTorch (a
# Python without torch, no Python at all) reported without failing. Timings are not
# judged here. Run from the root of a configured tree.
set -euo pipefail
make -j2 bench/bench_train
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
script=bench/torch_train.py

./bench/bench_train --reps 1 --script "$script" | tee "$out/ok.txt"
if grep -q 'PyTorch side not run' "$out/ok.txt"; then
  echo "bench_train.sh: no PyTorch here, the comparison was not checked"
else
  if grep -Eq '  MISMATCH$|^MISMATCH:' "$out/ok.txt"; then exit 1; fi
  grep -q 'rel diff' "$out/ok.txt"
  # weights 0.1% off on the PyTorch side: the losses must be found to differ
  sed 's/lin.weight.copy_(W)/lin.weight.copy_(W * 1.001)/' "$script" > "$out/bad.py"
  grep -q 'W \* 1.001' "$out/bad.py"
  if ./bench/bench_train --reps 1 --script "$out/bad.py" > "$out/bad.txt"; then
    echo "bench_train.sh: perturbed weights were not reported"; exit 1
  fi
  grep -Eq '  MISMATCH$' "$out/bad.txt"
fi

# a Python that cannot import torch (-S: no site-packages)
printf '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n' > "$out/python"
chmod +x "$out/python"
./bench/bench_train --reps 1 --script "$script" --python "$out/python" > "$out/nosite.txt"
grep -q 'PyTorch side not run: import torch failed' "$out/nosite.txt"
# no Python at all
./bench/bench_train --reps 1 --script "$script" --python "$out/none" > "$out/none.txt"
grep -q "PyTorch side not run: cannot run $out/none" "$out/none.txt"
echo "bench_train.sh: ok"

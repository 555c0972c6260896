#!/bin/bash
# N:M (2:4) SWD against 2:4 magnitude pruning + fine-tuning on digits (LeNet-300-100,
# the default 30-epoch recipe), with the unstructured 50% runs beside them.
# Run from the repository root: bash benchmarks/results/nm/run.sh
out=benchmarks/results/nm/digits.jsonl
for seed in 0 1 2; do
  for args in "swd --structure 2:4" "magnitude_ft --structure 2:4" "swd" "magnitude_ft"; do
    set -- $args
    python -m benchmarks.run digits --method "$@" --sparsity 0.5 --seed $seed --no-progress \
      --log-dir benchmarks/results/nm/logs | tail -n 1 >> $out
  done
done

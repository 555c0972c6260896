#!/bin/bash
# Sparser N:M patterns on digits (1:4 = 75%, 1:8 = 87.5%): SWD vs magnitude_ft, and dense.
# Run from the repository root: bash benchmarks/results/nm/run_more.sh
out=benchmarks/results/nm/digits.jsonl
for seed in 0 1 2; do
  python -m benchmarks.run digits --method dense --seed $seed --no-progress | tail -n 1 >> $out
  for nm in "1:4 0.75" "1:8 0.875"; do
    set -- $nm
    for method in swd magnitude_ft; do
      python -m benchmarks.run digits --method $method --structure $1 --sparsity $2 \
        --seed $seed --no-progress --log-dir benchmarks/results/nm/logs | tail -n 1 >> $out
    done
  done
done

#!/bin/bash
# Issue 7, stage 1: validation tuning of a_max for the proximal form on the graphs.
# 2 seeds (0, 1) x sparsities 0.99 0.995 0.999; the recipe's lr (SGD 5 with steps, Adam 0.01).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
T=benchmarks/results/issue7/tuning
for ds in cora citeseer; do
  for amax in 1e4 1e5 1e6; do
    python -m benchmarks.sweep $ds --methods swd --sparsities 0.99 0.995 0.999 --seeds 0 1 \
      --optimizer sgd --swd-form proximal --a-max $amax --data-dir ../shared/data \
      --no-progress --out $T/${ds}_sgd_proximal_amax$amax > /dev/null
  done
  for amax in 1e4 1e5 1e6 1e7; do
    python -m benchmarks.sweep $ds --methods swd --sparsities 0.99 0.995 0.999 --seeds 0 1 \
      --optimizer adam --swd-form proximal --a-max $amax --data-dir ../shared/data \
      --no-progress --out $T/${ds}_adam_proximal_amax$amax > /dev/null
  done
done

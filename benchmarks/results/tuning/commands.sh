#!/bin/bash
# The validation-only tuning of SWD's a_max (and optimizer on graphs), as run for RESULTS.md.
# Outputs went to /tmp/tune/<name>; benchmarks/results/tuning/swd_validation.{jsonl,md} summarise them.
cd /work/main && . .venv/bin/activate
for ds in cora citeseer; do
  for opt in adam sgd; do
    for amax in 1e2 1e3 1e4 1e5; do
      python -m benchmarks.sweep $ds --methods swd --sparsities 0.9 0.99 0.999 --seeds 0 1 \
        --optimizer $opt --a-max $amax --data-dir ../shared/data --no-progress \
        --out /tmp/tune/${ds}_${opt}_amax$amax > /dev/null 2>&1
    done
  done
done
for amax in 1e2 1e3 1e4 1e5; do
  python -m benchmarks.sweep digits --methods swd --sparsities 0.9 0.99 0.999 --seeds 0 1 \
    --a-max $amax --no-progress --out /tmp/tune/digits_sgd_amax$amax > /dev/null 2>&1
done
cd /work/main && . .venv/bin/activate
for amax in 1e4 1e5; do
  python -m benchmarks.sweep mnist-lenet300 --methods swd --sparsities 0.99 --seeds 0 \
    --epochs 3 --a-max $amax --data-dir ../shared/data --no-progress \
    --out /tmp/tune/mnist300_amax$amax > /dev/null 2>&1
done
touch /tmp/mnist_tuned

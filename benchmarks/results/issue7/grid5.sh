#!/bin/bash
# Issue 7: what was left of the time after grid4.sh: the best variant (same flags as on the
# graphs, not re-tuned on MNIST) on LeNet-300-100, 3 epochs, 99% and 99.9%, 3 seeds.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
BEST="--swd-form proximal --a-max 1e6 --swd-min-kept 8"
python -m benchmarks.sweep mnist-lenet300 --epochs 3 --sparsities 0.99 0.999 --seeds 0 1 2 \
  --data-dir ../shared/data --no-progress --methods swd --optimizer sgd $BEST \
  --out $R/mnist-lenet300/swd_best > /dev/null

#!/bin/bash
# Issue 7, third session: SWD with GMP's growing target (--swd-gradual: the target follows
# GMP's cubic ramp over 10%-75% of the steps; a hard prune at 75% = freeze 0.25, then the
# same fixed-mask training as GMP). Validation only, LeNet-300-100, 3 epochs, seeds 0-1,
# 99% and 99.9%, proximal SGD, min_kept 8, ramp 0.5; a_max 1e4 / 1e6 / 1e8 (a small a lets
# selected weights come back before the prune, a large one zeroes them at once, like GMP).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
T=benchmarks/results/issue7/tuning
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
M3="mnist-lenet300 --epochs 3 --data-dir ../shared/data --no-progress --methods swd --sparsities 0.99 0.999 --seeds 0 1 --optimizer sgd --swd-form proximal --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --swd-gradual"
for a in 1e4 1e6 1e8; do
  sw $M3 --a-max $a --out $T/mnist_sgd_proximal_amax${a}_minkept8_ramp0.5_freeze0.25_gradual
done

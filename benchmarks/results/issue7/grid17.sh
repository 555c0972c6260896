#!/bin/bash
# Issue 7, third session: the growing-target SWD on CIFAR-10's small CNN, at the budget of
# issue 4's grid (cifar10-grids.sh: 3 epochs of the 45,000 training images, SGD lr 0.05,
# steps at 50% / 75%), one seed, 90% and 99%, the LeNets' choices (a_max 1e8, min_kept 8,
# ramp 0.5, freeze 0.25); compare with ../cifar10-cnn (GMP, SWD paper form, ...).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
python -m benchmarks.sweep cifar10-cnn --epochs 3 --data-dir ../shared/data --no-progress \
  --methods swd --sparsities 0.9 0.99 --seeds 0 --optimizer sgd --swd-form proximal \
  --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --swd-gradual \
  --out benchmarks/results/issue7/cifar10-cnn/swd_best_gradual

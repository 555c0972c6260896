#!/usr/bin/env bash
# The CIFAR-10 grids of benchmarks/RESULTS.md ("CIFAR-10"), in the order they were run:
# one process at a time, each sweep resumable (rerun this script to finish an interrupted
# grid; finished runs are skipped). CPU budgets, equal for every method of a grid (batch
# 128, SGD with momentum 0.9, lr /10 at 50% and 75%, weight decay 5e-4, SWD a 0.1 -> 1e5):
#   small CNN (conv 16-32-64): 3 epochs of the 45,000 training images;
#   ResNet-20 (16 maps): 1 epoch of a fixed stratified 10,000 of them (cifar10-resnet20-10k).
# The first sweep below ran first (its magnitude_ft 0.99 run was postponed); then the
# paper's claim (0.1% kept) on ResNet-20, then the rest.
set -euo pipefail
DATA=${OPTAX_SWD_DATA_DIR:-../shared/data}
R=benchmarks/results
cnn() { python -m benchmarks.sweep cifar10-cnn --epochs 3 --data-dir "$DATA" --out $R/cifar10-cnn "$@"; }
resnet() { python -m benchmarks.sweep cifar10-resnet20-10k --epochs 1 --data-dir "$DATA" --out $R/cifar10-resnet20 "$@"; }
# cnn --methods dense swd magnitude_ft --sparsities 0.999 0.99   (ran first, interrupted)
resnet --methods swd magnitude_ft --sparsities 0.999
resnet --methods swd magnitude_ft --sparsities 0.99
cnn --methods dense swd magnitude_ft --sparsities 0.999 0.99
cnn --methods lr_rewinding gmp --sparsities 0.999
cnn --methods lr_rewinding gmp --sparsities 0.99
cnn --methods swd magnitude_ft lr_rewinding gmp --sparsities 0.9
resnet --methods dense --sparsities 0.9

#!/usr/bin/env bash
# The CIFAR-10 grids of benchmarks/RESULTS.md ("CIFAR-10"): one process at a time, each
# sweep resumable (rerun this script to finish the grid; finished runs are skipped).
# CPU budgets, equal for every method of a grid (batch 128, SGD momentum 0.9, lr /10 at
# 50% and 75% of the steps, weight decay 5e-4, SWD a from 0.1 to 1e5):
#   small CNN (conv 16-32-64): 3 epochs of the 45,000 training images (cifar10-cnn);
#   ResNet-20 (16 maps): 1 epoch of a fixed stratified 10,000 of them (cifar10-resnet20-10k).
set -euo pipefail
DATA=${OPTAX_SWD_DATA_DIR:-../shared/data}
R=benchmarks/results
cnn() { python -m benchmarks.sweep cifar10-cnn --epochs 3 --data-dir "$DATA" --out $R/cifar10-cnn "$@"; }
resnet() { python -m benchmarks.sweep cifar10-resnet20-10k --epochs 1 --data-dir "$DATA" --out $R/cifar10-resnet20 "$@"; }
# Run for RESULTS.md, in this order (the first sweep was stopped after its 4th run,
# magnitude_ft at 0.999, to leave the time to ResNet-20):
cnn --methods dense swd magnitude_ft --sparsities 0.999 0.99
resnet --methods swd magnitude_ft --sparsities 0.999
resnet --methods swd magnitude_ft --sparsities 0.99
resnet --methods dense --sparsities 0.9
cnn --methods dense swd magnitude_ft --sparsities 0.999 0.99   # its last run, magnitude_ft 0.99
cnn --methods lr_rewinding gmp --sparsities 0.999 0.99
# The 0.9 column (session 3, after the rest):
cnn --methods swd magnitude_ft lr_rewinding gmp --sparsities 0.9

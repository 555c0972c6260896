#!/usr/bin/env bash
# The CIFAR-10 grids of benchmarks/RESULTS.md ("CIFAR-10"), in the order they were run:
# one process at a time, each sweep resumable (rerun this script to finish an interrupted
# grid; finished runs are skipped). CPU budget, equal for every method of a grid:
# ResNet-20 (16 maps) 1 epoch, the small CNN 3 epochs (batch 128, SGD, step schedule).
set -euo pipefail
DATA=${OPTAX_SWD_DATA_DIR:-../shared/data}
R=benchmarks/results
# 1. The extreme-sparsity comparison on the small CNN first (with its dense reference).
python -m benchmarks.sweep cifar10-cnn --methods dense swd magnitude_ft \
    --sparsities 0.999 0.99 --epochs 3 --data-dir "$DATA" --out $R/cifar10-cnn
# 2. ResNet-20 (16 maps), the paper's claim: SWD vs magnitude + fine-tuning.
python -m benchmarks.sweep cifar10-resnet20 --methods swd magnitude_ft \
    --sparsities 0.999 0.99 --epochs 1 --data-dir "$DATA" --out $R/cifar10-resnet20
# 3. The rest of the small-CNN grid, the extreme sparsities first.
python -m benchmarks.sweep cifar10-cnn --methods lr_rewinding gmp \
    --sparsities 0.999 0.99 --epochs 3 --data-dir "$DATA" --out $R/cifar10-cnn
python -m benchmarks.sweep cifar10-cnn --methods swd magnitude_ft lr_rewinding gmp \
    --sparsities 0.9 --epochs 3 --data-dir "$DATA" --out $R/cifar10-cnn
# 4. If time allows: ResNet-20's dense reference.
python -m benchmarks.sweep cifar10-resnet20 --methods dense --sparsities 0.9 --epochs 1 \
    --data-dir "$DATA" --out $R/cifar10-resnet20

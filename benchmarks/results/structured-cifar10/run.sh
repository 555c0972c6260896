#!/bin/sh
# The CIFAR-10 structured grid, in the order it ran (resumable: finished runs are skipped).
# One process at a time; ResNet-20 width 16, the fixed 10,000-image training subset,
# 1 epoch of batch 64 (156 steps) for every method, seed 0.
set -e
COMMON="--data cifar10-10k --data-dir /work/shared/data --epochs 1 --batch-size 64 --seeds 0 \
  --targets 0.5,0.75,0.9,0.975 --no-val --check-images 2000 --out benchmarks/results/structured-cifar10"
python -m benchmarks.structured $COMMON --methods dense,swd,slimming,magnitude
python -m benchmarks.structured $COMMON --methods swd_f
python -m benchmarks.structured --report --out benchmarks/results/structured-cifar10

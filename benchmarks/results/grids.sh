#!/bin/bash
# The issue-3 grids, as run for RESULTS.md (two of these chains ran side by side).
cd "$(dirname "$0")/../.."
S="0.5 0.8 0.9 0.95 0.98 0.99 0.995 0.999"
M="dense swd magnitude_ft lr_rewinding gmp"
python -m benchmarks.sweep cora --methods $M --sparsities $S --seeds 0 1 2 3 4 \
  --optimizer sgd --a-max 1e5 --data-dir ../shared/data --no-progress \
  --out benchmarks/results/cora
S="0.5 0.8 0.9 0.95 0.98 0.99 0.995 0.999"
M="dense swd magnitude_ft lr_rewinding gmp"
python -m benchmarks.sweep citeseer --methods $M --sparsities $S --seeds 0 1 2 3 4 \
  --optimizer sgd --a-max 1e5 --data-dir ../shared/data --no-progress \
  --out benchmarks/results/citeseer
python -m benchmarks.sweep mnist-lenet300 --methods $M --sparsities 0.9 0.95 0.98 0.99 0.995 0.999 \
  --seeds 0 1 2 --epochs 3 --a-max 1e5 --data-dir ../shared/data --no-progress \
  --out benchmarks/results/mnist-lenet300
S="0.5 0.8 0.9 0.95 0.98 0.99 0.995 0.999"
M="dense swd magnitude_ft lr_rewinding gmp"
python -m benchmarks.sweep digits --methods $M --sparsities $S --seeds 0 1 2 \
  --a-max 1e5 --no-progress --out benchmarks/results/digits
python -m benchmarks.sweep mnist-lenet5 --methods $M --sparsities 0.9 0.95 0.98 0.99 0.995 0.999 \
  --seeds 0 1 2 --epochs 1 --a-max 1e5 --data-dir ../shared/data --no-progress \
  --out benchmarks/results/mnist-lenet5

#!/bin/bash
# Issue 7, third session: the gradual-target SWD on LeNet-5's test grid (5 seeds, 1 epoch,
# LeNet-300-100's validation choice: a_max 1e8), and on the graphs' test grids with the
# a_max chosen on Cora's validation (tune: grid15.sh; argument $1, e.g. 1e6).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
GR="--methods swd --optimizer sgd --swd-form proximal --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --swd-gradual --data-dir ../shared/data --no-progress --sparsities 0.9 0.99 0.995 0.999 --seeds 0 1 2 3 4"
if [ "$1" = lenet5 ]; then
  sw mnist-lenet5 --epochs 1 $GR --a-max 1e8 --out $R/mnist-lenet5/swd_best_gradual
else
  for ds in cora citeseer; do sw $ds $GR --a-max $1 --out $R/$ds/swd_best_gradual; done
fi

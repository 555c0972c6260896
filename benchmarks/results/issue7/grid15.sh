#!/bin/bash
# Issue 7, third session: the gradual-target SWD (tune_gradual.sh: a_max 1e8 won on
# validation, mean val 0.8765 over 99% / 99.9%, 1e6 0.8761, 1e4 0.661) on LeNet-300-100's
# test grid, 5 seeds; then its validation tuning on Cora (seeds 0-1, 99 / 99.5 / 99.9 %).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
T=$R/tuning
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
GR="--methods swd --optimizer sgd --swd-form proximal --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --swd-gradual --data-dir ../shared/data --no-progress"
sw mnist-lenet300 --epochs 3 --sparsities 0.9 0.99 0.995 0.999 --seeds 0 1 2 3 4 $GR --a-max 1e8 --out $R/mnist-lenet300/swd_best_gradual
for a in 1e4 1e6 1e8; do
  sw cora --sparsities 0.99 0.995 0.999 --seeds 0 1 $GR --a-max $a --out $T/cora_sgd_proximal_amax${a}_minkept8_ramp0.5_freeze0.25_gradual
done

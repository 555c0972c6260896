#!/bin/bash
# Issue 7, second session: after the validation tuning of grid7/grid8 (tuning.md, mnist_*):
# the winner on LeNet-300-100 is proximal SGD, a_max 1e8, min_kept 8, ramp 0.5, freeze 0.25
# (mean val over 99% and 99.9%, seeds 0-1: 0.8292; ramp 0.5 + freeze 0.5 0.8288, ramp 0.75 +
# freeze 0.25 0.819, no ramp/freeze 0.663). Every SWD run is its own process (see grid8.sh).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
T=$R/tuning
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
one() {  # one() DATASET-ARGS SPARSITIES SEEDS ARGS...: one process per run
  local ds=$1 sps=$2 seeds=$3; shift 3
  for s in $sps; do for seed in $seeds; do sw $ds --sparsities $s --seeds $seed "$@"; done; done
}
M3="mnist-lenet300 --epochs 3 --data-dir ../shared/data --no-progress --methods swd"
M6="mnist-lenet300 --epochs 6 --data-dir ../shared/data --no-progress"
L5="mnist-lenet5 --epochs 1 --data-dir ../shared/data --no-progress --methods swd --optimizer sgd"
WIN="--optimizer sgd --swd-form proximal --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25"
# 1. The winner on the test grid, 5 seeds.
one "$M3" "0.99 0.999" "0 1 2 3 4" $WIN --out $R/mnist-lenet300/swd_best_freeze
# 2. Adam: the same ramp + freeze + min_kept on the proximal Adam form (validation, seeds 0-1).
one "$M3" "0.99 0.999" "0 1" --optimizer adam --swd-form proximal --a-max 1e7 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --out $T/mnist_adam_proximal_amax1e7_minkept8_ramp0.5_freeze0.25
# 3. LeNet-5 (1 epoch, issue 3's budget): the grid's best variant and the LeNet-300 winner.
one "$L5" "0.99 0.999" "0 1 2" --swd-form proximal --a-max 1e8 --swd-min-kept 8 --out $R/mnist-lenet5/swd_best_amax1e8
one "$L5" "0.99 0.999" "0 1 2" --swd-form proximal --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --out $R/mnist-lenet5/swd_best_freeze
# 4. The longer budget: 6 epochs (2,574 steps), GMP and the winner, 3 seeds.
sw $M6 --methods gmp --sparsities 0.99 0.999 --seeds 0 1 2 --a-max 1e5 --out $R/mnist-lenet300/sgd_baselines_6ep
one "$M6 --methods swd" "0.99 0.999" "0 1 2" $WIN --out $R/mnist-lenet300/swd_best_freeze_6ep
# 5. One more validation variant: a_max 1e10 with the winner's ramp/freeze.
one "$M3" "0.99 0.999" "0 1" --optimizer sgd --swd-form proximal --a-max 1e10 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --out $T/mnist_sgd_proximal_amax1e10_minkept8_ramp0.5_freeze0.25
echo "$(date -u +%H:%M:%S) done"

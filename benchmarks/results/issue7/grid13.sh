#!/bin/bash
# Issue 7, third session: the missing cells of the test grid (5 seeds at 90 / 99 / 99.5 /
# 99.9 %): Adam on Cora and CiteSeer at 90% and 99.9%, Adam on LeNet-300-100 (all
# sparsities, seeds 3-4), LeNet-5 to 5 seeds. Same flags as the sweeps they complete
# (grid.sh, grid7.sh, grid9.sh); resumable. Runs after rerun.sh has finished each folder.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
S="0.9 0.99 0.995 0.999"
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
G="--seeds 0 1 2 3 4 --data-dir ../shared/data --no-progress --optimizer adam"
for ds in cora citeseer; do
  sw $ds --methods gmp magnitude_ft --sparsities $S $G --out $R/$ds/adam_baselines
  sw $ds --methods swd --sparsities $S $G --a-max 1e3 --out $R/$ds/swd_adam_gradient
  sw $ds --methods swd --sparsities $S $G --swd-form proximal --a-max 1e7 --out $R/$ds/swd_adam_proximal
done
A="mnist-lenet300 --epochs 3 --data-dir ../shared/data --no-progress --sparsities $S --seeds 0 1 2 3 4 --optimizer adam"
sw $A --methods dense gmp magnitude_ft --out $R/mnist-lenet300/adam_baselines
sw $A --methods swd --a-max 1e3 --out $R/mnist-lenet300/swd_adam_gradient
sw $A --methods swd --swd-form proximal --a-max 1e7 --out $R/mnist-lenet300/swd_adam_proximal
python -m benchmarks.rerun $R/mnist-lenet5/*/ --data-dir ../shared/data --replace \
  --summary $R/rerun_lenet5.md > /dev/null   # rerun.sh's treatment, before completing
L5="mnist-lenet5 --epochs 1 --data-dir ../shared/data --no-progress --sparsities $S --seeds 0 1 2 3 4 --optimizer sgd"
sw $L5 --methods dense gmp magnitude_ft --out $R/mnist-lenet5/sgd_baselines
sw $L5 --methods swd --out $R/mnist-lenet5/swd_sgd_gradient
sw $L5 --methods swd --swd-form proximal --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --out $R/mnist-lenet5/swd_best_freeze

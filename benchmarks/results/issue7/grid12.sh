#!/bin/bash
# Issue 7, second session, after grid11.sh (waits for the PID given as $1): the 12-epoch
# budget to 5 seeds (seeds 3-4), 99.9% first. SWD runs one process per run.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
while [ -n "$1" ] && kill -0 "$1" 2> /dev/null; do sleep 5; done
R=benchmarks/results/issue7
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
WIN="--optimizer sgd --swd-form proximal --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25"
M="mnist-lenet300 --epochs 12 --data-dir ../shared/data --no-progress"
sw $M --methods gmp --sparsities 0.99 0.999 --seeds 0 1 2 3 4 --a-max 1e5 --out $R/mnist-lenet300/sgd_baselines_12ep
for s in 0.999 0.99; do for seed in 3 4; do
  sw $M --methods swd --sparsities $s --seeds $seed $WIN --out $R/mnist-lenet300/swd_best_freeze_12ep
done; done
echo "$(date -u +%H:%M:%S) done"

#!/bin/bash
# Issue 7, second session, after grid10.sh (waits for the PID given as $1): the longer
# budgets. 6 epochs to 5 seeds (GMP and the ramp 0.5 + freeze 0.25 winner tie at 99% on 3
# seeds), then 12 epochs (5,148 steps), 3 seeds. SWD runs one process per run.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
while [ -n "$1" ] && kill -0 "$1" 2> /dev/null; do sleep 10; done
R=benchmarks/results/issue7
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
WIN="--optimizer sgd --swd-form proximal --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25"
for ep in 6 12; do
  seeds="0 1 2 3 4"; [ $ep = 12 ] && seeds="0 1 2"
  M="mnist-lenet300 --epochs $ep --data-dir ../shared/data --no-progress"
  sw $M --methods gmp --sparsities 0.99 0.999 --seeds $seeds --a-max 1e5 --out $R/mnist-lenet300/sgd_baselines_${ep}ep
  for s in 0.999 0.99; do for seed in $seeds; do
    sw $M --methods swd --sparsities $s --seeds $seed $WIN --out $R/mnist-lenet300/swd_best_freeze_${ep}ep
  done; done
done
echo "$(date -u +%H:%M:%S) done"

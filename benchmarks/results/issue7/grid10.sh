#!/bin/bash
# Issue 7, second session, after grid9.sh (waits for the PID given as $1): the LeNet-300-100
# winner (ramp 0.5 + freeze 0.25) at the two other sparsities of the grid, 5 seeds, one
# process per run. (The Adam ramp + freeze variant lost on validation: no test grid.)
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
while [ -n "$1" ] && kill -0 "$1" 2> /dev/null; do sleep 10; done
R=benchmarks/results/issue7
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
M3="mnist-lenet300 --epochs 3 --data-dir ../shared/data --no-progress --methods swd"
WIN="--optimizer sgd --swd-form proximal --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25"
for s in 0.995 0.9; do for seed in 0 1 2 3 4; do
  sw $M3 --sparsities $s --seeds $seed $WIN --out $R/mnist-lenet300/swd_best_freeze
done; done
echo "$(date -u +%H:%M:%S) done"

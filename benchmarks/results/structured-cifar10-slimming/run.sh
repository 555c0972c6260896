#!/bin/sh
# Issue 5, third session: network slimming's L1 strength, chosen on the validation split
# (the earlier runs used Liu et al.'s total scaled to this budget, 0.161 per step, and
# were at chance right after the cut). Same budget as ../structured-cifar10 (run.sh):
# cifar10-10k, one epoch of batch 64, seed 0, 90% of the parameters removed.
set -e
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
COMMON="--data cifar10-10k --data-dir ../shared/data --epochs 1 --batch-size 64 --check-images 2000"
for l1 in 0.0161 0.00161 0.000161; do
  python -m benchmarks.structured $COMMON --seeds 0 --targets 0.9 --methods slimming \
    --slimming-l1 $l1 --out benchmarks/results/structured-cifar10-slimming/l1_$l1
done
# The value with the best validation accuracy above (0.000161) at every target, seeds 0-1.
python -m benchmarks.structured $COMMON --seeds 0,1 --targets 0.5,0.75,0.9,0.975 \
  --methods slimming --slimming-l1 0.000161 --out benchmarks/results/structured-cifar10-slimming/l1_0.000161
python -m benchmarks.structured --report --out benchmarks/results/structured-cifar10-slimming/l1_0.000161

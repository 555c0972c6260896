#!/bin/sh
# The latency-aware allocation (optax_swd.select_channels(allocation="uniform"): the same
# fraction of every channel group) on the budget of run.sh, at 90% of the parameters
# removed, for SWD and magnitude + fine-tuning (run after run.sh, one process at a time).
set -e
python -m benchmarks.structured --data cifar10-10k --data-dir /work/shared/data --epochs 1 \
  --batch-size 64 --seeds 0 --targets 0.9 --no-val --check-images 2000 \
  --allocation uniform --methods swd,magnitude \
  --out benchmarks/results/structured-cifar10-uniform
python -m benchmarks.structured --report --out benchmarks/results/structured-cifar10-uniform

#!/bin/sh
# After run.sh and run_uniform.sh, while time allowed (stopped at the deadline; resumable):
# structuredF with the uniform allocation, then a second seed of dense, swd_f and
# magnitude + fine-tuning on the same budget.
set -e
COMMON="--data cifar10-10k --data-dir /work/shared/data --epochs 1 --batch-size 64 \
  --no-val --check-images 2000"
python -m benchmarks.structured $COMMON --seeds 0 --targets 0.9 --allocation uniform \
  --methods swd_f --out benchmarks/results/structured-cifar10-uniform
python -m benchmarks.structured --report --out benchmarks/results/structured-cifar10-uniform
python -m benchmarks.structured $COMMON --seeds 1 --targets 0.5,0.75,0.9,0.975 \
  --methods dense,swd_f,magnitude --out benchmarks/results/structured-cifar10
python -m benchmarks.structured --report --out benchmarks/results/structured-cifar10
# Third session: seed 1 of plain SWD at every target (run from a clone at a fixed commit).
python -m benchmarks.structured $COMMON --seeds 1 --targets 0.5,0.75,0.9,0.975 \
  --methods swd --out benchmarks/results/structured-cifar10
python -m benchmarks.structured --report --out benchmarks/results/structured-cifar10

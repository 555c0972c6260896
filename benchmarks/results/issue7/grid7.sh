#!/bin/bash
# Issue 7, second session: the missing cells, most important first (one process at a time;
# every sweep is resumable and skips runs already in its folder).
#  1. LeNet-300-100 (3 epochs): seeds 3-4 and the missing sparsities for dense, GMP,
#     magnitude + FT, the paper form and the best variant (proximal, a_max 1e8, min_kept 8).
#  2. Validation tuning on LeNet-300-100 (seeds 0-1, 99% and 99.9%, val accuracy only):
#     ramp + freeze variants (what makes SWD beat GMP?).
#  3. Adam: CiteSeer (5 seeds, 99% / 99.5%), Cora's missing Adam baselines, LeNet-300-100
#     (3 seeds, 99% / 99.9%). a_max as chosen on Cora (paper form 1e3, proximal 1e7).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
T=$R/tuning
S="0.9 0.99 0.995 0.999"
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
M3="mnist-lenet300 --epochs 3 --data-dir ../shared/data --no-progress"
# 1.
sw $M3 --methods dense gmp magnitude_ft --sparsities $S --seeds 0 1 2 3 4 --a-max 1e5 --out $R/mnist-lenet300/sgd_baselines
sw $M3 --methods swd --sparsities $S --seeds 0 1 2 3 4 --a-max 1e5 --out $R/mnist-lenet300/swd_sgd_gradient
sw $M3 --methods swd --sparsities $S --seeds 0 1 2 3 4 --optimizer sgd --swd-form proximal --a-max 1e8 --swd-min-kept 8 --out $R/mnist-lenet300/swd_best_amax1e8
# 2.
TM="$M3 --methods swd --sparsities 0.99 0.999 --seeds 0 1 --optimizer sgd"
sw $TM --swd-form proximal --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.75 --swd-freeze 0.25 --out $T/mnist_sgd_proximal_amax1e8_minkept8_ramp0.75_freeze0.25
sw $TM --swd-form proximal --a-max 1e6 --swd-min-kept 8 --swd-ramp 0.75 --swd-freeze 0.25 --out $T/mnist_sgd_proximal_amax1e6_minkept8_ramp0.75_freeze0.25
sw $TM --swd-form proximal --a-max 1e8 --swd-min-kept 8 --swd-ramp 0.5 --swd-freeze 0.25 --out $T/mnist_sgd_proximal_amax1e8_minkept8_ramp0.5_freeze0.25
sw $TM --a-max 1e5 --swd-min-kept 8 --swd-ramp 0.75 --swd-freeze 0.25 --out $T/mnist_sgd_gradient_amax1e5_minkept8_ramp0.75_freeze0.25
# 3.
G="--seeds 0 1 2 3 4 --data-dir ../shared/data --no-progress --optimizer adam"
sw citeseer --methods gmp --sparsities 0.99 0.995 $G --out $R/citeseer/adam_baselines
sw citeseer --methods swd --sparsities 0.99 0.995 $G --a-max 1e3 --out $R/citeseer/swd_adam_gradient
sw citeseer --methods swd --sparsities 0.99 0.995 $G --swd-form proximal --a-max 1e7 --out $R/citeseer/swd_adam_proximal
sw citeseer --methods dense magnitude_ft --sparsities 0.99 0.995 $G --out $R/citeseer/adam_baselines
sw cora --methods dense magnitude_ft --sparsities 0.99 0.995 $G --out $R/cora/adam_baselines
A3="$M3 --sparsities 0.99 0.999 --seeds 0 1 2 --optimizer adam"
sw $A3 --methods dense gmp magnitude_ft --out $R/mnist-lenet300/adam_baselines
sw $A3 --methods swd --a-max 1e3 --out $R/mnist-lenet300/swd_adam_gradient
sw $A3 --methods swd --swd-form proximal --a-max 1e7 --out $R/mnist-lenet300/swd_adam_proximal
echo "$(date -u +%H:%M:%S) done"

#!/bin/bash
# Issue 7: the final grids (test accuracy), in priority order; every sweep is resumable.
# a_max chosen on validation (tuning/, see commands.sh): paper form SGD 1e5, Adam 1e3
# (issue 3's tuning); proximal SGD 1e6, Adam 1e7 (stage 1). GMP/magnitude_ft/dense and the
# paper-form SWD with SGD reuse issue 3's records (same code path and keys; the copied
# records carry "reused_from"); diagnostics/ reruns seed 0 of the paper form with the
# new fields (largest cut |w|).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
S="0.9 0.99 0.995 0.999"
# Best variant by mean validation accuracy in tuning/ (0.99/0.995/0.999, Cora, 2 seeds).
BEST="--swd-form proximal --a-max 1e6 --swd-min-kept 8"
G="--seeds 0 1 2 3 4 --data-dir ../shared/data --no-progress"
# 1. The divergence case of the issue: SGD lr 1.0 constant, momentum 0.9, a_max 1e5, mu 5e-4.
for form in gradient proximal; do
  python -m benchmarks.sweep cora --methods swd --sparsities 0.99 --seeds 0 1 2 \
    --optimizer sgd --lr 1.0 --schedule constant --a-max 1e5 --swd-form $form \
    --data-dir ../shared/data --no-progress --out $R/divergence/cora_lr1_$form > /dev/null
done
python -m benchmarks.sweep cora --methods dense --sparsities 0.99 --seeds 0 1 2 \
  --optimizer sgd --lr 1.0 --schedule constant --data-dir ../shared/data --no-progress \
  --out $R/divergence/cora_lr1_dense > /dev/null
# 2. SWD forms x optimizers on the graphs.
for ds in cora citeseer; do
  python -m benchmarks.sweep $ds --methods swd --sparsities $S $G --optimizer sgd --swd-form proximal --a-max 1e6 --out $R/$ds/swd_sgd_proximal > /dev/null
  python -m benchmarks.sweep $ds --methods swd --sparsities $S $G --optimizer adam --swd-form proximal --a-max 1e7 --out $R/$ds/swd_adam_proximal > /dev/null
  python -m benchmarks.sweep $ds --methods swd --sparsities $S $G --optimizer adam --a-max 1e3 --out $R/$ds/swd_adam_gradient > /dev/null
  python -m benchmarks.sweep $ds --methods swd --sparsities $S $G --optimizer sgd $BEST --out $R/$ds/swd_best > /dev/null
  python -m benchmarks.sweep $ds --methods swd --sparsities $S --seeds 0 --data-dir ../shared/data --no-progress --optimizer sgd --a-max 1e5 --out $R/diagnostics/${ds}_swd_sgd_gradient > /dev/null
done
# 3. Adam baselines (GMP), then MNIST LeNet-300-100 (3 epochs) if time is left.
for ds in cora citeseer; do
  python -m benchmarks.sweep $ds --methods dense gmp --sparsities $S $G --optimizer adam --out $R/$ds/adam_baselines > /dev/null
done
M="mnist-lenet300 --epochs 3 --sparsities 0.99 0.999 --seeds 0 1 2 --data-dir ../shared/data --no-progress"
python -m benchmarks.sweep $M --methods swd --optimizer sgd --swd-form proximal --a-max 1e7 --out $R/mnist-lenet300/swd_sgd_proximal > /dev/null
python -m benchmarks.sweep $M --methods swd --optimizer adam --swd-form proximal --a-max 1e7 --out $R/mnist-lenet300/swd_adam_proximal > /dev/null
python -m benchmarks.sweep $M --methods swd --optimizer sgd $BEST --out $R/mnist-lenet300/swd_best > /dev/null
# 4. If time is left: GMP with the same min_kept selection, and the freeze variant.
for ds in cora citeseer; do
  python -m benchmarks.sweep $ds --methods gmp --sparsities $S $G --optimizer sgd --a-max 1e5 --swd-min-kept 8 --out $R/$ds/sgd_baselines_minkept8 > /dev/null
done
python -m benchmarks.sweep cora --methods swd --sparsities $S $G --optimizer sgd --swd-form proximal --a-max 1e6 --swd-min-kept 8 --swd-ramp 0.75 --swd-freeze 0.25 --out $R/cora/swd_best_freeze > /dev/null

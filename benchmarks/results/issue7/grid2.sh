#!/bin/bash
# Issue 7: grid.sh re-ordered and cut for time after its first three steps (divergence
# demo, Cora proximal SGD) ran: the same commands, most important first.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
S="0.9 0.99 0.995 0.999"
BEST="--swd-form proximal --a-max 1e6 --swd-min-kept 8"
G="--seeds 0 1 2 3 4 --data-dir ../shared/data --no-progress"
sw() { python -m benchmarks.sweep "$@" > /dev/null; }
sw cora --methods swd --sparsities $S $G --optimizer sgd $BEST --out $R/cora/swd_best
sw cora --methods swd --sparsities $S $G --optimizer adam --swd-form proximal --a-max 1e7 --out $R/cora/swd_adam_proximal
sw cora --methods swd --sparsities $S --seeds 0 --data-dir ../shared/data --no-progress --optimizer sgd --a-max 1e5 --out $R/diagnostics/cora_swd_sgd_gradient
sw citeseer --methods swd --sparsities $S $G --optimizer sgd --swd-form proximal --a-max 1e6 --out $R/citeseer/swd_sgd_proximal
sw citeseer --methods swd --sparsities $S $G --optimizer sgd $BEST --out $R/citeseer/swd_best
sw cora --methods swd --sparsities $S $G --optimizer adam --a-max 1e3 --out $R/cora/swd_adam_gradient
sw mnist-lenet300 --epochs 3 --sparsities 0.99 0.999 --seeds 0 1 2 --data-dir ../shared/data --no-progress --methods swd --optimizer sgd --swd-form proximal --a-max 1e7 --swd-min-kept 8 --out $R/mnist-lenet300/swd_best
sw citeseer --methods swd --sparsities $S $G --optimizer adam --swd-form proximal --a-max 1e7 --out $R/citeseer/swd_adam_proximal
sw citeseer --methods swd --sparsities $S $G --optimizer adam --a-max 1e3 --out $R/citeseer/swd_adam_gradient
sw cora --methods gmp --sparsities $S $G --optimizer sgd --a-max 1e5 --swd-min-kept 8 --out $R/cora/sgd_baselines_minkept8
sw cora --methods dense gmp --sparsities $S $G --optimizer adam --out $R/cora/adam_baselines

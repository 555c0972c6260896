#!/bin/bash
# Issue 7: grid3.sh re-ordered after its first diagnostic run, so that GMP gets the same
# min_kept selection as SWD's best variant at 99.9% (the fair comparison) before the
# Adam runs. Most important first; each sweep is resumable.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
S="0.9 0.99 0.995 0.999"
BEST="--swd-form proximal --a-max 1e6 --swd-min-kept 8"
G="--seeds 0 1 2 3 4 --data-dir ../shared/data --no-progress"
sw() { python -m benchmarks.sweep "$@" > /dev/null; }
sw cora --methods swd --sparsities 0.99 --seeds 0 --data-dir ../shared/data --no-progress --optimizer adam --a-max 1e3 --out $R/diagnostics/cora_swd_adam_gradient
sw cora --methods gmp --sparsities 0.999 $G --optimizer sgd --a-max 1e5 --swd-min-kept 8 --out $R/cora/sgd_baselines_minkept8
sw citeseer --methods swd --sparsities $S $G --optimizer sgd $BEST --out $R/citeseer/swd_best
sw citeseer --methods gmp --sparsities 0.999 $G --optimizer sgd --a-max 1e5 --swd-min-kept 8 --out $R/citeseer/sgd_baselines_minkept8
sw cora --methods swd --sparsities 0.99 0.995 $G --optimizer adam --swd-form proximal --a-max 1e7 --out $R/cora/swd_adam_proximal
sw cora --methods swd --sparsities 0.99 0.995 $G --optimizer adam --a-max 1e3 --out $R/cora/swd_adam_gradient
sw cora --methods gmp --sparsities 0.99 0.995 $G --optimizer adam --out $R/cora/adam_baselines
sw citeseer --methods swd --sparsities $S $G --optimizer sgd --swd-form proximal --a-max 1e6 --out $R/citeseer/swd_sgd_proximal

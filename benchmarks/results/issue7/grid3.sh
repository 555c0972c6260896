#!/bin/bash
# Issue 7: grid2.sh cut again for time after Cora's best variant: CiteSeer's SGD runs,
# then the Adam forms on Cora at 99% and 99.5% only, and seed-0 diagnostics first;
# CiteSeer's plain proximal form last (its best variant first).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
S="0.9 0.99 0.995 0.999"
BEST="--swd-form proximal --a-max 1e6 --swd-min-kept 8"
G="--seeds 0 1 2 3 4 --data-dir ../shared/data --no-progress"
sw() { python -m benchmarks.sweep "$@" > /dev/null; }
sw cora --methods swd --sparsities 0.99 --seeds 0 --data-dir ../shared/data --no-progress --optimizer sgd --a-max 1e5 --out $R/diagnostics/cora_swd_sgd_gradient
sw cora --methods swd --sparsities 0.99 --seeds 0 --data-dir ../shared/data --no-progress --optimizer adam --a-max 1e3 --out $R/diagnostics/cora_swd_adam_gradient
sw citeseer --methods swd --sparsities $S $G --optimizer sgd $BEST --out $R/citeseer/swd_best
sw cora --methods swd --sparsities 0.99 0.995 $G --optimizer adam --swd-form proximal --a-max 1e7 --out $R/cora/swd_adam_proximal
sw cora --methods swd --sparsities 0.99 0.995 $G --optimizer adam --a-max 1e3 --out $R/cora/swd_adam_gradient
sw citeseer --methods swd --sparsities $S $G --optimizer sgd --swd-form proximal --a-max 1e6 --out $R/citeseer/swd_sgd_proximal
sw cora --methods gmp --sparsities 0.99 0.995 $G --optimizer adam --out $R/cora/adam_baselines

#!/bin/bash
# Issue 7, stage 2b (replaces the rest of tune_variants.sh, cut for time): min_kept 8 and
# a mask frozen for the last quarter (a reaching a_max at 75%), proximal SGD a_max 1e6, Cora.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
T=benchmarks/results/issue7/tuning
C="cora --methods swd --sparsities 0.99 0.995 0.999 --seeds 0 1 --data-dir ../shared/data --no-progress"
python -m benchmarks.sweep $C --optimizer sgd --swd-form proximal --a-max 1e6 --swd-ramp 0.75 --swd-freeze 0.25 --out $T/cora_sgd_proximal_amax1e6_ramp0.75_freeze0.25 > /dev/null
python -m benchmarks.sweep $C --optimizer sgd --swd-form proximal --a-max 1e6 --swd-min-kept 8 --out $T/cora_sgd_proximal_amax1e6_minkept8 > /dev/null

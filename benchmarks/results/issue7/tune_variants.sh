#!/bin/bash
# Issue 7, stage 2: validation tuning of the selection variants on Cora (2 seeds,
# sparsities 0.99 0.995 0.999), on top of stage 1's a_max (proximal: SGD 1e6, Adam 1e7)
# and the issue-3 a_max of the paper's form (SGD 1e5).
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
T=benchmarks/results/issue7/tuning
C="cora --methods swd --sparsities 0.99 0.995 0.999 --seeds 0 1 --data-dir ../shared/data --no-progress"
python -m benchmarks.sweep $C --optimizer sgd --swd-form proximal --a-max 1e6 --swd-score layer_normalized --out $T/cora_sgd_proximal_amax1e6_layernorm > /dev/null
python -m benchmarks.sweep $C --optimizer sgd --swd-form proximal --a-max 1e6 --swd-min-kept 8 --out $T/cora_sgd_proximal_amax1e6_minkept8 > /dev/null
python -m benchmarks.sweep $C --optimizer sgd --swd-form proximal --a-max 1e6 --swd-ramp 0.5 --out $T/cora_sgd_proximal_amax1e6_ramp0.5 > /dev/null
python -m benchmarks.sweep $C --optimizer sgd --a-max 1e5 --out $T/cora_sgd_gradient_amax1e5 > /dev/null
python -m benchmarks.sweep $C --optimizer sgd --a-max 1e5 --swd-score layer_normalized --out $T/cora_sgd_gradient_amax1e5_layernorm > /dev/null
python -m benchmarks.sweep $C --optimizer adam --swd-form proximal --a-max 1e7 --swd-score layer_normalized --out $T/cora_adam_proximal_amax1e7_layernorm > /dev/null
python -m benchmarks.sweep $C --optimizer adam --a-max 1e3 --out $T/cora_adam_gradient_amax1e3 > /dev/null

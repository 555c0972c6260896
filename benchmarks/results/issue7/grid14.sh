#!/bin/bash
# Issue 7, third session: are swd's defaults safe in an ordinary script? LeNet-300-100,
# 6 epochs (2,574 steps), SGD momentum 0.9 at a *constant* lr 0.1 (heavy ball and
# Nesterov), weight decay 5e-4, swd's defaults (paper form: a from 0.1 to 1e5 over the
# run, mu 5e-4) against the proximal form with the same a and mu, 3 seeds, 90% and 99%.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7/default_safety
sw() { echo "$(date -u +%H:%M:%S) sweep $*"; python -m benchmarks.sweep "$@" > /dev/null; }
C="mnist-lenet300 --epochs 6 --optimizer sgd --lr 0.1 --schedule constant --momentum 0.9 --a-max 1e5 --seeds 0 1 2 --sparsities 0.9 0.99 --data-dir ../shared/data --no-progress"
for nest in "" "--nesterov"; do
  d=$R/heavy_ball; [ -n "$nest" ] && d=$R/nesterov
  sw $C $nest --methods dense swd --out $d/paper_form
  sw $C $nest --methods swd --swd-form proximal --out $d/proximal
done

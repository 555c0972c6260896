#!/bin/bash
# Issue 7, third session: every record rerun with one version of the code (commit of this
# script), in one process per group, replacing results.jsonl (benchmarks/rerun.py). The
# first sessions' sweeps ran while the library's selection was being edited, and some of
# their runs did not reproduce (RESULTS.md section 5, "Reruns"). rerun_<group>.md lists
# each run before and after.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
R=benchmarks/results/issue7
rr() { local group=$1; shift; echo "$(date -u +%H:%M:%S) rerun $group"
  python -m benchmarks.rerun "$@" --data-dir ../shared/data --replace \
    --summary $R/rerun_$group.md > /dev/null; }
L=$R/mnist-lenet300
rr lenet300_sgd $L/sgd_baselines $L/swd_sgd_gradient $L/swd_best_amax1e8 $L/swd_best_freeze \
  $L/sgd_baselines_minkept8 $L/swd_best $L/swd_best_amax1e7 $L/sgd_baselines_6ep \
  $L/swd_best_freeze_6ep $L/sgd_baselines_12ep $L/swd_best_freeze_12ep
rr graphs_sgd $R/cora/sgd_baselines $R/cora/sgd_baselines_minkept8 $R/cora/swd_sgd_gradient \
  $R/cora/swd_sgd_proximal $R/cora/swd_best $R/citeseer/sgd_baselines \
  $R/citeseer/sgd_baselines_minkept8 $R/citeseer/swd_sgd_gradient \
  $R/citeseer/swd_sgd_proximal $R/citeseer/swd_best $R/divergence/*/

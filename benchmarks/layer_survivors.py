"""How many weights each layer keeps after SWD at high sparsity (digits, MNIST LeNet-300-100).

Used in RESULTS.md to explain SWD's losses on the MLPs (layer collapse under one global
magnitude ranking). Run: ``python -m benchmarks.layer_survivors [--data-dir ../shared/data]``;
writes ``benchmarks/results/swd_layer_survivors.json``.
"""

from __future__ import annotations

import argparse
import json

import optax_swd

from benchmarks import configs
from benchmarks import data as data_lib
from benchmarks import methods
from benchmarks import models
from benchmarks import train as train_lib

CASES = (("digits", 0.99, {}), ("digits", 0.95, {}), ("mnist-lenet300", 0.995, {"epochs": 3}))


def survivors(benchmark: str, sparsity: float, data_dir, **overrides) -> dict:
  """Trains one SWD run (seed 0) and counts the non-zero kernel weights per layer."""
  cfg = configs.run_config(benchmark, "swd", sparsity, 0, a_max=1e5, **overrides)
  data = data_lib.load(cfg.data, data_dir)
  model = models.create(cfg.model, data.num_classes)
  plan = methods.plan(cfg, data.steps_per_epoch(cfg.batch_size))
  result = train_lib.train(model, data, plan, batch_size=cfg.batch_size,
                           eval_batch_size=cfg.eval_batch_size, seed=0)
  report = optax_swd.sparsity_report(result.params)
  return {"test_accuracy": result.metrics["test_accuracy"],
          "kept_per_layer": {l.name: (l.size, l.size - l.zeros)
                             for l in report.leaves if l.prunable}}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data-dir", default=None)
  parser.add_argument("--out", default="benchmarks/results/swd_layer_survivors.json")
  args = parser.parse_args(argv)
  out = {}
  for benchmark, sparsity, overrides in CASES:
    out[f"{benchmark}@{sparsity}"] = survivors(benchmark, sparsity, args.data_dir, **overrides)
    print(benchmark, sparsity, out[f"{benchmark}@{sparsity}"], flush=True)
  with open(args.out, "w") as f:
    json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()

"""Per-layer survivors of SWD at high sparsity (digits, MNIST LeNet-300-100): python -m benchmarks.layer_survivors"""
# Per-layer survivors after SWD (the final pruned params) on digits and MNIST LeNet-300-100.
import json, sys
import numpy as np, jax
import optax_swd
from benchmarks import configs, data as data_lib, methods, models, train as train_lib
out = {}
for bench, s, extra in [("digits", 0.99, {}), ("digits", 0.95, {}), ("mnist-lenet300", 0.995, {"epochs": 3})]:
    cfg = configs.run_config(bench, "swd", s, 0, a_max=1e5, **extra)
    data = data_lib.load(cfg.data, "../shared/data")
    model = models.create(cfg.model, data.num_classes)
    plan = methods.plan(cfg, data.steps_per_epoch(cfg.batch_size))
    res = train_lib.train(model, data, plan, batch_size=cfg.batch_size, eval_batch_size=cfg.eval_batch_size, seed=0)
    rep = optax_swd.sparsity_report(res.params)
    rows = {l.name: (l.size, l.size - l.zeros) for l in rep.leaves if l.prunable}
    out[f"{bench}@{s}"] = {"test_accuracy": res.metrics["test_accuracy"], "kept_per_layer": rows}
    print(bench, s, res.metrics["test_accuracy"], rows, flush=True)
json.dump(out, open("benchmarks/results/swd_layer_survivors.json", "w"), indent=1)

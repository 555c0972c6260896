"""Parameters, FLOPs and CPU inference latency of ResNet-20, full against shrunk.

For each parameter target the channels are chosen by :func:`optax_swd.select_channels`
on the benchmark ResNet-20's topology, zeroed by :func:`optax_swd.prune_channels` and cut
out by :func:`optax_swd.shrink`; the shrunk model is checked to give the masked full
model's outputs. The BN gammas are drawn uniformly in [0.05, 1] (fixed seed): what is
timed is the narrower architecture, whose shape is what the selection yields on such
gammas (a trained network's gammas give other, similar, widths).

FLOPs are XLA's own count for the compiled inference function (``cost_analysis()``).
Latency: every model is jitted for CIFAR-shaped inputs (32x32x3) at batch 1 and 256 and
warmed up; then, round after round, each model is run once in a freshly shuffled order
(interleaved, so slow phases of the shared machine hit all models alike), and the median
and interquartile range of each model's times are reported with the ratios to full.

Each target is shrunk exactly (``multiple_of=1``) and with every group's width rounded up
to a multiple of 8 (``multiple_of=8``: a few zero channels kept), because XLA's CPU
convolutions are several times slower per FLOP at odd channel counts.

Example::

  python -m benchmarks.shrink_latency --rounds-1 200 --rounds-256 15 --multiples 1,8 \
      --out benchmarks/results/structured/shrink_latency.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax_swd

from benchmarks import models
from benchmarks import topologies


def build(targets, width: int, seed: int, multiples=(1,)):
  """``[(label, model, variables)]``: the full network, then one shrunk per target."""
  model = models.ResNet20(num_classes=10, width=width)
  variables = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, 32, 32, 3)), train=False)
  rng = np.random.default_rng(seed)
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: (jnp.asarray(rng.uniform(0.05, 1.0, x.shape), jnp.float32)
                       if "scale" in jax.tree_util.keystr(path) else x),
      variables["params"])
  stats = variables["batch_stats"]
  topology = topologies.resnet20_topology(width)
  out = [("full", model, {"params": params, "batch_stats": stats}, None)]
  x = jnp.asarray(rng.standard_normal((8, 32, 32, 3)), jnp.float32)
  for target in targets:
    sel = optax_swd.select_channels(params, topology, target)
    pruned = optax_swd.prune_channels(params, topology, sel.removed)
    want = model.apply({"params": pruned, "batch_stats": stats}, x, train=False)
    for multiple in multiples:
      shrunk = optax_swd.shrink(pruned, stats, topology, sel.removed,
                                multiple_of=multiple)
      small = models.ResNet20(num_classes=10, width=width,
                              widths=topologies.resnet20_widths(shrunk.widths, width))
      small_vars = {"params": shrunk.params, "batch_stats": shrunk.batch_stats}
      diff = float(jnp.max(jnp.abs(small.apply(small_vars, x, train=False) - want)))
      label = f"shrunk {100 * target:g}%" + (f", widths /{multiple}" if multiple > 1 else "")
      out.append((label, small, small_vars, diff))
  return out


def measure(entries, batch: int, rounds: int, seed: int) -> dict:
  x = jnp.asarray(np.random.default_rng(seed).standard_normal((batch, 32, 32, 3)),
                  jnp.float32)
  fns, flops = [], []
  for _, model, variables, _ in entries:
    fn = jax.jit(functools.partial(model.apply, train=False))
    compiled = fn.lower(variables, x).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops.append(float(cost.get("flops", float("nan"))))
    for _ in range(3):
      compiled(variables, x).block_until_ready()
    fns.append(compiled)
  times = [[] for _ in entries]
  order_rng = np.random.default_rng(seed)
  for _ in range(rounds):
    for i in order_rng.permutation(len(entries)):
      t = time.perf_counter()
      fns[i](entries[i][2], x).block_until_ready()
      times[i].append(time.perf_counter() - t)
  return {"flops": flops, "times": times}


def conv_probe(batch: int = 256, size: int = 16, rounds: int = 7) -> list[str]:
  """GFLOP/s of one jitted 3x3 convolution at several channel counts (why narrow and odd
  widths do not pay back their FLOPs on XLA:CPU)."""
  lines = ["| conv 3x3 in->out | median ms | GFLOP/s |", "|---|---|---|"]
  for cin, cout in ((32, 32), (24, 32), (23, 33), (16, 16), (8, 8), (16, 3), (3, 16),
                    (5, 7)):
    x, k = jnp.ones((batch, size, size, cin)), jnp.ones((3, 3, cin, cout))
    fn = jax.jit(lambda x, k: jax.lax.conv_general_dilated(
        x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
    fn(x, k).block_until_ready()
    times = []
    for _ in range(rounds):
      t = time.perf_counter()
      fn(x, k).block_until_ready()
      times.append(time.perf_counter() - t)
    med = float(np.median(times))
    flops = 2 * batch * size * size * 9 * cin * cout
    lines.append(f"| {cin}->{cout} | {1e3 * med:.1f} | {flops / med / 1e9:.1f} |")
  return lines


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--targets", default="0.5,0.75,0.9")
  parser.add_argument("--width", type=int, default=16)
  parser.add_argument("--rounds-1", type=int, default=200)
  parser.add_argument("--rounds-256", type=int, default=15)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--multiples", default="1,8",
                      help="shrink(multiple_of=...) variants of each target")
  parser.add_argument("--out", default="benchmarks/results/structured/shrink_latency.json")
  parser.add_argument("--conv-probe", action="store_true",
                      help="only time single convolutions at several channel counts "
                           "(batch 256, 16x16)")
  args = parser.parse_args(argv)
  if args.conv_probe:
    print("\n".join(conv_probe()))
    return
  targets = [float(t) for t in args.targets.split(",")]
  entries = build(targets, args.width, args.seed,
                  [int(m) for m in args.multiples.split(",")])
  params = [sum(x.size for x in jax.tree.leaves(v["params"])) for _, _, v, _ in entries]
  result = {"command": "python -m benchmarks.shrink_latency " + " ".join(
      argv if argv is not None else os.sys.argv[1:]),
            "machine": f"{platform.processor() or platform.machine()}, "
                       f"{os.cpu_count()} CPUs visible, jax {jax.__version__} "
                       f"{jax.default_backend()}",
            "models": [], "batches": {}}
  for (label, model, _, diff), n in zip(entries, params):
    result["models"].append({"label": label, "params": n, "max_abs_diff_vs_masked": diff,
                             "widths": None if model.widths is None else [
                                 list(model.widths.stages), list(model.widths.inner)]})
  lines = ["| model | params | ratio | batch | GFLOPs | FLOP ratio | latency median (IQR) "
           "| latency ratio |", "|---|---|---|---|---|---|---|---|"]
  for batch, rounds in ((1, args.rounds_1), (256, args.rounds_256)):
    m = measure(entries, batch, rounds, args.seed)
    med = [float(np.median(t)) for t in m["times"]]
    result["batches"][str(batch)] = {"rounds": rounds, "flops": m["flops"],
                                     "median_s": med, "times_s": m["times"]}
    for i, (label, _, _, _) in enumerate(entries):
      q1, q3 = np.percentile(m["times"][i], [25, 75])
      unit, scale = ("ms", 1e3)
      lines.append(
          f"| {label} | {params[i]:,} | {params[i] / params[0]:.3f} | {batch} | "
          f"{m['flops'][i] / 1e9:.4g} | {m['flops'][i] / m['flops'][0]:.3f} | "
          f"{scale * med[i]:.3g} {unit} ({scale * q1:.3g}-{scale * q3:.3g}) | "
          f"{med[i] / med[0]:.3f} |")
  result["table"] = lines
  print("\n".join(lines))
  for entry in result["models"][1:]:
    print(f"{entry['label']}: max |shrunk - masked| = {entry['max_abs_diff_vs_masked']:.2e}")
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()

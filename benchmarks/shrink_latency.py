"""Parameters, FLOPs and CPU inference latency of ResNet-20, full against shrunk.

For each parameter target the channels are chosen by :func:`optax_swd.select_channels`
on the benchmark ResNet-20's topology, zeroed by :func:`optax_swd.prune_channels` and cut
out by :func:`optax_swd.shrink`; the shrunk model is checked to give the masked full
model's outputs. The BN gammas are drawn uniformly in [0.05, 1] (fixed seed): what is
timed is the narrower architecture, whose shape is what the selection yields on such
gammas (a trained network's gammas give other, similar, widths).

Two selection rules (``--rules``): ``gamma``, the library's global |gamma| threshold
(:func:`optax_swd.select_channels`), which keeps the residual stream wide and thins the
blocks' inner convolutions; and ``uniform`` (:func:`uniform_selection`, latency-aware),
which removes the same fraction of every channel group, stream included, at the same
parameter target. With ``--fastest-conv`` every model is timed a second time with, per
layer, the fastest of the :mod:`benchmarks.convs` implementations (XLA's convolution, an
im2col GEMM, an output-taps GEMM), chosen by timing each distinct layer shape once at
that batch size; the full network gets the same treatment, for like-for-like ratios.

FLOPs and bytes accessed are XLA's own counts for the compiled inference function
(``cost_analysis()``); the bytes ratio, not the FLOP ratio, is what the latency ratio
tracks on this CPU, because at these widths the network is bound by memory traffic.
Latency: every model is jitted for CIFAR-shaped inputs (32x32x3) at batch 1 and 256 and
warmed up; then, round after round, each model is run once in a freshly shuffled order
(interleaved, so slow phases of the shared machine hit all models alike), and the median
and interquartile range of each model's times are reported with the ratios to full.

Each target is shrunk exactly (``multiple_of=1``) and with every group's width rounded up
to a multiple of 8 (``gamma``: ``shrink(multiple_of=8)``, a few zero channels kept, more
parameters; ``uniform``: widths that are multiples of 8 chosen within the target when
reachable), because XLA's CPU convolutions are several times slower per FLOP at odd
channel counts.

Examples (the tables of ``benchmarks/RESULTS.md`` section 3)::

  python -m benchmarks.shrink_latency --rules gamma,uniform --multiples 1,8 \
      --rounds-1 200 --rounds-256 15 --out benchmarks/results/structured/shrink_latency.json
  python -m benchmarks.shrink_latency --targets 0.9 --rules gamma,uniform --multiples 1 \
      --fastest-conv --rounds-1 100 --rounds-256 10 \
      --out benchmarks/results/structured/shrink_latency_convs.json
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

from benchmarks import convs
from benchmarks import models
from benchmarks import topologies


def _group_sizes(params, topology) -> list[int]:
  nothing = np.zeros(int(optax_swd.channel_importance(params, topology).shape[0]), bool)
  return list(optax_swd.shrink(params, {}, topology, nothing).widths.values())


def uniform_selection(params, topology, target: float, multiple: int = 1) -> np.ndarray:
  """A latency-aware rule: every group keeps the same fraction of its channels.

  ``multiple == 1``: :func:`optax_swd.select_channels` with ``allocation="uniform"``.
  Otherwise each group keeps its ``max(1, ceil(f * size))`` highest-|gamma| channels,
  rounded up to a multiple of ``multiple`` (at most the group), with the largest
  fraction ``f`` whose shrunk network keeps at most ``(1 - target)`` of the parameters
  (bisection on ``f``).
  Unlike the global |gamma| threshold, it thins the residual stream as much as the
  blocks' inner convolutions, and so the activations (the memory traffic) with them.
  When even the narrowest such network (every group at ``min(multiple, size)``) has
  more parameters than the target allows, that narrowest network is returned (its
  parameter count, reported by the benchmark, then misses the target).
  Returns the bool ``removed`` vector in the topology's channel order.
  """
  if multiple == 1:
    return np.asarray(optax_swd.select_channels(params, topology, target,
                                                allocation="uniform").removed)
  scores = np.asarray(optax_swd.channel_importance(params, topology))
  sizes = _group_sizes(params, topology)
  total = int(optax_swd.shrunk_param_count(params, topology, np.zeros(len(scores), bool)))
  budget = (1.0 - target) * total

  def removed_at(f):
    removed, start = np.ones(len(scores), bool), 0
    for size in sizes:
      keep = min(size, -(-max(1, int(np.ceil(f * size - 1e-9))) // multiple) * multiple)
      order = np.argsort(-scores[start:start + size], kind="stable")
      removed[start + order[:keep]] = False
      start += size
    return removed

  lo, hi = 0.0, 1.0  # f = 1 keeps everything; f = 0 is the narrowest network
  for _ in range(40):
    mid = (lo + hi) / 2
    if int(optax_swd.shrunk_param_count(params, topology, removed_at(mid))) <= budget:
      lo = mid
    else:
      hi = mid
  return removed_at(lo)


def build(targets, width: int, seed: int, multiples=(1,), rules=("gamma",)):
  """``[(label, model, variables, diff)]``: the full network, then the shrunk ones: per
  target and rule (``gamma``: ``select_channels``' global |gamma| threshold; ``uniform``:
  :func:`uniform_selection`) and multiple (``gamma``: ``shrink(multiple_of=)``;
  ``uniform``: the rule's own rounding, within the parameter target)."""
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
    for rule in rules:
      for multiple in multiples:
        if rule == "gamma":
          removed = np.asarray(optax_swd.select_channels(params, topology, target).removed)
          shrink_multiple = multiple
        elif rule == "uniform":
          removed = uniform_selection(params, topology, target, multiple)
          shrink_multiple = 1
        else:
          raise ValueError(f"rule must be 'gamma' or 'uniform', got {rule!r}")
        pruned = optax_swd.prune_channels(params, topology, removed)
        want = model.apply({"params": pruned, "batch_stats": stats}, x, train=False)
        shrunk = optax_swd.shrink(pruned, stats, topology, removed,
                                  multiple_of=shrink_multiple)
        small = models.ResNet20(num_classes=10, width=width,
                                widths=topologies.resnet20_widths(shrunk.widths, width))
        small_vars = {"params": shrunk.params, "batch_stats": shrunk.batch_stats}
        diff = float(jnp.max(jnp.abs(small.apply(small_vars, x, train=False) - want)))
        label = (f"shrunk {100 * target:g}% {rule}"
                 + (f", widths /{multiple}" if multiple > 1 else ""))
        out.append((label, small, small_vars, diff))
  return out


def trained_entries(path: str, method_names, width: int, seed: int):
  """``[(label, model, variables, None)]``: the full network, then the shrunk networks of
  the records in a ``benchmarks.structured`` results file (their ``widths``: the
  architectures training actually produced), with random weights (latency depends on
  the shapes only). The stage-2/3 shortcut padding is split evenly (the record keeps the
  stage widths, not the split; it does not change the cost)."""
  records = [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]
  x = jnp.zeros((1, 32, 32, 3))
  full = models.ResNet20(num_classes=10, width=width)
  out = [("full", full, full.init(jax.random.PRNGKey(seed), x, train=False), None)]
  for r in sorted(records, key=lambda r: (r["method"], r["target"])):
    if r["method"] not in method_names or not r.get("widths"):
      continue
    stages, inner = tuple(r["widths"][:3]), tuple(r["widths"][3:])
    pads = [(0, 0)] + [((b - a) // 2, (b - a) - (b - a) // 2)
                       for a, b in zip(stages[:-1], stages[1:])]
    model = models.ResNet20(num_classes=10, width=width, widths=models.ResNetWidths(
        stages=stages, pads=tuple(pads), inner=inner))
    label = f"trained {r['method']} {100 * r['target']:g}% (seed {r['seed']})"
    out.append((label, model, model.init(jax.random.PRNGKey(seed), x, train=False), None))
  return out


def conv_shapes(variables, blocks_per_stage: int = 3, size: int = 32) -> list[tuple]:
  """``(h, w, c_in, c_out, stride)`` of every 3x3 convolution of a (shrunk) ResNet-20, in
  the order of ``models.ResNet20(convs=...)``."""
  p = variables["params"]
  shapes = [(size, size) + tuple(p["conv"]["kernel"].shape[2:]) + (1,)]
  for stage in range(3):
    for block in range(blocks_per_stage):
      b = p[f"stage{stage + 1}_block{block + 1}"]
      stride = 2 if stage > 0 and block == 0 else 1
      out_size = size >> stage
      in_size = out_size * stride
      shapes.append((in_size, in_size) + tuple(b["conv1"]["kernel"].shape[2:]) + (stride,))
      shapes.append((out_size, out_size) + tuple(b["conv2"]["kernel"].shape[2:]) + (1,))
  return shapes


def with_fastest_convs(entries, batch: int, repeats: int):
  """Each entry again, its model using per layer the fastest :mod:`benchmarks.convs`
  implementation at ``batch`` (timed once per distinct layer shape); and the timings."""
  shapes = [conv_shapes(v) for _, _, v, _ in entries]
  _, timings = convs.choose([s for ss in shapes for s in ss], batch, repeats=repeats)
  out = []
  for (label, model, v, diff), ss in zip(entries, shapes):
    names = tuple(min(timings[s], key=timings[s].get) for s in ss)
    out.append((label + " [fastest conv]", model.clone(convs=names), v, diff))
  return out, timings


def measure(entries, batch: int, rounds: int, seed: int) -> dict:
  x = jnp.asarray(np.random.default_rng(seed).standard_normal((batch, 32, 32, 3)),
                  jnp.float32)
  fns, flops, nbytes, outs = [], [], [], []
  for _, model, variables, _ in entries:
    fn = jax.jit(functools.partial(model.apply, train=False))
    compiled = fn.lower(variables, x).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops.append(float(cost.get("flops", float("nan"))))
    nbytes.append(float(cost.get("bytes accessed", float("nan"))))
    for _ in range(3):
      out = compiled(variables, x).block_until_ready()
    outs.append(out)
    fns.append(compiled)
  times = [[] for _ in entries]
  order_rng = np.random.default_rng(seed)
  for _ in range(rounds):
    for i in order_rng.permutation(len(entries)):
      t = time.perf_counter()
      fns[i](entries[i][2], x).block_until_ready()
      times[i].append(time.perf_counter() - t)
  return {"flops": flops, "bytes": nbytes, "times": times, "outputs": outs}


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
  parser.add_argument("--rules", default="gamma",
                      help="selection rules: gamma (select_channels) and/or uniform "
                           "(same fraction of every group, latency-aware)")
  parser.add_argument("--fastest-conv", action="store_true",
                      help="also time every model with per-layer fastest conv "
                           "implementations of benchmarks.convs (chosen per batch size)")
  parser.add_argument("--choice-repeats", type=int, default=5,
                      help="timings per implementation and layer shape for the choice")
  parser.add_argument("--trained", default=None,
                      help="instead of selecting channels here, time the shrunk "
                           "architectures recorded in this benchmarks.structured "
                           "results.jsonl")
  parser.add_argument("--trained-methods", default="swd,swd_f,slimming,magnitude")
  parser.add_argument("--out", default="benchmarks/results/structured/shrink_latency.json")
  parser.add_argument("--conv-probe", action="store_true",
                      help="only time single convolutions at several channel counts "
                           "(batch 256, 16x16)")
  args = parser.parse_args(argv)
  if args.conv_probe:
    print("\n".join(conv_probe()))
    return
  for name in ("rounds_1", "rounds_256", "choice_repeats"):
    if getattr(args, name) < 1:
      parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
  if args.trained:
    entries = trained_entries(args.trained, args.trained_methods.split(","), args.width,
                              args.seed)
  else:
    targets = [float(t) for t in args.targets.split(",")]
    entries = build(targets, args.width, args.seed,
                    [int(m) for m in args.multiples.split(",")], args.rules.split(","))
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
  lines = ["| model | convs | params | param ratio | batch | GFLOPs | FLOP ratio | "
           "bytes ratio | latency median (IQR) | latency / full (XLA conv) | "
           "latency / full (same convs) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
  n = len(entries)
  for batch, rounds in ((1, args.rounds_1), (256, args.rounds_256)):
    timed = list(entries)
    record = {"rounds": rounds}
    if args.fastest_conv:
      fastest, timings = with_fastest_convs(entries, batch, args.choice_repeats)
      timed += fastest
      record["conv_choice"] = {"x".join(map(str, k)): v for k, v in timings.items()}
      record["convs"] = [list(m.convs) for _, m, _, _ in fastest]
    m = measure(timed, batch, rounds, args.seed)
    med = [float(np.median(t)) for t in m["times"]]
    same_out = [float(jnp.max(jnp.abs(m["outputs"][n + i] - m["outputs"][i])))
                for i in range(len(timed) - n)]
    record.update(labels=[e[0] for e in timed], flops=m["flops"], bytes=m["bytes"],
                  median_s=med, times_s=m["times"],
                  fastest_conv_max_abs_diff_vs_xla_conv=same_out)
    result["batches"][str(batch)] = record
    for i, (label, model, _, _) in enumerate(timed):
      j = i % n  # the same network with XLA's convolutions
      base = 0 if i < n else n  # the full network with the same conv choice
      q1, q3 = np.percentile(m["times"][i], [25, 75])
      kind = "XLA" if i < n else "fastest"
      lines.append(
          f"| {label.replace(' [fastest conv]', '')} | {kind} | {params[j]:,} | "
          f"{params[j] / params[0]:.3f} | {batch} | {m['flops'][i] / 1e9:.4g} | "
          f"{m['flops'][i] / m['flops'][0]:.3f} | {m['bytes'][i] / m['bytes'][0]:.3f} | "
          f"{1e3 * med[i]:.3g} ms ({1e3 * q1:.3g}-{1e3 * q3:.3g}) | "
          f"{med[i] / med[0]:.3f} | {med[i] / med[base]:.3f} |")
  result["table"] = lines
  print("\n".join(lines))
  for entry in result["models"][1:]:
    diff = entry["max_abs_diff_vs_masked"]
    print(f"{entry['label']}: "
          + ("" if diff is None else f"max |shrunk - masked| = {diff:.2e}; ")
          + f"widths {entry['widths']}")
  for batch, record in result["batches"].items():
    if record.get("convs"):
      print(f"batch {batch}: fastest-conv outputs vs XLA conv, max |diff| "
            f"{max(record['fastest_conv_max_abs_diff_vs_xla_conv']):.2e}; choices:")
      for label, names in zip(record["labels"][n:], record["convs"]):
        print(f"  {label}: {','.join(names)}")
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()

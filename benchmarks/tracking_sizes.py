"""How large the tracked selection's candidate list must be: passes and time per update.

For each configuration (slices per leaf, slots per weight) the `swd` update with
`selection="auto"` runs down the selection benchmark's chain (weights `0.05 N(0, 1)`,
steps `5e-5 N(0, 1)`, sparsity 0.9, one leaf) for ``--burn-in`` updates, so that every
slice of the list has been re-scanned a few times; then, over the next 16 updates, it
reports the passes over the weights per update (checking counts and any plain-search
passes) and the time of the donated update, interleaved with `selection="search"` on
the same steps, as a paired ratio (median [q25, q75]).

Run: python -m benchmarks.tracking_sizes [--size 25000000] [--burn-in 200] [--rounds 3]
     [--configs 128/96 64/48 128/32 32/64]
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

import optax_swd
from benchmarks import selection as selection_bench
from optax_swd._src import selection as selection_lib
from optax_swd._src import tracking

_STEPS = 16


def _configured(slices: int, per_slot: int):
  """Patches of the list's size (read when an update is traced)."""
  return [mock.patch.object(tracking, "_SLICES", slices),
          mock.patch.object(tracking, "_SLOTS_PER_ENTRY", 1 / per_slot)]


def _chain(n, burn_in, selection, patches, grads):
  """(donated update, the 16 (params, state) pairs after burn-in, passes per update)."""
  seen = collections.Counter()

  def counted(name, fn):
    def wrapper(*args, **kwargs):
      out = fn(*args, **kwargs)
      if sum(leaf.size for leaf in selection_lib._as_leaves(args[0])) == n:  # pylint: disable=protected-access
        jax.debug.callback(lambda: seen.update([name]))
      return out
    return wrapper

  counters = [mock.patch.object(selection_lib, attr, counted(name, getattr(selection_lib, attr)))
              for name, attr in selection_bench._PASSES.items()]  # pylint: disable=protected-access
  w = 0.05 * jax.random.normal(jax.random.PRNGKey(0), (n,), jnp.float32)
  move = jax.jit(lambda w, key: w + 5e-5 * jax.random.normal(key, w.shape, jnp.float32))
  for patch in patches + counters:
    patch.start()
  try:
    tx = optax_swd.swd(0.9, total_steps=1000, prunable={"w": True}, selection=selection)
    update = jax.jit(tx.update)
    _, state = update(grads, tx.init({"w": w}), {"w": w})
    key, steps, passes = jax.random.PRNGKey(1), [], []
    for t in range(burn_in + _STEPS):
      key, sub = jax.random.split(key)
      w = move(w, sub)
      seen.clear()
      if t >= burn_in:
        steps.append(({"w": w}, state))
      _, state = update(grads, state, {"w": w})
      jax.block_until_ready(state)
      jax.effects_barrier()
      if t >= burn_in:
        passes.append(sum(seen.values()))
    for patch in counters:
      patch.stop()
    counters = []
    # The timed update is traced without the counters (but with this configuration).
    donated = jax.jit(tx.update, donate_argnums=(0, 1))
    jax.block_until_ready(donated(jax.tree.map(jnp.copy, grads),
                                  jax.tree.map(jnp.copy, steps[0][1]), steps[0][0]))
  finally:
    for patch in patches + counters:
      patch.stop()
  return donated, steps, passes


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--size", type=int, default=25_000_000)
  parser.add_argument("--burn-in", type=int, default=200)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--configs", nargs="+", default=["128/96", "64/48", "128/32", "32/64"],
                      help="SLICES/N: slices per leaf, one slot per N weights")
  args = parser.parse_args(argv)
  n = args.size
  grads = {"w": 1e-3 * jax.random.normal(jax.random.PRNGKey(2), (n,), jnp.float32)}
  runs = {"search": _chain(n, args.burn_in, "search", [], grads)}
  for config in args.configs:
    slices, per_slot = (int(x) for x in config.split("/"))
    runs[config] = _chain(n, args.burn_in, "auto", _configured(slices, per_slot), grads)
  times = {name: [] for name in runs}
  for r in range(args.rounds):
    for i in range(_STEPS):
      order = list(runs) if (r + i) % 2 == 0 else list(runs)[::-1]
      for name in order:
        donated, steps, _ = runs[name]
        params, state = steps[i]
        fresh = (jax.tree.map(jnp.copy, grads), jax.tree.map(jnp.copy, state), params)
        jax.block_until_ready(fresh)
        start = time.perf_counter()
        jax.block_until_ready(donated(*fresh))
        times[name].append(time.perf_counter() - start)
  report = {"size": n, "burn_in": args.burn_in, "rounds": args.rounds, "configs": {}}
  for name, (_, _, passes) in runs.items():
    paired = np.asarray(times[name]) / np.asarray(times["search"])
    row = {"passes_mean": float(np.mean(passes)),
           "passes_histogram": dict(sorted(collections.Counter(passes).items())),
           "median_ms": 1e3 * float(np.median(times[name])),
           "over_search": float(np.median(paired)),
           "over_search_q25": float(np.percentile(paired, 25)),
           "over_search_q75": float(np.percentile(paired, 75))}
    report["configs"][name] = row
    print(f"{name:8s} passes {row['passes_mean']:.2f} {row['passes_histogram']}  "
          f"{row['median_ms']:.1f} ms  / search {row['over_search']:.2f} "
          f"[{row['over_search_q25']:.2f}, {row['over_search_q75']:.2f}]")
  print(json.dumps(report))


if __name__ == "__main__":
  main()

"""Side by side: the SWD update with this checkout's selection and with an older one's.

Both versions run the same core of an `swd` update (the exact selection at sparsity 0.9,
the masks, and `g + coef * w` on the selected weights, with the gradient and mask buffers
donated as inside a jitted train step) over the same chain of weights: `0.05 N(0, 1)`,
then one small random step `5e-5 N(0, 1)` per update, each version carrying its own
threshold and slope from update to update as in training. Calls alternate between the
versions (the order flips every call) and are paired; the report gives each version's
ratio to one elementwise pass and the median ratio of paired calls, new / old.

The older version is read from git (`git show REV:optax_swd/_src/selection.py`), so REV
must have the same `select(..., previous=, previous_slope=)` and `leaf_masks` functions
(any commit since session 3 does).

Run: python -m benchmarks.selection_ab --rev 18ec641 [--size 25000000] [--leaves 1]
     [--steps 16] [--rounds 6] [--burn-in 8]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from optax_swd._src import selection as current_selection

_SOURCE = "optax_swd/_src/selection.py"


def load_revision(rev: str):
  """The selection module as it was at git revision ``rev``, imported under a new name."""
  root = pathlib.Path(__file__).resolve().parents[1]
  source = subprocess.run(["git", "show", f"{rev}:{_SOURCE}"], cwd=root, check=True,
                          capture_output=True, text=True).stdout
  path = pathlib.Path(tempfile.mkdtemp()) / "selection_at_rev.py"
  path.write_text(source)
  spec = importlib.util.spec_from_file_location(f"selection_at_{rev}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def make_update(selection, sizes, sparsity):
  """The core of a global-scope swd update over leaves of the given sizes, jitted."""
  k = int(np.floor(sparsity * sum(sizes)))
  groups = [0] * len(sizes)

  def update(grads, old_masks, weights, previous, slope):
    del old_masks  # donated: its buffer may hold the new masks
    th = selection.select(weights, groups, 1, [k], method="search", previous=previous,
                          previous_slope=slope)
    masks = selection.leaf_masks(weights, groups, th)
    coef = jnp.float32(0.01)
    new = [g + coef * jnp.where(m, w, 0.0) for g, m, w in zip(grads, masks, weights)]
    return new, masks, th.lo, th.slope
  return jax.jit(update, donate_argnums=(0, 1))


def compare(old, new, size: int, leaves: int, steps: int, rounds: int, burn_in: int,
            sparsity: float = 0.9):
  sizes = [size // leaves] * leaves
  key = jax.random.PRNGKey(0)
  weights = [0.05 * jax.random.normal(jax.random.fold_in(key, i), (s,), jnp.float32)
             for i, s in enumerate(sizes)]
  grads = [1e-3 * jax.random.normal(jax.random.fold_in(key, 100 + i), (s,), jnp.float32)
           for i, s in enumerate(sizes)]
  chain = []
  for step in range(burn_in + steps):
    weights = [w + 5e-5 * jax.random.normal(jax.random.fold_in(key, 1000 * step + i),
                                            w.shape, jnp.float32)
               for i, w in enumerate(weights)]
    chain.append(weights)
  fresh = lambda: ([jnp.copy(g) for g in grads], [jnp.zeros(s, bool) for s in sizes])
  fns = {"old": make_update(old, sizes, sparsity), "new": make_update(new, sizes, sparsity)}
  states, masks_at = {}, {}
  for name, fn in fns.items():
    previous, slope = jnp.zeros(1), jnp.zeros(1)
    states[name] = []
    for step, ws in enumerate(chain):
      states[name].append((previous, slope))
      _, masks, previous, slope = fn(*fresh(), ws, previous, slope)
      if step == burn_in:
        masks_at[name] = np.concatenate([np.asarray(m) for m in masks])
  # Both versions are exact: the same masks.
  assert (masks_at["old"] == masks_at["new"]).all()
  chain, states = chain[burn_in:], {n: s[burn_in:] for n, s in states.items()}
  elementwise = jax.jit(lambda ws: sum(jnp.sum(jnp.abs(w)) for w in ws))
  times = {"pass": [], "old": [], "new": []}
  calls = 0
  for _ in range(rounds):
    for step, ws in enumerate(chain):
      start = time.perf_counter()
      jax.block_until_ready(elementwise(ws))
      times["pass"].append(time.perf_counter() - start)
      for name in ("old", "new") if calls % 2 == 0 else ("new", "old"):
        args = fresh()
        jax.block_until_ready(args)
        start = time.perf_counter()
        jax.block_until_ready(fns[name](*args, ws, *states[name][step]))
        times[name].append(time.perf_counter() - start)
      calls += 1
  base = np.asarray(times["pass"])
  out = {"size": size, "leaves": leaves, "steps": steps, "rounds": rounds,
         "burn_in": burn_in, "pass_ms": 1e3 * float(np.median(base))}
  for name in ("old", "new"):
    r = np.asarray(times[name]) / base
    out[name] = {"ratio": float(np.median(r)), "q25": float(np.percentile(r, 25)),
                 "q75": float(np.percentile(r, 75)),
                 "median_ms": 1e3 * float(np.median(times[name]))}
  paired = np.asarray(times["new"]) / np.asarray(times["old"])
  out["new_over_old"] = {"ratio": float(np.median(paired)),
                         "q25": float(np.percentile(paired, 25)),
                         "q75": float(np.percentile(paired, 75)), "pairs": len(paired)}
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rev", required=True, help="git revision of the older selection")
  parser.add_argument("--size", type=int, default=25_000_000)
  parser.add_argument("--leaves", type=int, nargs="+", default=[1],
                      help="split the weights into this many equal leaves (one global group)")
  parser.add_argument("--steps", type=int, default=16)
  parser.add_argument("--rounds", type=int, default=6)
  parser.add_argument("--burn-in", type=int, default=8,
                      help="updates run (untimed) before the timed chain")
  args = parser.parse_args(argv)
  old = load_revision(args.rev)
  results = []
  for leaves in args.leaves:
    res = compare(old, current_selection, args.size, leaves, args.steps, args.rounds,
                  args.burn_in)
    results.append(res)
    p = res["new_over_old"]
    print(f"N = {args.size:,} in {leaves} leaf(s), {args.steps} chained steps x "
          f"{args.rounds} rounds (pass = {res['pass_ms']:.2f} ms): old ({args.rev}) "
          f"{res['old']['ratio']:.1f}x [{res['old']['q25']:.1f}, {res['old']['q75']:.1f}], "
          f"new {res['new']['ratio']:.1f}x [{res['new']['q25']:.1f}, "
          f"{res['new']['q75']:.1f}] one elementwise pass; paired new/old "
          f"{p['ratio']:.3f} [{p['q25']:.3f}, {p['q75']:.3f}] over {p['pairs']} pairs")
  print(json.dumps({"rev": args.rev, "jax": jax.__version__, "results": results}))


if __name__ == "__main__":
  sys.exit(main())

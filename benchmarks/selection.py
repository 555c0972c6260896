"""Micro-benchmark of the selection methods and of SWD's overhead in a training step.

Part 1 times, at N = 0.27M, 11M and 25M float32 weights in one leaf at sparsity 0.9,
each way of finding the mask, and the whole `swd` update, as a ratio to one elementwise
pass `jnp.sum(jnp.abs(w))` over the same array. Candidates are interleaved (one call of
each per round) so that the machine's noise hits all of them alike; we report the median
ratio and the 25-75% range over rounds. The whole update is timed from one warm state,
and over chains of consecutive updates (a random step of the weights between them, each
update starting from the state the last one left): the 8 steps right after the cold
start, and 16 steady steps after ``--steady-after`` (200) more; rounds cycle through a
chain. The update rows
run twice, side by side: with the default ``selection="auto"`` (from 2^20 weights in one
group, a list of candidates near the threshold proposes it and one count checks it; see
``optax_swd/_src/tracking.py``) and, suffixed ``_search``, with ``selection="search"``
(the counting search from the last threshold alone).

Part 2 times a ResNet-20 (CIFAR, 16 maps, 0.27M params) training step at batch 128 with
`optax.sgd` and with `optax.chain(swd, optax.sgd)`, interleaved, and reports the overhead.

Part 3 (``--passes STEPS``) counts, for a chain of STEPS consecutive warm updates after
``--steady-after`` others, the
full passes over the weights each update's selection makes before writing the masks
(counting probes, the end game's min/max pass, tie passes; not the tracked list's own
work on its candidates, nor its refresh of 1/128 of the weights): the number that the
timings above follow, free of the machine's noise; for both selections.

Run: python -m benchmarks.selection [--sizes 270000 11000000 25000000] [--rounds 9]
     [--passes 30]
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
import optax

import optax_swd
from optax_swd._src import selection as selection_lib


def _timed(fn, *args):
  start = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return time.perf_counter() - start


def _interleaved(candidates: dict, rounds: int, slow: frozenset = frozenset(),
                 slow_rounds: int = 3):
  """Runs each candidate once per round (after one warm-up call); returns seconds lists.

  A candidate is ``(fn, args)``, or ``(fn, make_args)`` with ``make_args()`` building
  fresh arguments before each (untimed) call, for functions that donate their inputs.
  """
  def arguments(args):
    if callable(args):
      args = args()
      jax.block_until_ready(args)
    return args

  for fn, args in candidates.values():
    jax.block_until_ready(fn(*arguments(args)))
  times = {name: [] for name in candidates}
  for r in range(rounds):
    for name, (fn, args) in candidates.items():
      if name in slow and r >= slow_rounds:
        continue
      times[name].append(_timed(fn, *arguments(args)))
  return times


def _summary(times, base):
  """Median ratio to the base and its 25-75% range, pairing each round with its base."""
  out = {}
  for name, ts in times.items():
    ratios = np.asarray(ts) / np.asarray(base[:len(ts)])
    out[name] = {
        "median_ms": 1e3 * float(np.median(ts)),
        "ratio": float(np.median(ratios)),
        "ratio_q25": float(np.percentile(ratios, 25)),
        "ratio_q75": float(np.percentile(ratios, 75)),
        "rounds": len(ts),
    }
  return out


def selection_costs(n: int, sparsity: float, rounds: int, with_top_k: bool,
                    steady_after: int = 200):
  """Ratios of each selection method (and the full swd update) to one elementwise pass."""
  key_w, key_g, key_d = jax.random.split(jax.random.PRNGKey(0), 3)
  w = 0.05 * jax.random.normal(key_w, (n,), jnp.float32)
  grads = 1e-3 * jax.random.normal(key_g, (n,), jnp.float32)
  # The previous step's weights: one small SGD-like move away.
  w_prev = w + 5e-5 * jax.random.normal(key_d, (n,), jnp.float32)
  k = int(np.floor(sparsity * n))

  def select_fn(method):
    def fn(x, previous):
      th = selection_lib.select([x], [0], 1, [k], method=method, previous=previous)
      return selection_lib.leaf_masks([x], [0], th)[0]
    return jax.jit(fn)

  prev_th = selection_lib.select([w_prev], [0], 1, [k], method="search").lo
  zero = jnp.zeros((1,), jnp.float32)
  params, g = {"w": w}, {"w": grads}

  def update_candidates(selection):
    """The swd update with this selection: one warm step and chains of steps."""
    tx = optax_swd.swd(sparsity, total_steps=1000, prunable={"w": True},
                       selection=selection)
    state = tx.init({"w": w_prev})
    _, warm_state = tx.update(g, state, {"w": w_prev})
    update = jax.jit(tx.update)
    # Inside a jitted train step the gradient and state buffers are reused in place; the
    # same update with them donated measures that (fresh copies are made untimed).
    update_donated = jax.jit(tx.update, donate_argnums=(0, 1))
    fresh = lambda: (jax.tree.map(jnp.copy, g), jax.tree.map(jnp.copy, warm_state), params)
    # A chain of consecutive steps, as in training: each update starts from the state
    # the previous one left (threshold, slope, candidate list), after one small random
    # move of the weights. Rounds cycle through it, so the median covers easy and hard
    # steps alike (e.g. the k-th and (k+1)-th weights tied, frequent at 25M float32
    # values). The first 8 steps follow the cold start; the steady chain is the 16 steps
    # after ``steady_after`` (a training run spends nearly all its steps past the
    # transient, and the tracked list only reaches its steady state once every slice has
    # been refreshed a few times: 64 updates each).
    early, steady, chain_state, chain_w = [], [], warm_state, w
    key_c = jax.random.PRNGKey(1)
    for t in range(steady_after + 16):
      key_c, sub = jax.random.split(key_c)
      chain_w = chain_w + 5e-5 * jax.random.normal(sub, (n,), jnp.float32)
      if t < 8 or t >= steady_after:
        (early if t < 8 else steady).append(({"w": chain_w}, chain_state))
      _, chain_state = update({"w": grads}, chain_state, {"w": chain_w})

    def cycling(steps):
      position = iter(range(10**9))

      def fresh_step():
        step_params, step_state = steps[next(position) % len(steps)]
        return jax.tree.map(jnp.copy, g), jax.tree.map(jnp.copy, step_state), step_params
      return fresh_step

    suffix = "" if selection == "auto" else f"_{selection}"
    out = {
        f"swd_update_donated{suffix}": (update_donated, fresh),
        f"swd_update_chain_donated{suffix}": (update_donated, cycling(early)),
        f"swd_update_steady_donated{suffix}": (update_donated, cycling(steady)),
    }
    if selection == "auto":
      out = {"swd_update_warm": (update, (g, warm_state, params)), **out}
    return out

  elementwise = jax.jit(lambda x: jnp.sum(jnp.abs(x)))
  candidates = {
      "elementwise_pass": (elementwise, (w,)),
      "search_warm": (select_fn("search"), (w, prev_th)),
      "search_cold": (select_fn("search"), (w, zero)),
      "bisect": (select_fn("bisect"), (w, zero)),
      **update_candidates("auto"),
      **update_candidates("search"),
      "sgd_like_update": (jax.jit(lambda g, w: g + 5e-4 * w), (grads, w)),
      "sgd_like_donated": (jax.jit(lambda g, w: g + 5e-4 * w, donate_argnums=0),
                           lambda: (jnp.copy(grads), w)),
  }
  if with_top_k:
    candidates["top_k"] = (select_fn("top_k"), (w, zero))
  times = _interleaved(candidates, rounds, slow=frozenset({"top_k"}))
  # Exactness check on the way: all methods give the same mask.
  masks = {m: np.asarray(select_fn(m)(w, zero)) for m in (
      ("search", "bisect", "top_k") if with_top_k else ("search", "bisect"))}
  ref = next(iter(masks.values()))
  assert all((m == ref).all() for m in masks.values()), "methods disagree"
  assert int(ref.sum()) == k
  summary = _summary(times, times["elementwise_pass"])
  # The default against the plain search, round by round (the same step of the same
  # chain in each round): the side-by-side speed-up of the tracked selection.
  for name in [n for n in times if f"{n}_search" in times]:
    paired = _summary({name: times[name]}, times[f"{name}_search"])[name]
    summary[f"{name}/search"] = {k: v for k, v in paired.items() if k != "median_ms"}
  return summary


def step_overhead(rounds: int, batch: int = 128):
  """ResNet-20 train step: plain SGD vs SWD + SGD, interleaved."""
  from benchmarks import models  # pylint: disable=import-outside-toplevel

  model = models.ResNet20(num_classes=10, width=16)
  x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, 32, 32, 3)), jnp.float32)
  y = jnp.asarray(np.random.default_rng(1).integers(0, 10, batch))
  variables = model.init(jax.random.PRNGKey(0), x, train=False)
  params, batch_stats = variables["params"], variables["batch_stats"]

  def make_step(tx):
    def loss_fn(p, bs):
      logits, new_state = model.apply({"params": p, "batch_stats": bs}, x, train=True,
                                      mutable=["batch_stats"])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
      return loss, new_state["batch_stats"]

    @jax.jit
    def step(p, bs, opt_state):
      (loss, bs), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, bs)
      updates, opt_state = tx.update(grads, opt_state, p)
      return optax.apply_updates(p, updates), bs, opt_state, loss
    return step, tx.init(params)

  sgd = optax.chain(optax.add_decayed_weights(5e-4), optax.sgd(0.1, momentum=0.9))
  swd = optax.chain(optax.add_decayed_weights(5e-4), optax_swd.swd(0.9, total_steps=1000),
                    optax.sgd(0.1, momentum=0.9))
  step_sgd, st_sgd = make_step(sgd)
  step_swd, st_swd = make_step(swd)
  # Warm the SWD state so the search starts from a previous threshold, as in training.
  p_swd, bs_swd, st_swd, _ = step_swd(params, batch_stats, st_swd)
  candidates = {
      "sgd_step": (step_sgd, (params, batch_stats, st_sgd)),
      "swd_sgd_step": (step_swd, (p_swd, bs_swd, st_swd)),
  }
  # The SWD update alone on the same params and gradients: a direct bound on its cost.
  swd_alone = optax_swd.swd(0.9, total_steps=1000)
  grads = jax.tree.map(lambda p: 1e-3 * jnp.ones_like(p), params)
  _, swd_state = swd_alone.update(grads, swd_alone.init(params), params)
  candidates["swd_update_alone"] = (jax.jit(swd_alone.update), (grads, swd_state, params))
  times = _interleaved(candidates, rounds)
  summary = _summary(times, times["sgd_step"])
  n_params = sum(int(np.size(l)) for l in jax.tree.leaves(params))
  summary["params"] = n_params
  return summary


# The private functions of the search that each read every weight once.
_PASSES = {"count": "_side_counts", "window count": "_window_counts",
           "chunked count": "_count_less", "min/max": "_extremes",
           "tie index": "_tied_extreme_index", "tie search": "_count_ties_before"}


def pass_counts(n: int, sparsity: float, steps: int, noise: float = 5e-5,
                selection: str = "auto", burn_in: int = 0):
  """Passes over the weights per warm swd update, over a chain of ``steps`` updates.

  The chain is the timed one's: weights ``0.05 N(0, 1)``, each step adds ``noise N(0, 1)``.
  Each pass function is wrapped with a host callback that counts its calls at run time
  when they read all ``n`` weights (the tracked selection's search among its candidates
  calls the same functions on a small array).
  """
  seen = collections.Counter()

  def counted(name, fn):
    def wrapper(*args, **kwargs):
      out = fn(*args, **kwargs)
      leaves = selection_lib._as_leaves(args[0])  # pylint: disable=protected-access
      if sum(leaf.size for leaf in leaves) == n:
        jax.debug.callback(lambda: seen.update([name]))
      return out
    return wrapper

  patches = [mock.patch.object(selection_lib, attr, counted(name, getattr(selection_lib, attr)))
             for name, attr in _PASSES.items()]
  for patch in patches:
    patch.start()
  try:
    key_w, key_g, key_c = jax.random.split(jax.random.PRNGKey(0), 3)
    w = 0.05 * jax.random.normal(key_w, (n,), jnp.float32)
    grads = {"w": 1e-3 * jax.random.normal(key_g, (n,), jnp.float32)}
    tx = optax_swd.swd(sparsity, total_steps=1000, prunable={"w": True},
                       selection=selection)
    update = jax.jit(tx.update)
    _, state = update(grads, tx.init({"w": w}), {"w": w})  # the cold start, not counted
    jax.block_until_ready(state)
    jax.effects_barrier()
    per_step = []
    for t in range(burn_in + steps):
      key_c, sub = jax.random.split(key_c)
      w = w + noise * jax.random.normal(sub, (n,), jnp.float32)
      seen.clear()
      _, state = update(grads, state, {"w": w})
      jax.block_until_ready(state)
      jax.effects_barrier()
      if t >= burn_in:
        per_step.append(dict(seen))
  finally:
    for patch in patches:
      patch.stop()
  totals = [sum(c.values()) for c in per_step]
  kinds = collections.Counter()
  for c in per_step:
    kinds.update(c)
  return {"steps": steps, "mean": float(np.mean(totals)), "min": int(min(totals)),
          "max": int(max(totals)), "histogram": dict(sorted(collections.Counter(totals).items())),
          "by_kind_mean": {k: v / steps for k, v in sorted(kinds.items())}}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--sizes", type=int, nargs="+", default=[270_000, 11_000_000, 25_000_000])
  parser.add_argument("--sparsity", type=float, default=0.9)
  parser.add_argument("--rounds", type=int, default=9)
  parser.add_argument("--step-rounds", type=int, default=15)
  parser.add_argument("--no-top-k", action="store_true")
  parser.add_argument("--no-step", action="store_true")
  parser.add_argument("--passes", type=int, default=0, metavar="STEPS",
                      help="also count the passes per warm update over a chain of STEPS")
  parser.add_argument("--steady-after", type=int, default=200, metavar="STEPS",
                      help="the steady chain (and --passes) starts after STEPS updates")
  parser.add_argument("--no-timing", action="store_true",
                      help="skip parts 1 and 2 (with --passes: count only)")
  args = parser.parse_args(argv)
  results = {"device": str(jax.devices()[0]), "jax": jax.__version__, "selection": {}}
  for n in args.sizes if args.passes else []:
    for selection in ("auto", "search"):
      res = pass_counts(n, args.sparsity, args.passes, selection=selection,
                        burn_in=args.steady_after)
      results.setdefault("passes", {}).setdefault(selection, {})[n] = res
      print(f"N = {n:,}, selection={selection!r}: passes over the weights per warm update "
            f"over {res['steps']} steps: mean {res['mean']:.2f}, min {res['min']}, max "
            f"{res['max']}; histogram {res['histogram']}; per kind {res['by_kind_mean']}")
  for n in [] if args.no_timing else args.sizes:
    res = selection_costs(n, args.sparsity, args.rounds, with_top_k=not args.no_top_k,
                          steady_after=args.steady_after)
    results["selection"][n] = res
    print(f"\nN = {n:,}  (ratio to one elementwise pass, median [q25, q75]; "
          f"pass = {res['elementwise_pass']['median_ms']:.2f} ms)")
    for name, r in res.items():
      if name.endswith("/search"):
        print(f"  {name:34s} {r['ratio']:6.2f} [{r['ratio_q25']:.2f}, "
              f"{r['ratio_q75']:.2f}]  paired  ({r['rounds']} rounds)")
        continue
      print(f"  {name:34s} {r['ratio']:6.1f}x [{r['ratio_q25']:.1f}, {r['ratio_q75']:.1f}]"
            f"  {r['median_ms']:9.2f} ms  ({r['rounds']} rounds)")
  if not (args.no_step or args.no_timing):
    res = step_overhead(args.step_rounds)
    results["step"] = res
    r = res["swd_sgd_step"]
    print(f"\nResNet-20 ({res['params']:,} params) train step, batch 128: sgd "
          f"{res['sgd_step']['median_ms']:.1f} ms, swd+sgd {r['median_ms']:.1f} ms, "
          f"ratio {r['ratio']:.4f} [{r['ratio_q25']:.4f}, {r['ratio_q75']:.4f}]; "
          f"the swd update alone {res['swd_update_alone']['median_ms']:.2f} ms = "
          f"{res['swd_update_alone']['ratio']:.4f} of the sgd step")
  print(json.dumps(results))


if __name__ == "__main__":
  main()

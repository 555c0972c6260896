"""The tracked selection (``selection="auto"`` on one large group): exact at every step,
and cheap when the weights move little.

The size from which tracking is used is lowered here so that small arrays take that
path (the library's default is 2^20 prunable weights).
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_swd
from optax_swd._src import selection
from optax_swd._src import tracking
from tests import reference


_LIBRARY_MIN_SIZE = tracking._MIN_SIZE  # pylint: disable=protected-access


@pytest.fixture(autouse=True)
def track_small_groups(monkeypatch):
  monkeypatch.setattr(tracking, "_MIN_SIZE", 1)


def _leaves(rng, sizes, scale=0.05):
  return {f"l{i}": jnp.asarray(scale * rng.standard_normal(s), jnp.float32)
          for i, s in enumerate(sizes)}


def _chain(rng, params, steps, noise, jump_every=0, quantum=None):
  """Weights of consecutive updates: small random moves, sometimes a large jump, and
  optionally rounded to a grid (many ties)."""
  out = []
  for t in range(steps):
    scale = 50 * noise if jump_every and t % jump_every == jump_every - 1 else noise
    params = {name: w + scale * rng.standard_normal(w.shape).astype(np.float32)
              for name, w in params.items()}
    if quantum:
      params = {name: jnp.round(w / quantum) * quantum for name, w in params.items()}
    out.append(params)
  return out


def test_default_tracks_only_one_large_group():
  params = {"a": jnp.ones((4, 8)), "b": jnp.ones((8, 2))}
  assert isinstance(optax_swd.swd(0.5, total_steps=9).init(params).tracked,
                    tracking.Tracked)
  assert optax_swd.swd(0.5, total_steps=9, scope="layer").init(params).tracked == ()
  assert optax_swd.swd(0.5, total_steps=9, selection="search").init(params).tracked == ()


def test_library_default_size(monkeypatch):
  monkeypatch.setattr(tracking, "_MIN_SIZE", _LIBRARY_MIN_SIZE)
  assert _LIBRARY_MIN_SIZE == 1 << 20
  assert not tracking.applies([1 << 19, (1 << 19) - 1], 1)
  assert tracking.applies([1 << 19, 1 << 19], 1)
  assert not tracking.applies([1 << 21, 1 << 21], 2)


@pytest.mark.parametrize("seed,sizes,quantum", [
    (1, [700, 5, 2048, 131], None),
    (2, [2400], 2e-4),   # many exact ties at the threshold
])
def test_masks_match_the_reference_at_every_step(seed, sizes, quantum):
  rng = np.random.default_rng(seed)
  params = _leaves(rng, sizes)
  sparsity = 0.9
  tx = optax_swd.swd(sparsity, total_steps=100, prunable=lambda p: jax.tree.map(
      lambda _: True, p))
  update = jax.jit(tx.update)
  state = tx.init(params)
  grads = jax.tree.map(jnp.zeros_like, params)
  names = sorted(params)
  for p in [params] + _chain(rng, params, 40, 2e-4, jump_every=13, quantum=quantum):
    _, state = update(grads, state, p)
    want = reference.select_smallest([p[n] for n in names], sparsity)
    got = [np.asarray(state.masks[n]) for n in names]
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g, w)
  assert float(state.tracked.half_width) > 0
  assert int(jnp.sum(state.tracked.index >= 0)) > 0


def _count_passes():
  """Patches the functions that read every weight; returns the counter they update."""
  seen = collections.Counter()
  for name in ("_count_below", "_search_threshold"):
    fn = getattr(selection, name)

    def counted(*args, _fn=fn, _name=name, **kwargs):
      out = _fn(*args, **kwargs)
      flats = selection._as_leaves(args[0])  # pylint: disable=protected-access
      if sum(f.size for f in flats) > 10_000:  # the weights, not the candidates
        jax.debug.callback(lambda: seen.update([_name]))
      return out
    pytest.MonkeyPatch().setattr(selection, name, counted)
  return seen


def test_a_warm_update_usually_costs_one_count_and_no_search():
  rng = np.random.default_rng(3)
  params = _leaves(rng, [60_000, 20_000])
  seen = _count_passes()
  try:
    tx = optax_swd.swd(0.9, total_steps=100, prunable={"l0": True, "l1": True})
    update = jax.jit(tx.update)
    grads = jax.tree.map(jnp.zeros_like, params)
    _, state = update(grads, tx.init(params), params)  # the cold start builds the list
    jax.effects_barrier()
    steps, counts, searches = 30, 0, 0
    for p in _chain(rng, params, steps, 5e-5):
      seen.clear()
      _, state = update(grads, state, p)
      jax.effects_barrier()
      counts += seen["_count_below"]
      searches += seen["_search_threshold"]
  finally:
    pytest.MonkeyPatch().undo()
    jax.clear_caches()
  # One count per update, two on a tie (about a third of the updates here); the plain
  # search (several passes) only when the list's proposals both miss.
  assert counts / steps <= 1.8, (counts, searches)
  assert searches <= 3, (counts, searches)


@pytest.mark.parametrize("options", [
    dict(min_kept=50, score="layer_normalized"),
    dict(sparsity=optax_swd.gradual_sparsity(0.95, 0, 30)),
])
def test_same_masks_as_the_plain_search(options):
  rng = np.random.default_rng(4)
  params = {"a": jnp.asarray(rng.standard_normal((40, 60)) * 0.1, jnp.float32),
            "b": jnp.asarray(rng.standard_normal((30, 20)) * 1.0, jnp.float32)}
  options = dict(options)
  sparsity = options.pop("sparsity", 0.9)
  txs = [optax_swd.swd(sparsity, total_steps=50, selection=s, **options)
         for s in ("auto", "search")]
  assert isinstance(txs[0].init(params).tracked, tracking.Tracked)
  updates = [jax.jit(tx.update) for tx in txs]
  states = [tx.init(params) for tx in txs]
  grads = jax.tree.map(jnp.zeros_like, params)
  for p in [params] + _chain(rng, params, 35, 1e-3, jump_every=11):
    states = [u(grads, s, p)[1] for u, s in zip(updates, states)]
    for name in params:
      np.testing.assert_array_equal(states[0].masks[name], states[1].masks[name])


def test_nan_weights_give_nan_then_the_list_recovers():
  rng = np.random.default_rng(5)
  params = _leaves(rng, [2000])
  tx = optax_swd.swd(0.8, total_steps=10, prunable={"l0": True})
  update = jax.jit(tx.update)
  grads = jax.tree.map(jnp.zeros_like, params)
  _, state = update(grads, tx.init(params), params)
  bad = {"l0": params["l0"].at[7].set(jnp.nan)}
  out, state = update(grads, state, bad)
  assert np.isnan(np.asarray(out["l0"])).any() and np.isnan(float(state.penalty))
  _, state = update(grads, state, params)
  np.testing.assert_array_equal(state.masks["l0"],
                                reference.select_smallest([params["l0"]], 0.8)[0])


def test_inject_hyperparams_and_an_optimizer_chain():
  rng = np.random.default_rng(6)
  params = _leaves(rng, [500, 300])
  tx = optax.chain(
      optax.add_decayed_weights(5e-4),
      optax.inject_hyperparams(optax_swd.swd)(sparsity=0.75, total_steps=20,
                                              prunable={"l0": True, "l1": True}),
      optax.sgd(0.1, momentum=0.9))
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    grads = jax.tree.map(lambda w: 0.01 * jnp.sin(w * 30.0), params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  for _ in range(20):
    # The masks are chosen from the params before the step's update.
    want = reference.select_smallest([params["l0"], params["l1"]], 0.75)
    params, state = step(params, state)
    masks = state[1].inner_state.masks
    np.testing.assert_array_equal(masks["l0"], want[0])
    np.testing.assert_array_equal(masks["l1"], want[1])
  assert isinstance(state[1].inner_state.tracked, tracking.Tracked)


def test_a_list_that_cannot_keep_up_stops_proposing():
  # Weights that jump far at every update: the list's proposals miss, so after such an
  # update it proposes (and counts) only every _RETRY_EVERY-th one; masks stay exact.
  rng = np.random.default_rng(7)
  params = _leaves(rng, [30_000])
  seen = _count_passes()
  try:
    tx = optax_swd.swd(0.9, total_steps=100, prunable={"l0": True})
    update = jax.jit(tx.update)
    grads = jax.tree.map(jnp.zeros_like, params)
    _, state = update(grads, tx.init(params), params)
    counted_steps = []
    for p in _chain(rng, params, 12, 0.02):
      seen.clear()
      count_before = int(state.count)
      missed_before = int(state.tracked.missed)
      _, state = update(grads, state, p)
      jax.effects_barrier()
      np.testing.assert_array_equal(
          state.masks["l0"], reference.select_smallest([p["l0"]], 0.9)[0])
      if missed_before and count_before % tracking._RETRY_EVERY:  # pylint: disable=protected-access
        counted_steps.append(seen["_count_below"])
  finally:
    pytest.MonkeyPatch().undo()
    jax.clear_caches()
  assert int(state.tracked.missed) > 0
  assert counted_steps and not any(counted_steps)

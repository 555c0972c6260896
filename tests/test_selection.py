"""Exactness of every selection method against a sort-based reference."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from optax_swd._src import selection

METHODS = selection.METHODS


def _select(arrays, k, method, scope="global", previous=None, ties="index"):
  flats = [jnp.asarray(a).reshape(-1) for a in arrays]
  if scope == "global":
    groups, n_groups, ks = [0] * len(flats), 1, [k]
  else:
    groups, n_groups, ks = list(range(len(flats))), len(flats), k
  th = selection.select(flats, groups, n_groups, ks, method=method, previous=previous,
                        ties=ties)
  return [np.asarray(m) for m in selection.leaf_masks(flats, groups, th)], th


def _select_many(arrays, ks, method):
  """Global masks for each k in ks; for the counting methods k is traced, so one
  compilation serves every k (the static-k path is what swd's updates exercise)."""
  flats = [jnp.asarray(a).reshape(-1) for a in arrays]
  groups = [0] * len(flats)
  if method == "top_k":
    return [np.concatenate(_select(arrays, k, method)[0]) for k in ks]

  @jax.jit
  def masks(k):
    th = selection.select(flats, groups, 1, k.reshape(1), method=method)
    return jnp.concatenate(selection.leaf_masks(flats, groups, th))
  return [np.asarray(masks(jnp.int32(k))) for k in ks]


def _reference(arrays, k):
  flat = np.concatenate([np.abs(np.asarray(a, np.float32)).ravel() for a in arrays])
  mask = np.zeros(flat.size, bool)
  mask[np.argsort(flat, kind="stable")[:k]] = True
  return mask


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(3))
def test_matches_reference_on_random_leaves(method, seed):
  rng = np.random.default_rng(seed)
  sizes = rng.integers(1, 400, size=rng.integers(1, 5))
  arrays = [rng.standard_normal(s).astype(np.float32) * rng.choice([1e-4, 1.0, 30.0])
            for s in sizes]
  n = int(sum(sizes))
  ks = sorted({0, 1, n // 2, int(0.9 * n), n - 1})
  for k, got in zip(ks, _select_many(arrays, ks, method)):
    assert got.sum() == k
    np.testing.assert_array_equal(got, _reference(arrays, k))


@pytest.mark.parametrize("method", METHODS)
def test_ties_go_to_the_lowest_index(method):
  # Values with many exact ties, including exact zeros as after a hard prune.
  a = np.array([0.0, 2.0, 0.0, 1.0, 1.0, 0.0, 1.0, 2.0, 1.0], np.float32)
  b = np.array([1.0, 0.0, 1.0], np.float32)
  ks = range(a.size + b.size)
  for k, got in zip(ks, _select_many([a, b], ks, method)):
    np.testing.assert_array_equal(got, _reference([a, b], k))


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("index_bits", [24, 4])
def test_ties_across_leaves_and_chunks_every_k(monkeypatch, scope, index_bits):
  # Few distinct values, so the k-th score is tied for most k: taking one tied entry
  # (the first, by a min-index pass), all but one (the last, by a max-index pass), or
  # any other number (the index search). Chunks of 64 entries exercise the in-chunk
  # float32 index and the offsets between chunks and leaves; with 4 index bits the
  # index pass sees only blocks of 16 entries (as it sees pairs in a leaf of 25M) and
  # must find the entry in the blocks around.
  monkeypatch.setattr(selection, "_CHUNK", 64)
  monkeypatch.setattr(selection, "_INDEX_BITS", index_bits)
  rng = np.random.default_rng(3)
  arrays = [(rng.integers(1, 6, size) * rng.choice([-0.25, 0.25], size)).astype(np.float32)
            for size in (150, 97)]
  flats = [jnp.asarray(a) for a in arrays]
  groups, n_groups = ([0, 0], 1) if scope == "global" else ([0, 1], 2)

  @jax.jit
  def masks_for(ks):  # a traced k: one compilation for every k
    th = selection.select(flats, groups, n_groups, ks, method="search")
    return selection.leaf_masks(flats, groups, th), th.ok

  for k in range(0, 248, 3) if scope == "global" else range(0, 151, 3):
    ks = [k] if scope == "global" else [k, k * 97 // 150]
    masks, ok = masks_for(jnp.asarray(ks, jnp.int32))
    assert bool(np.all(np.asarray(ok)))
    if scope == "global":
      np.testing.assert_array_equal(np.concatenate(masks), _reference(arrays, k))
    else:
      for m, a, kk in zip(masks, arrays, ks):
        np.testing.assert_array_equal(np.asarray(m), _reference([a], kk))


@pytest.mark.parametrize("method", METHODS)
def test_all_equal_weights_select_exactly_k_lowest_indices(method):
  a = np.full((7, 5), 0.25, np.float32)
  masks, _ = _select([a], 12, method)
  assert masks[0].sum() == 12
  np.testing.assert_array_equal(masks[0].ravel(), np.arange(35) < 12)


def test_ties_below_policy_selects_at_most_k_and_exact_without_ties():
  a = np.array([0.0, 0.0, 0.0, 3.0, 1.0], np.float32)
  masks, _ = _select([a], 2, "search", ties="below")
  assert masks[0].sum() == 0  # the three tied zeros straddle k=2: none is taken
  rng = np.random.default_rng(0)
  x = rng.standard_normal(1000).astype(np.float32)
  masks, _ = _select([x], 900, "search", ties="below")
  np.testing.assert_array_equal(masks[0], _reference([x], 900))


@pytest.mark.parametrize("method", METHODS)
def test_layer_scope_selects_per_leaf(method):
  rng = np.random.default_rng(1)
  arrays = [rng.standard_normal(s).astype(np.float32) for s in (10, 50, 333)]
  ks = [math.floor(0.7 * a.size) for a in arrays]
  masks, _ = _select(arrays, ks, method, scope="layer")
  for a, m, k in zip(arrays, masks, ks):
    np.testing.assert_array_equal(m, _reference([a], k))


def test_warm_start_from_any_previous_threshold_is_still_exact():
  rng = np.random.default_rng(2)
  x = rng.standard_normal(5000).astype(np.float32)
  k = 4000
  for previous in [1e-30, 1e-3, 0.5, 1.28, 3.0, 1e30]:
    masks, th = _select([x], k, "search", previous=jnp.array([previous], jnp.float32))
    np.testing.assert_array_equal(masks[0], _reference([x], k))


def test_nan_scores_are_reported():
  x = jnp.array([1.0, jnp.nan, 0.5, 2.0])
  _, th = _select([x], 2, "search")
  assert not bool(th.ok[0])


def test_search_is_jittable_with_a_traced_k():
  x = jnp.asarray(np.random.default_rng(3).standard_normal(1000), jnp.float32)

  @jax.jit
  def f(x, k):
    th = selection.select([x], [0], 1, jnp.reshape(k, (1,)), method="search")
    return selection.leaf_masks([x], [0], th)[0]

  for k in (0, 10, 999):
    np.testing.assert_array_equal(np.asarray(f(x, k)), _reference([np.asarray(x)], k))


_PROPERTY_SIZE = 64


@jax.jit
def _search_masks(x, k):
  th = selection.select([x], [0], 1, jnp.reshape(k, (1,)), method="search")
  return selection.leaf_masks([x], [0], th)[0]


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.floats(-1e6, 1e6, width=32, allow_subnormal=False),
                  min_size=_PROPERTY_SIZE, max_size=_PROPERTY_SIZE),
    frac=st.floats(0.0, 0.999))
def test_property_exact_count_and_smallest(data, frac):
  x = np.asarray(data, np.float32)
  k = int(math.floor(frac * x.size))
  got = np.asarray(_search_masks(jnp.asarray(x), k))
  np.testing.assert_array_equal(got, _reference([x], k))


@jax.jit
def _warm_step(x, y, previous, slope):
  flats = [x, y]
  th = selection.select(flats, [0, 0], 1, [15_000], method="search", previous=previous,
                        previous_slope=slope)
  return selection.leaf_masks(flats, [0, 0], th), th


@pytest.mark.parametrize("grid", [None, 2.0**-9, 2.0**-12])
def test_warm_chain_matches_the_reference_with_and_without_ties(grid):
  # As inside training: each selection starts from the previous one's threshold and
  # slope, after a small move of the weights. On a coarse grid, the k-th and (k+1)-th
  # scores are often tied, which the end game of the search has to detect.
  rng = np.random.default_rng(7)
  x, y = rng.standard_normal(12_000), 0.3 * rng.standard_normal(8_000)
  previous, slope = jnp.zeros((1,), jnp.float32), jnp.zeros((1,), jnp.float32)
  ties_seen = 0
  for step in range(12):
    x = x + 1e-3 * rng.standard_normal(x.shape)
    y = y + 1e-3 * rng.standard_normal(y.shape)
    xs, ys = (np.round(a / grid) * grid if grid else a for a in (x, y))
    xs, ys = xs.astype(np.float32), ys.astype(np.float32)
    masks, th = _warm_step(jnp.asarray(xs), jnp.asarray(ys), previous, slope)
    ref = _reference([xs, ys], 15_000)
    np.testing.assert_array_equal(np.concatenate([np.asarray(m) for m in masks]), ref)
    assert bool(th.ok[0])
    ties_seen += int(th.hi[0] > th.lo[0])
    previous, slope = th.lo, th.slope
  if grid == 2.0**-9:
    assert ties_seen > 0  # the case the test is for did occur


@pytest.mark.parametrize("offset", [-3, -2, -1, 1, 2, 3])
def test_search_ends_exactly_near_a_tie_from_either_side(offset):
  # Distinct values except the k-th and (k+1)-th, which are equal; the search starts
  # from the value `offset` places away from k, so it meets the tie from below and above.
  vals = np.arange(1, 2001, dtype=np.float32) * np.float32(1e-3)
  k = 1000
  vals[k] = vals[k - 1]  # 1-based: the k-th and (k+1)-th smallest are tied
  rng = np.random.default_rng(offset + 10)
  x = rng.permutation(vals) * rng.choice([-1, 1], vals.size).astype(np.float32)
  start = np.sort(np.abs(x))[k - 1 + offset]
  masks, th = _select([x], k, "search", previous=jnp.array([start], jnp.float32))
  np.testing.assert_array_equal(masks[0], _reference([x], k))
  assert int(masks[0].sum()) == k


@pytest.mark.parametrize("scale", [1.0, 1e-32])
def test_extremes_pass_finds_the_neighbours_of_a_threshold(scale):
  # The end game's min/max pass: the largest score below t is exact (a tie is inferred
  # from it), the smallest at or above t too here. Thresholds below 2^-100 (scale 1e-32)
  # take the two-multiply arithmetic, larger ones the one-multiply arithmetic.
  rng = np.random.default_rng(5)
  a = (rng.standard_normal(3001) * scale).astype(np.float32)
  b = (rng.standard_normal(77) * scale).astype(np.float32)
  s = np.abs(np.concatenate([a, b]))
  groups = selection._Groups([a.size, b.size], [0, 0], 1)
  leaves = [selection.Leaf(jnp.asarray(a)), selection.Leaf(jnp.asarray(b))]
  extremes = jax.jit(lambda t, above: selection._extremes(leaves, groups, t, above),
                     static_argnums=1)
  for t in [np.sort(s)[i] for i in (1, 700, 2500, 3070)] + [np.float32(0.37 * scale)]:
    t = np.float32(t)
    t_arr = jnp.asarray([t], jnp.float32)
    assert float(extremes(t_arr, True)[0]) == s[s >= t].min()
    assert float(extremes(t_arr, False)[0]) == s[s < t].max()

"""A warm exact selection that usually costs one counting pass: tracked candidates.

Between two SWD updates the weights move a little and the threshold (the k-th smallest
score) moves less. Only entries whose score lies near the threshold can change sides,
so this module keeps, from update to update, the positions of the entries whose score
was within a band ``[t - h, t + h]`` around the threshold: the candidates, about 1.2% of
the entries (in 2% of them as slots). Each update then

1. gathers the candidates' current scores (a small array, cheap to read at random);
2. finds, among them alone, the threshold that would select exactly k overall, assuming
   that the entries outside the list have not crossed it: ``below`` (carried in the
   state) of those lie under the band, so the candidates must supply ``k - below``;
3. checks that with one counting pass over all the weights. A count of exactly k (or,
   when the k-th and (k+1)-th scores are tied, the counts on both sides of the tied
   value, two passes, which prove that every tied entry is a candidate) makes the
   selection exact whatever the list missed. A wrong count corrects ``below`` for a
   second proposal, and after that the plain counting search of :mod:`selection` runs
   from the last one;
4. writes the masks (once, after the conditionals: XLA:CPU copies an array returned
   from a conditional branch);
5. refreshes one slice of the list: each leaf is cut into ``_SLICES`` slices, and this
   update re-scans slice ``count % _SLICES`` of every leaf for the entries now in the
   band (a compaction of 1/64 of the entries). So no candidate is more than 64
   updates old, and the band half-width ``h`` is rescaled so that the band fills about
   ``_FILL`` of the slots.

Why these sizes: an entry outside the band at its slice's refresh is missed if it
reaches the threshold before the next refresh, up to ``_SLICES`` updates later, so the
band must be several times wider than the distance a weight random-walks in that time.
With half as many slots, on the benchmark's chain (25M weights, steps of 5e-5 against
weights of 0.05), steady-state updates needed 3.7 passes on average (barely fewer than
the plain search's 4.5) because most first proposals missed by a few entries; with these
sizes, 1.3 (one count, two on the ties). When the proposals of an update all miss, the
next ones propose only every ``_RETRY_EVERY``-th update, so a list that cannot keep up
(weights moving much faster) costs its upkeep (~1.2 passes' time at 25M), not extra
counts.

The selection is exact in every case (the counts decide, the list only proposes); a
stale list costs time, never correctness. Ties go to the lowest index, as everywhere in
:mod:`selection`: the list holds each slice's entries in index order, so the candidates
are in group index order. The first update (no list yet) runs the plain search and
builds the whole list.

Used for one group (``scope="global"``, or one prunable leaf) of at least ``_MIN_SIZE``
entries, where the passes it saves dominate; smaller or several groups use the plain
search. A target that moves by more than the band in 64 updates (e.g. a fast
``gradual_sparsity`` ramp) leaves the proposals unusable, and the plain search runs.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from optax_swd._src import selection

_SLICES = 64           # a leaf's slices; one of each is refreshed per update
_SLOTS_PER_ENTRY = 1 / 48  # list slots per entry of a slice
_MIN_SLOTS = 2         # slots per slice, at least
_FILL = 0.6            # the fraction of the slots the band should fill
_ATTEMPTS = 2          # list proposals per update before the plain search
_RETRY_EVERY = 8       # after an update whose proposals all missed: propose once per 8
_MIN_SIZE = 1 << 20    # smaller groups use the plain search


class Tracked(NamedTuple):
  """The candidate list kept in the optimizer state.

  Attributes:
    index: int32 ``[M]``: per slot, the index inside its leaf of a candidate, or -1.
      The slots are laid out leaf by leaf, slice by slice, ``slots`` per slice.
    below: int32 ``[]``: how many entries outside the list scored below the threshold at
      the last update (so, if none crossed, below the band now).
    half_width: float32 ``[]``: the band half-width ``h`` for the next refresh (0 before
      the list is first built).
    missed: int32 ``[]``: how many updates in a row the list's proposals all missed
      (then it proposes only every ``_RETRY_EVERY``-th update, once, so that a list
      that cannot keep up costs little more than its upkeep).
  """
  index: jax.Array
  below: jax.Array
  half_width: jax.Array
  missed: jax.Array


class _Layout:
  """Static slicing of the leaves and the slot ranges of the list."""

  def __init__(self, sizes: Sequence[int]):
    self.sizes = tuple(int(n) for n in sizes)
    self.slice = tuple(max(1, -(-n // _SLICES)) for n in self.sizes)
    self.slots = tuple(max(_MIN_SLOTS, math.ceil(c * _SLOTS_PER_ENTRY)) for c in self.slice)
    starts, offsets, total, offset = [], [], 0, 0
    for n, s in zip(self.sizes, self.slots):
      starts.append(total)
      offsets.append(offset)
      total += _SLICES * s
      offset += n
    self.start = tuple(starts)   # first slot of each leaf
    self.offset = tuple(offsets)  # group index of each leaf's first entry
    self.total = total


def applies(sizes: Sequence[int], num_groups: int) -> bool:
  """Whether a selection over leaves of these sizes uses tracking."""
  return num_groups == 1 and sum(int(n) for n in sizes) >= _MIN_SIZE


def init(sizes: Sequence[int]) -> Tracked:
  """An empty list for leaves of these sizes (the first update builds it)."""
  return Tracked(jnp.full([_Layout(sizes).total], -1, jnp.int32), jnp.zeros([], jnp.int32),
                 jnp.zeros([], jnp.float32), jnp.zeros([], jnp.int32))


def _compact(band, slots: int):
  """Positions of the first ``slots`` True entries of ``band`` in order, then -1s."""
  n = band.shape[-1]
  rank = jnp.cumsum(band.astype(jnp.int32)) - 1
  target = jnp.where(band & (rank < slots), rank, slots)
  out = jnp.full((slots + 1,), -1, jnp.int32).at[target].set(
      lax.iota(jnp.int32, n), mode="drop")
  return out[:slots]


def _less(x, t):
  big, one = selection._constants()  # pylint: disable=protected-access
  return selection._less(x, t, big, one)  # pylint: disable=protected-access


def _candidates(flats, layout: _Layout, tracked: Tracked):
  """The candidates' current scores (+inf in empty slots) and group indices."""
  scores, index = [], []
  for leaf, start, slots, offset in zip(flats, layout.start, layout.slots, layout.offset):
    idx = tracked.index[start:start + _SLICES * slots]
    scores.append(leaf.score_at(idx))
    index.append(idx + offset)
  return jnp.concatenate(scores), jnp.concatenate(index)


def _propose(v, v_index, k, below, previous, slope):
  """The threshold the candidates give when ``below`` entries outside lie under it.

  Returns ``(usable, threshold, v_lo, v_hi)``: the Threshold over the whole group
  (its ``below``: the count under ``lo`` if the list is right), and how many candidates
  score under ``lo`` and under ``hi`` (equal without a tie). Unusable when the
  candidates cannot supply ``k - below`` with one to spare.
  """
  one = selection._Groups([v.shape[0]], [0], 1)  # pylint: disable=protected-access
  finite = jnp.sum(jnp.isfinite(v).astype(jnp.int32))
  r = k - below
  usable = (r >= 1) & (r < finite)
  r = jnp.clip(r, 1, jnp.maximum(finite - 1, 1))
  th = selection._search_threshold(  # pylint: disable=protected-access
      [selection.Leaf(v)], one, r.reshape(1), previous, secant=True, ties="index",
      eligible_counts=jnp.maximum(finite, 1).reshape(1), previous_slope=slope)
  lo, hi = th.lo[0], th.hi[0]
  # A tie: the candidates in [lo, hi) taken are those of slot < tie_index; in group
  # indices, those up to the last such slot.
  slot = lax.iota(jnp.int32, v.shape[0])
  taken = (_less(v, hi) - _less(v, lo) > 0.5) & (slot < th.tie_index[0])
  cut = jnp.where(hi > lo, jnp.max(jnp.where(taken, v_index, -1)) + 1, 0)
  v_lo = th.below[0]
  v_hi = jnp.sum(_less(v, hi)).astype(jnp.int32)
  threshold = selection.Threshold(th.lo, th.hi, cut.reshape(1), th.ok, th.slope,
                                  (below + v_lo).reshape(1))
  return usable & th.ok[0], threshold, v_lo, v_hi


def _in_band(scores, t, h):
  return jnp.abs(scores - t) <= h


def _refresh(flats, layout: _Layout, tracked: Tracked, v, t, below_t, step):
  """Re-scans slice ``step % _SLICES`` of every leaf; updates ``below`` and ``h``."""
  j = step % _SLICES
  index, h = tracked.index, tracked.half_width
  old_below = new_below = fill = jnp.int32(0)
  for leaf, size, width, slots, start in zip(flats, layout.sizes, layout.slice,
                                             layout.slots, layout.start):
    first = j * width
    at = jnp.minimum(first, size - width)  # the last slice may overlap the one before
    scores = leaf.score_window(at, width)
    band = _in_band(scores, t, h) & (at + lax.iota(jnp.int32, width) >= first)
    new = _compact(band, slots)
    new_scores = jnp.where(new >= 0, scores[jnp.maximum(new, 0)], jnp.float32(jnp.inf))
    seg = start + j * slots
    old_scores = lax.dynamic_slice_in_dim(v, seg, slots)
    old_below += jnp.sum(_less(old_scores, t)).astype(jnp.int32)
    new_below += jnp.sum(_less(new_scores, t)).astype(jnp.int32)
    fill += jnp.sum(band.astype(jnp.int32))
    index = lax.dynamic_update_slice_in_dim(index, jnp.where(new >= 0, at + new, -1), seg,
                                            0)
  in_list = jnp.sum(_less(v, t)).astype(jnp.int32) - old_below + new_below
  capacity = sum(layout.slots)
  # One slice's fill is a noisy estimate: move h a quarter of the way (in log) to what
  # would fill _FILL of the slots; double it when the band caught nothing (never below
  # 2^-20 t, so a band built around a threshold of 0 can grow).
  ratio = _FILL * capacity / jnp.maximum(fill, 1).astype(jnp.float32)
  scale = jnp.where(fill > 0, jnp.clip(ratio, 0.5, 2.0) ** 0.25, 2.0)
  h = jnp.maximum(h * scale, t * 2.0**-20)
  return Tracked(index, below_t - in_list, h, tracked.missed)


def _build(flats, layout: _Layout, t, below_t):
  """The whole list around threshold t, with h measured from one counting pass."""
  # The band's population is about proportional to its width near t: count a trial
  # band, then scale it to fill _FILL of the slots.
  trial = jnp.maximum(t * 2.0**-7, jnp.float32(1e-30))
  trial_fill = sum(jnp.sum(_in_band(leaf.score(), t, trial).astype(jnp.float32))
                   for leaf in flats)
  h = trial * jnp.clip(_FILL * layout.total / jnp.maximum(trial_fill, 1.0), 2.0**-10,
                       2.0**10)
  h = jnp.maximum(h, jnp.float32(1e-30))
  index, in_list = [], jnp.int32(0)
  for leaf, size, width, slots in zip(flats, layout.sizes, layout.slice, layout.slots):
    scores = leaf.score()
    padded = jnp.pad(scores, (0, _SLICES * width - size), constant_values=jnp.inf)
    band = _in_band(padded.reshape(_SLICES, width), t, h)
    local = jax.vmap(lambda b: _compact(b, slots))(band)
    base = lax.iota(jnp.int32, _SLICES)[:, None] * width
    idx = jnp.where(local >= 0, base + local, -1).reshape(-1)
    index.append(idx)
    in_list += jnp.sum(_less(leaf.score_at(idx), t)).astype(jnp.int32)
  return Tracked(jnp.concatenate(index), below_t - in_list, h, jnp.zeros([], jnp.int32))


def select(flats, ks, *, previous, previous_slope, tracked: Tracked, step,
           eligible_counts=None):
  """The exact selection of the ks[0] smallest scores of one group, with tracking.

  Args:
    flats: the group's leaves (1-D arrays or :class:`selection.Leaf`).
    ks: how many to select (a list of one int, or an int32 array of shape [1]).
    previous: float32 [1], the last threshold (the plain search starts from it).
    previous_slope: float32 [1], the last slope (see :func:`selection.select`).
    tracked: the list from the last update (:func:`init` before the first).
    step: int32, the update's count (which slice to refresh).
    eligible_counts: as in :func:`selection.select`.

  Returns:
    ``(Threshold, masks, Tracked)``: the selection (as :func:`selection.select` returns
    it, with all leaves in group 0), each leaf's flat bool mask, and the new list.
  """
  flats = selection._as_leaves(flats)  # pylint: disable=protected-access
  sizes = [f.size for f in flats]
  layout = _Layout(sizes)
  group_of_leaf = [0] * len(flats)
  groups = selection._Groups(sizes, group_of_leaf, 1)  # pylint: disable=protected-access
  static_ks = not (isinstance(ks, jax.core.Tracer) or isinstance(ks, jax.Array))
  ks_array = jnp.asarray(ks, jnp.int32).reshape(1)
  k = ks_array[0]
  previous = jnp.asarray(previous, jnp.float32).reshape(1)
  previous_slope = jnp.asarray(previous_slope, jnp.float32).reshape(1)
  ready = tracked.half_width > 0
  # Before the list is built it is empty: no proposal is usable, the search runs.
  v, v_index = _candidates(flats, layout, tracked)

  def count(t):
    return selection._count_below(  # pylint: disable=protected-access
        flats, groups, t, ks if static_ks else ks_array)

  def proposal(below, allowed):
    """The list's proposal, checked by counting, when ``allowed`` and usable; else the
    plain search's threshold. Returns (threshold, verified, corrected ``below``,
    whether the threshold is the list's)."""
    usable, th, v_lo, v_hi = _propose(v, v_index, k, below, previous, previous_slope)

    def check(_):
      # The proposal is right when the entries outside the list under lo are indeed
      # ``below``: one count. With a tie at lo (the k-th and (k+1)-th scores equal),
      # also under hi, which proves that every tied entry is a candidate, so the cut
      # by index among the candidates is the cut among all.
      c_lo, nan_lo = count(th.lo)
      good = ~nan_lo[0] & (c_lo[0] == below + v_lo)
      tied = th.hi[0] > th.lo[0]
      c_hi, nan_hi = lax.cond(good & tied, lambda _: count(th.hi),
                              lambda _: (c_lo + (v_hi - v_lo), nan_lo), None)
      good = good & ~nan_hi[0] & (c_hi[0] == below + v_hi)
      # Wrong: the entries outside the list under lo number c_lo - v_lo.
      return th, good, jnp.where(nan_lo[0], below, c_lo[0] - v_lo), good

    def search(_):
      start = jnp.where(th.lo > 0, th.lo, previous)
      plain = selection._search_threshold(  # pylint: disable=protected-access
          flats, groups, ks if static_ks else ks_array, start, secant=True,
          ties="index", eligible_counts=eligible_counts, previous_slope=previous_slope)
      return plain, jnp.bool_(True), below, jnp.bool_(False)

    return lax.cond(allowed & usable, check, search, None)

  attempts = jnp.where(tracked.missed == 0, _ATTEMPTS,
                       jnp.where(step % _RETRY_EVERY == 0, 1, 0))

  def wrong(carry):
    it, _, _, verified, _ = carry
    return ~verified & (it <= _ATTEMPTS)

  def again(carry):
    it, below, _, _, _ = carry
    th, verified, below, listed = proposal(below, it < attempts)
    return it + 1, below, th, verified, listed

  # (One loop for every proposal, so that the searches are traced, and compiled, once.)
  unset = selection.Threshold(previous, previous, jnp.zeros((1,), jnp.int32),
                              jnp.ones((1,), bool), previous_slope,
                              jnp.zeros((1,), jnp.int32))
  _, _, th, _, listed = lax.while_loop(
      wrong, again, (jnp.int32(0), tracked.below, unset, jnp.bool_(False),
                     jnp.bool_(False)))
  missed = jnp.where(listed, 0, jnp.minimum(tracked.missed + (attempts > 0), 2**20))
  tracked = tracked._replace(missed=missed)
  # The masks are written once, outside any conditional (XLA copies them out of one).
  masks = selection.leaf_masks(flats, group_of_leaf, th)
  t, below_t = th.lo[0], th.below[0]
  ok = th.ok[0]
  new = lax.cond(
      ready & ok,
      lambda _: _refresh(flats, layout, tracked, v, t, below_t, step),
      lambda _: lax.cond(ok, lambda _: _build(flats, layout, t, below_t),
                         lambda _: init(sizes), None),
      None)
  return th, masks, new

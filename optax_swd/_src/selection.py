"""Exact selection of the k smallest scores among many arrays, fast on CPU, GPU and TPU.

The problem: given non-negative float scores spread over several arrays (leaves) that are
split into groups (one group for a global threshold, one group per leaf for per-layer
selection), select in each group exactly ``k`` entries of smallest score.

Two methods give the same masks whenever scores are distinct:

* ``"top_k"``: ``jax.lax.top_k`` over the concatenated scores of a group. Simple, but
  ``O(N log N)``-like on CPU and slow for large ``k`` (seconds at 25M entries).
* ``"search"``: a threshold search that only ever *counts*: each probe is one fused
  elementwise pass ``sum(score < t)``. Probes are chosen by the secant method on the count
  function (which for trained weights is a smooth CDF), safeguarded by bisection on the
  float bit patterns, so the search is exact and always ends (at most ~64 probes, usually
  3 to 6). It starts from the previous step's threshold when one is given (in SWD the
  threshold moves little between updates), so a typical update costs a few passes.
* ``"bisect"``: the same counting search without the secant and without the warm start:
  plain bisection on the float bits (~31 passes), kept as the O(N) reference.

Inside ``swd`` (which keeps state between updates), ``selection="auto"`` on one large
group goes further: :mod:`tracking` keeps the entries near the last threshold and lets
them propose the next one, which a single count confirms; this module's search is its
fallback.

Ties. When several entries share the score of the k-th smallest, all methods select the
ones with the lowest index first, where the index runs over the group's leaves in pytree
(flattening) order and, inside a leaf, in row-major order; so the count is always exactly
``k``. That is also ``lax.top_k``'s rule. The counting search resolves a tie only when one
occurs: one pass finds the first (or last) tied index when one tied entry is taken (or all
but one), the usual case of two tied entries; otherwise a second search over the index.

Non-finite scores. A NaN score makes the counts NaN; the search then reports ``ok=False``
(the caller turns that into NaN output rather than a silently wrong mask). ``+inf`` scores
are ordered after every finite score.

The counting arithmetic: ``score < t`` is computed as ``min(max((t - s) * 2^100 * 2^100,
0), 1)``, which is exactly 0 or 1 and which XLA vectorises on CPU (a compare-and-select
reduction is not vectorised there and costs ~8x more). The constants go through an
``optimization_barrier`` because constant-folding them also loses the vectorisation.
Float32 sums of 0/1 values are exact while partial sums stay below 2^24, so long arrays
are counted in static chunks of 2^24 entries. On hardware that flushes subnormals to zero,
scores below the smallest normal float32 (1.2e-38) compare as equal to zero; counts and
masks use the same arithmetic, so the selection stays exactly ``k``.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

_CHUNK = 1 << 24
_MAX_FINITE_BITS = 0x7F7FFFFF  # bit pattern of the largest finite float32
_MAX_PROBES = 96
_NEWTON_COUNTS = 64
_NEWTON_PROBES = 12
_SLOPE_MEMORY = 256.0
_SLOPE_WINDOW = 4096

METHODS = ("top_k", "search", "bisect")


class Threshold(NamedTuple):
  """Per-group description of a selection.

  The selected entries of a group are ``(s < lo) | ((s < hi) & (index < tie_index))``,
  where ``index`` is the entry's position in the group. Without ties ``hi == lo``.
  """
  lo: jax.Array         # float32 [G]
  hi: jax.Array         # float32 [G]
  tie_index: jax.Array  # int32 [G]
  ok: jax.Array         # bool [G]: False when the scores had NaNs
  slope: jax.Array | None = None  # float32 [G]: counts per unit of score near t (search)
  below: jax.Array | None = None  # int32 [G]: how many scores are < lo (search)


def _constants(big=2.0**100):
  big, one = lax.optimization_barrier((jnp.float32(big), jnp.float32(1.0)))
  return big, one


def _in_turn(flats, groups, constants, one_leaf):
  """``[one_leaf(leaf, g, offset, *constants)]`` for each leaf, one after another.

  A pass over several leaves is one reduction per leaf. XLA:CPU runs independent
  reductions concurrently, and there they contend for the same two cores: ten counts
  over leaves of 2.5M entries took ~4-6x as long as one count over 25M. Each leaf's
  constants pass through an ``optimization_barrier`` with the previous leaf's result, so
  the reductions run one after the other (~2x then, from per-reduction overheads).
  """
  out = []
  for leaf, g, offset in zip(flats, groups.group_of_leaf, groups.offsets):
    leaf_constants = (lax.optimization_barrier((constants, out[-1]))[0] if out
                      else constants)
    out.append(one_leaf(leaf, g, offset, *leaf_constants))
  return out


def _less(s, t, big, one):
  """1.0 where s < t, else 0.0 (float32), in vectorisable arithmetic."""
  return jnp.minimum(jnp.maximum((t - s) * big * big, 0.0), one)


class Leaf(NamedTuple):
  """One array taking part in a selection, and how its entries are scored.

  The score of entry i is ``|flat[i]| * scale`` (float32), or ``+inf`` (never selected)
  where ``eligible`` is given and False.
  """
  flat: jax.Array
  scale: jax.Array | None = None
  eligible: jax.Array | None = None

  @property
  def size(self) -> int:
    return int(self.flat.shape[0])

  def score(self, start: int = 0, stop: int | None = None):
    """Scores of entries [start, stop), computed inside each pass (XLA fuses them)."""
    whole = start == 0 and stop in (None, self.size)
    flat = self.flat if whole else self.flat[start:stop]
    s = jnp.abs(flat).astype(jnp.float32)
    if self.scale is not None:
      s = s * self.scale
    if self.eligible is not None:
      elig = self.eligible if whole else self.eligible[start:stop]
      s = jnp.where(elig, s, jnp.float32(jnp.inf))
    return s

  def score_window(self, start, width: int):
    """Scores of the ``width`` entries from the traced position ``start``."""
    window = Leaf(lax.dynamic_slice_in_dim(self.flat, start, width), self.scale,
                  None if self.eligible is None
                  else lax.dynamic_slice_in_dim(self.eligible, start, width))
    return window.score()

  def score_at(self, index):
    """Scores of the entries at ``index`` (int32; entries at a negative index: +inf)."""
    valid = index >= 0
    at = jnp.where(valid, index, 0)
    s = jnp.abs(self.flat[at]).astype(jnp.float32)
    if self.scale is not None:
      s = s * self.scale
    if self.eligible is not None:
      valid = valid & self.eligible[at]
    return jnp.where(valid, s, jnp.float32(jnp.inf))

  def chunks(self):
    """Static (start, stop) ranges of at most 2^24 entries (exact float32 counts)."""
    return [(i, min(i + _CHUNK, self.size)) for i in range(0, max(self.size, 1), _CHUNK)]


def _as_float(bits):
  return lax.bitcast_convert_type(bits.astype(jnp.int32), jnp.float32)


def _as_bits(x):
  return lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32)


class _Groups:
  """Static bookkeeping: which leaf belongs to which group, and leaf offsets in groups."""

  def __init__(self, sizes: Sequence[int], group_of_leaf: Sequence[int], num_groups: int):
    self.group_of_leaf = tuple(group_of_leaf)
    self.num_groups = num_groups
    offsets, totals = [], [0] * num_groups
    for size, g in zip(sizes, group_of_leaf):
      offsets.append(totals[g])
      totals[g] += size
    self.offsets = tuple(offsets)
    self.sizes = tuple(totals)

  def sum(self, per_leaf):
    return self.combine(per_leaf, jnp.add)

  def combine(self, per_leaf, op):
    """Per group, ``op`` over its leaves' values (0 for a group without leaves)."""
    out = [None] * self.num_groups
    for value, g in zip(per_leaf, self.group_of_leaf):
      out[g] = value if out[g] is None else op(out[g], value)
    zero = jnp.zeros((), per_leaf[0].dtype) if per_leaf else jnp.int32(0)
    return jnp.stack([zero if v is None else v for v in out])


def _count_less(flats, groups: _Groups, t):
  """Per-group counts of scores < t[g] (t: float32 [G]); returns float32 [G] (NaN on NaN)."""
  def one_leaf(leaf, g, offset, big, one):
    del offset
    total = jnp.float32(0)
    for start, stop in leaf.chunks():
      # Chunk sums are exact integers (< 2^24); add them as float32 only while exact.
      total = total + jnp.sum(_less(leaf.score(start, stop), t[g], big, one))
    return total
  return groups.sum(_in_turn(flats, groups, _constants(), one_leaf))


def _count_ties_before(flats, groups: _Groups, lo, hi, j):
  """Per-group counts of entries with lo <= s < hi and group index < j[g]."""
  def one_leaf(leaf, g, offset, big, one):
    total = jnp.int32(0)
    for start, stop in leaf.chunks():
      score = leaf.score(start, stop)
      tie = _less(score, hi[g], big, one) - _less(score, lo[g], big, one)
      cut = jnp.clip(j[g] - (offset + start), 0, stop - start).astype(jnp.float32)
      iota = lax.iota(jnp.float32, stop - start)
      total = total + jnp.sum(tie * _less(iota, cut, big, one)).astype(jnp.int32)
    return total
  return groups.sum(_in_turn(flats, groups, _constants(), one_leaf))


# For t >= 2^-100, a nonzero t - s (s >= 0) is at least 2^-124, so one multiply by 2^127
# already separates s < t from s >= t; below that, two multiplies by 2^100 are needed.
_ONE_MULTIPLY_MIN_T = 2.0**-100


# Float32 holds every integer below 2^24 exactly: the index pass below reads indices of
# leaves up to that size exactly, and coarser block indices of larger leaves.
_INDEX_BITS = 24


def _tied_extreme_index(flats, groups: _Groups, lo, hi, first):
  """Per group, the group index of the first (``first[g]``) or last tied entry.

  Tied entries are those with lo <= s < hi, where hi is the float after lo (the callers'
  tie bracket). One fused max-reduction over each leaf: the first tied entry has the
  largest ``-index`` among the tied ones, the last the largest ``index``; entries that
  are not tied are pushed below every index by subtracting 2^26. The index is a float32
  (a reduction of floats is vectorised on CPU, one of ints is not, and slicing a leaf
  into exactly indexed chunks costs ~3x more than the whole pass), so in a leaf of more
  than 2^24 entries it is the block index ``floor(i / 2^q)``, within one block of exact;
  the entry is then found among the three blocks around it, read with a dynamic slice.
  When every lo >= 2^-100, a score other than lo differs from it by at least
  ``lo * 2^-24 >= 2^-124``, so ``min(|s - lo| * 2^127, 1)`` is exactly "not tied": a
  cheaper pass than the two comparisons used otherwise.
  """
  sign = jnp.where(first, -1, 1).astype(jnp.int32)
  none = jnp.int32(-(2**31 - 1))

  def extreme_index(constants, not_tied):
    def one_leaf(leaf, g, offset, *leaf_constants):
      shift = max(0, (leaf.size - 1).bit_length() - _INDEX_BITS)
      index = lax.iota(jnp.float32, leaf.size)
      if shift:
        index = jnp.floor(index * jnp.float32(2.0**-shift))
      key = jnp.max(index * sign[g].astype(jnp.float32)
                    - not_tied(leaf.score(), g, *leaf_constants) * jnp.float32(2.0**26))
      found = key > -(2.0**25)
      position = sign[g] * key.astype(jnp.int32)
      if shift:
        # The block holding the entry is within one of ``position``: look at three.
        width = min(3 << shift, leaf.size)
        start = jnp.clip((position - 1) << shift, 0, leaf.size - width)
        window = not_tied(leaf.score_window(start, width), g, *leaf_constants) < 0.5
        at = start + lax.iota(jnp.int32, width)
        position = jnp.where(first[g], jnp.min(jnp.where(window, at, leaf.size)),
                             jnp.max(jnp.where(window, at, -1)))
      return jnp.where(found, sign[g] * (offset + position), none)
    return _in_turn(flats, groups, constants, one_leaf)

  def equal_to_lo(_):
    return extreme_index(_constants(2.0**127),
                         lambda s, g, big, one: jnp.minimum(jnp.abs(s - lo[g]) * big, one))

  def between(_):
    return extreme_index(_constants(), lambda s, g, big, one: one - (
        _less(s, hi[g], big, one) - _less(s, lo[g], big, one)))

  per_leaf = lax.cond(jnp.all(lo >= _ONE_MULTIPLY_MIN_T), equal_to_lo, between, None)
  return sign * groups.combine(per_leaf, jnp.maximum)


def _monotone_search(count_fn, k, lo, hi, c_lo, c_hi, guess, to_real, from_real, secant,
                     slope=None, extremes=None):
  """Finds, per group, a key p with count(p) == k, or the pair lo, lo+1 around k.

  Keys are int32 (float bit patterns or indices). ``count_fn(key, lo, hi, c_lo, c_hi)``
  is non-decreasing in the key and returns ``(int32 counts [G], bool nan [G])``; it may
  use the bracket to count only the entries between a bracket end and the key. On entry
  ``c_lo < k <= c_hi``. ``slope`` (counts per real unit, 0 = unknown), when given, turns
  the second probe into a Newton step from the first (the guess). Returns
  ``(found, key, lo, hi, c_lo, c_hi, nan, slope)`` where the returned slope averages the
  given one with those measured between consecutive probes near k (see the body).

  End game (``extremes`` given, keys are float bits). Near k the count moves by about
  one per float step at large N, so secant probes land on k only by luck, and when the
  k-th and (k+1)-th scores are tied no probe can. So once a bracket end is one entry
  away from k, two passes settle the group: with ``c_lo == k - 1`` the k-th smallest
  score v is the smallest score >= lo (``extremes(lo, True)``), and with
  ``c_hi == k + 1`` the (k+1)-th smallest u is the largest score < hi
  (``extremes(hi, False)``); the next probe, just above v (or at u), then either
  counts exactly k or shows that v (u) is tied, which is the one-step tie bracket.
  """
  if slope is None:
    slope = jnp.zeros(lo.shape, jnp.float32)

  def searching(lo, hi, found):
    return ~found & (hi - lo > 1)

  def cond(carry):
    lo, hi, found, it = carry[0], carry[1], carry[6], carry[-1]
    return jnp.any(searching(lo, hi, found)) & (it < _MAX_PROBES)

  def body(carry):
    (lo, hi, c_lo, c_hi, p_prev, c_prev, found, key, p_last, c_last,
     width_old, width_older, nan, slope, ended, it) = carry
    active = searching(lo, hi, found)
    width = hi - lo
    mid = lo + width // 2
    if secant:
      # Secant through the last two probes (the first time: the bracket ends).
      x_prev, x_last = to_real(p_prev), to_real(p_last)
      denom = (c_last - c_prev).astype(jnp.float32)
      x = x_last + (k - c_last).astype(jnp.float32) * (x_last - x_prev) / jnp.where(
          denom == 0, 1.0, denom)
      # Inside a bracket probed at both ends, interpolate: given the counts at the ends,
      # the c_hi - c_lo scores between them are spread like uniform draws, so a key
      # between the k-th and (k+1)-th is expected (k - c_lo + 1/2) / (c_hi - c_lo + 1) of
      # the way up. Outside one (the first probes, and while one end is still the initial
      # one), take Newton steps with the known slope (measured between probes near
      # k, averaged over probes and updates) once within _NEWTON_COUNTS of k: a secant through
      # two probes a few counts apart mostly measures the Poisson noise of where the
      # weights happen to lie. A Newton step moves at least one key towards k; near k the
      # one-sided safeguard below (step on geometrically) stands aside for it until
      # _NEWTON_PROBES probes, after which it takes over again, so every search ends.
      one_sided = (lo == lo_start) | (hi == hi_start)
      x_lo, x_hi = to_real(lo), to_real(hi)
      frac = ((k - c_lo).astype(jnp.float32) + 0.5) / (c_hi - c_lo + 1).astype(jnp.float32)
      interpolate = (it >= 2) & ~one_sided
      x = jnp.where(interpolate, x_lo + frac * (x_hi - x_lo), x)
      denom = jnp.where(interpolate, 1.0, denom)
      base = jnp.where(it == 1, p_last, jnp.where(lo == lo_start, hi, lo))
      c_base = jnp.where(it == 1, c_last, jnp.where(lo == lo_start, c_hi, c_lo))
      near = ((it >= 2) & one_sided & (it < _NEWTON_PROBES)
              & (jnp.abs(k - c_base) <= _NEWTON_COUNTS))
      newton = ((it == 1) | near) & (slope > 0)
      x = jnp.where(newton, to_real(base) + (k - c_base).astype(jnp.float32)
                    / jnp.where(slope > 0, slope, 1.0), x)
      denom = jnp.where(newton, 1.0, denom)
      cand = from_real(x)
      towards = jnp.where(c_base < k, 1, -1)
      cand = jnp.where(newton & (cand == base), base + towards, cand)
      near = newton & near
      # While one end of the bracket is still the initial one, its width says nothing
      # (bisecting towards the largest float would waste ~20 probes): there, slow
      # progress is met by stepping on geometrically, which crosses k or reaches the
      # end within ~31 probes. Between two probed ends, the width must halve at least
      # every other probe, else bisect: so every search ends.
      slow = (width * 2 > width_older) & ~one_sided
      stalled = (width * 2 > width_older) & one_sided & (it >= 2) & ~near
      bad = (denom == 0) | ~jnp.isfinite(x) | (cand <= lo) | (cand >= hi) | slow
      # A flat secant (two probes with one count) says nothing about the scale: step on,
      # twice as far (in keys) from the last probe, towards k, while that stays in the
      # bracket; repeated, this doubles the step each time.
      # (In integers: float32 keys near 1e9 are only exact to 64.)
      step2 = 2 * jnp.minimum(jnp.abs(p_last - p_prev), 2**29)
      up = c_last < k
      room = jnp.where(up, hi - p_last, p_last - lo)  # the step must stay inside
      expand = jnp.where(up, p_last + step2, p_last - step2)
      expandable = (step2 > 0) & (step2 < room) & ~slow
      use_expand = ((denom == 0) | stalled) & expandable
      cand = jnp.where(bad | (stalled & expandable),
                       jnp.where(use_expand, expand, mid), cand)
      use_guess = (it == 0) & (guess > lo) & (guess < hi)
      cand = jnp.where(use_guess, guess, cand)
    else:
      cand = mid
    if extremes is not None:
      from_lo = active & ~ended & (k - c_lo == 1)
      # (The initial upper end's count is assumed, not counted: +inf scores are not
      # below it, so only a probed upper end can start the end game.)
      from_hi = active & ~ended & ~from_lo & (c_hi - k == 1) & (hi != hi_start)
      none = jnp.zeros(lo.shape, jnp.float32)
      v_lo = lax.cond(jnp.any(from_lo), lambda t: extremes(t, True), lambda t: none,
                      to_real(lo))
      v_hi = lax.cond(jnp.any(from_hi), lambda t: extremes(t, False), lambda t: none,
                      to_real(hi))
      v = jnp.where(from_lo, v_lo, v_hi)
      v_bits = lax.bitcast_convert_type(v, jnp.int32)
      end_probe = jnp.where(from_lo, v_bits + 1, v_bits)
      end = (from_lo | from_hi) & (end_probe > lo) & (end_probe < hi)
      nan = nan | ((from_lo | from_hi) & jnp.isnan(v))
      cand = jnp.where(end, end_probe, cand)
      ended = ended | from_lo | from_hi
    cand = jnp.where(active, cand, lo)
    c, c_nan = count_fn(cand, lo, hi, c_lo, c_hi)
    c_nan = active & c_nan
    if secant:
      dx = to_real(cand) - to_real(p_last)
      measured = (c - c_last).astype(jnp.float32) / jnp.where(dx == 0, 1.0, dx)
      # The slope is the density of scores near the k-th: it is measured between two
      # consecutive probes that both lie within _SLOPE_WINDOW counts of k (a secant over
      # a wider range, as in a cold search's first probes, is not that density), and
      # averaged with the slope carried in (from earlier probes and updates) weighing
      # each by its precision: a slope measured over m counts has a relative error
      # ~1/sqrt(m), so it gets the weight m / (m + _SLOPE_MEMORY).
      span = jnp.abs(c - c_last)
      local = ((jnp.abs(c - k) <= _SLOPE_WINDOW) & (jnp.abs(c_last - k) <= _SLOPE_WINDOW)
               & (span > 0))
      weight = span.astype(jnp.float32) / (span.astype(jnp.float32) + _SLOPE_MEMORY)
      measured = jnp.where(slope > 0, slope + weight * (measured - slope), measured)
      slope = jnp.where(active & local & (it >= 1) & (dx != 0) & (measured > 0), measured,
                        slope)
    hit = active & ((c == k) | c_nan)
    below = active & ~hit & (c < k)
    above = active & ~hit & (c > k)
    lo = jnp.where(below, cand, lo)
    c_lo = jnp.where(below, c, c_lo)
    hi = jnp.where(above, cand, hi)
    c_hi = jnp.where(above, c, c_hi)
    if extremes is not None:
      # A tie at v: the scores < v are the k - 1 below lo, those <= v are c > k.
      lo = jnp.where(end & from_lo & above, v_bits, lo)
      # A tie at u: the scores < u are c < k, those <= u the k + 1 below hi.
      hi = jnp.where(end & from_hi & below, v_bits + 1, hi)
      c_hi = jnp.where(end & from_hi & below, k + 1, c_hi)
    key = jnp.where(hit, cand, key)
    found = found | hit
    p_prev = jnp.where(active, p_last, p_prev)
    c_prev = jnp.where(active, c_last, c_prev)
    p_last = jnp.where(active, cand, p_last)
    c_last = jnp.where(active, c, c_last)
    return (lo, hi, c_lo, c_hi, p_prev, c_prev, found, key, p_last, c_last,
            width, width_old, nan | c_nan, slope, ended, it + 1)

  big_width = jnp.full_like(lo, 2**31 - 1)
  lo_start, hi_start = lo, hi
  # A group already satisfied at an end of the bracket.
  found = (c_hi == k) | (k == 0)
  key = jnp.where(k == 0, lo, jnp.where(found, hi, lo))
  nan = jnp.zeros_like(found)
  # The last two probes start as the bracket ends, ordered so that after a first guess
  # the secant runs through the guess and the low end (for scores: through the origin).
  carry = (lo, hi, c_lo, c_hi, hi, c_hi, found, key, lo, c_lo, big_width, big_width,
           nan, jnp.asarray(slope, jnp.float32), jnp.zeros_like(found), jnp.int32(0))
  out = lax.while_loop(cond, body, carry)
  lo, hi, c_lo, c_hi, found, key, nan, slope = (out[0], out[1], out[2], out[3], out[6],
                                                out[7], out[12], out[13])
  return found, key, lo, hi, c_lo, c_hi, nan, slope




def _side_counts(flats, groups: _Groups, t, below, one_multiply=False):
  """Per-group counts of entries < t[g] (below[g]) or >= t[g] (not below[g]).

  One fused pass with one comparison per leaf; exact when each leaf's count is < 2^24
  (reported in the second output, False also on NaN). ``below`` is a bool array, or a
  tuple of Python bools (then the side is chosen at trace time: a cheaper pass).
  ``one_multiply`` (all t >= 2^-100) uses the cheaper single-multiply comparison.
  """
  def one_leaf(leaf, g, offset, big, one):
    del offset
    scaled = (lambda d: d * big) if one_multiply else (lambda d: d * big * big)
    score = leaf.score()
    if isinstance(below, tuple) and not below[g]:
      # 1 where s >= t: (s - t) * big + 1 is >= 1 there and <= 0 below t.
      c = jnp.sum(jnp.minimum(jnp.maximum(scaled(score - t[g]) + one, 0.0), one))
    else:
      x = jnp.minimum(jnp.maximum(scaled(t[g] - score), 0.0), one)
      c = jnp.sum(x) if isinstance(below, tuple) else jnp.sum(
          jnp.where(below[g], x, one - x))
    return c
  constants = _constants(2.0**127) if one_multiply else _constants()
  return _exact_counts(_in_turn(flats, groups, constants, one_leaf), groups)


def _exact_counts(per_leaf, groups: _Groups):
  """Float32 per-leaf counts summed per group as int32, and whether each group's are
  exact (every leaf's count below 2^24; False also on NaN)."""
  exact = [c < 2.0**24 for c in per_leaf]
  counts = [jnp.where(c < 2.0**24, c, 0.0).astype(jnp.int32) for c in per_leaf]
  return groups.sum(counts), _group_all(exact, groups)


def _group_all(flags, groups: _Groups):
  return jnp.stack([
      jnp.all(jnp.stack([e for e, gg in zip(flags, groups.group_of_leaf) if gg == g]))
      for g in range(groups.num_groups)])


def _count_below(flats, groups: _Groups, t, ks):
  """Exact per-group counts of scores < t[g] (int32 [G]) and a NaN flag (bool [G]).

  One fused pass counting the side of t expected to be smaller (below it when
  ``ks[g] <= n/2``, the side chosen at trace time when ks are static); groups whose
  count on that side could be inexact (a leaf with 2^24 or more) are counted again in
  exact chunks.
  """
  g = groups.num_groups
  sizes = jnp.asarray(groups.sizes, jnp.int32)
  if isinstance(ks, jax.core.Tracer) or isinstance(ks, jax.Array):
    below = jnp.asarray(ks, jnp.int32).reshape(g) <= sizes - jnp.asarray(
        ks, jnp.int32).reshape(g)
    side_choice = below
  else:
    side_choice = tuple(int(k) <= n - int(k) for k, n in zip(ks, groups.sizes))
    below = jnp.asarray(side_choice)
  side, exact = lax.cond(
      jnp.all(t >= _ONE_MULTIPLY_MIN_T),
      lambda t: _side_counts(flats, groups, t, side_choice, one_multiply=True),
      lambda t: _side_counts(flats, groups, t, side_choice), t)
  c = jnp.where(below, side, sizes - side)

  def chunked(_):
    full = _count_less(flats, groups, t)
    return jnp.where(jnp.isnan(full), 0, full).astype(jnp.int32), jnp.isnan(full)

  return lax.cond(jnp.all(exact), lambda _: (c, jnp.zeros((g,), bool)), chunked, None)


def _window_counts(flats, groups: _Groups, t1, t2):
  """Per-group counts of entries with t1 <= s < t2, and whether each is exact.

  One fused pass per leaf. A float32 sum of 0/1 values is exact while it stays below 2^24
  whatever the summation order, so a window count is exact when every leaf's window holds
  fewer than 2^24 entries; otherwise (or on NaN) ``exact`` is False.
  """
  def one_leaf(leaf, g, offset, big, one):
    del offset
    score = leaf.score()
    return jnp.sum(_less(score, t2[g], big, one) - _less(score, t1[g], big, one))
  return _exact_counts(_in_turn(flats, groups, _constants(), one_leaf), groups)


def _extremes(flats, groups: _Groups, t, smallest_above):
  """Per group: the smallest score >= t[g] (``smallest_above``) or the largest < t[g].

  One fused min- or max-reduction per leaf. Scores of the other side are pushed out of
  the way arithmetically (a select is not vectorised on CPU). When every t >= 2^-100,
  a nonzero ``t - s`` times 2^127 is at least ``s * 2^103`` (and at least 8), so
  ``min(s, (t - s) * 2^127 - 1)`` is s below t and negative elsewhere: the exact
  maximum in one multiply; ``s + max((t - s) * 2^127, 0)`` lifts each score below t by
  at least 8 and by far more near a typical t, which gives the minimum unless no score
  lies within a factor 2^100 above t (the callers check the value with a count, so such
  a miss costs a probe, never a wrong mask). Otherwise ``s + [s < t] * 3e38`` for the
  minimum, ``min(s, FLT_MAX) * [s < t]`` for the maximum (0 when no score is below t,
  which the callers never ask for).
  """
  def one_multiply(t):
    def one_leaf(leaf, g, offset, big, one):
      del offset
      score = leaf.score()
      lift = (t[g] - score) * big
      return (jnp.min(score + jnp.maximum(lift, 0.0)) if smallest_above
              else jnp.max(jnp.minimum(score, lift - one)))
    return _in_turn(flats, groups, _constants(2.0**127), one_leaf)

  def general(t):
    def one_leaf(leaf, g, offset, big, one):
      del offset
      score = leaf.score()
      below = _less(score, t[g], big, one)
      if smallest_above:
        return jnp.min(score + below * jnp.float32(3e38))
      return jnp.max(jnp.minimum(score, jnp.finfo(jnp.float32).max) * below)
    return _in_turn(flats, groups, _constants(), one_leaf)

  per_leaf = lax.cond(jnp.all(t >= _ONE_MULTIPLY_MIN_T), one_multiply, general, t)
  return groups.combine(per_leaf, jnp.minimum if smallest_above else jnp.maximum)


def _search_threshold(flats, groups: _Groups, ks, previous, secant: bool,
                      ties: str, eligible_counts=None, previous_slope=None) -> Threshold:
  """The counting search for all groups at once (see the module docstring)."""
  g = groups.num_groups
  static_ks = None if isinstance(ks, jax.core.Tracer) else [int(k) for k in np.ravel(ks)]
  ks = jnp.asarray(ks, jnp.int32).reshape(g)
  sizes = jnp.asarray(groups.sizes, jnp.int32)

  # Count whichever side of the probe is expected to be smaller (below it when k <= n/2,
  # at or above it otherwise): a float32 sum of 0/1 values is exact below 2^24, so for
  # groups of up to 2^25 entries one fused pass with one comparison gives the exact count
  # near the target. Otherwise count the window between the probe and the bracket end
  # nearer to k (exact while the bracket holds < 2^24 entries), else count in chunks.
  count_below = ks <= sizes - ks
  static_below = None if static_ks is None else tuple(
      k <= n - k for k, n in zip(static_ks, groups.sizes))

  def count(cand, lo, hi, c_lo, c_hi):
    # The pass sits in a conditional (which also picks the cheaper comparison when it is
    # exact): there it stays one fused reduction reading the params, whereas in the loop
    # body proper XLA:CPU hoists |w| and the constants out of the loop, and the pass then
    # reads several materialised arrays (~2-3x slower).
    below = count_below if static_below is None else static_below
    side, exact = lax.cond(
        jnp.all(_as_float(cand) >= _ONE_MULTIPLY_MIN_T),
        lambda c: _side_counts(flats, groups, _as_float(c), below, one_multiply=True),
        lambda c: _side_counts(flats, groups, _as_float(c), below), cand)
    c = jnp.where(count_below, side, sizes - side)

    def window_count(_):
      from_lo = (ks - c_lo) <= (c_hi - ks)
      t1 = _as_float(jnp.where(from_lo, lo, cand))
      t2 = _as_float(jnp.where(from_lo, cand, hi))
      window, w_exact = _window_counts(flats, groups, t1, t2)
      c = jnp.where(from_lo, c_lo + window, c_hi - window)

      def chunked_count(_):
        full = _count_less(flats, groups, _as_float(cand))
        return jnp.where(jnp.isnan(full), 0, full).astype(jnp.int32), jnp.isnan(full)

      return lax.cond(jnp.all(w_exact), lambda _: (c, jnp.zeros((g,), bool)),
                      chunked_count, None)

    return lax.cond(jnp.all(exact), lambda _: (c, jnp.zeros((g,), bool)), window_count,
                    None)

  # Bracket: no score is < 0.0; every finite score is < the largest float32 (a score
  # equal to it, or +inf, is never selected: a documented limit).
  lo = jnp.zeros((g,), jnp.int32)
  hi = jnp.full((g,), _MAX_FINITE_BITS, jnp.int32)
  c_lo = jnp.zeros((g,), jnp.int32)
  c_hi = sizes if eligible_counts is None else jnp.asarray(eligible_counts, jnp.int32)

  if secant:
    prev_bits = _as_bits(jnp.asarray(previous, jnp.float32).reshape(g)) if (
        previous is not None) else jnp.zeros((g,), jnp.int32)

    def cold_guess(_):
      # Mean-based guess: k-th smallest of a uniform [0, 2*mean] sample.
      sums = groups.sum([jnp.sum(jnp.where(jnp.isinf(l.score()), 0.0, l.score()))
                         for l in flats])
      mean = sums / jnp.maximum(sizes, 1).astype(jnp.float32)
      return _as_bits(2.0 * mean * ks.astype(jnp.float32) / jnp.maximum(sizes, 1))

    guess = lax.cond(jnp.all(prev_bits > 0), lambda _: prev_bits, cold_guess, None)
  else:
    guess = lo
  to_real = _as_float
  from_real = lambda x: _as_bits(jnp.clip(jnp.nan_to_num(x, nan=0.0), 0.0,
                                          jnp.finfo(jnp.float32).max))
  slope_in = jnp.zeros((g,), jnp.float32) if previous_slope is None else jnp.asarray(
      previous_slope, jnp.float32).reshape(g)
  found, key, lo, hi, c_lo, c_hi, nan, slope = _monotone_search(
      count, ks, lo, hi, c_lo, c_hi, guess, to_real, from_real, secant, slope_in,
      extremes=(lambda t, smallest_above: _extremes(flats, groups, t, smallest_above))
      if secant else None)
  # (Bisection at least every other probe ends any search within _MAX_PROBES; should it
  # not, report it like NaN rather than return an inexact mask.)
  # A group whose upper end is still the assumed count at the largest float has more
  # +inf (or largest-float) scores than n - k: no exact selection of k exists.
  ok = ~nan & (found | ((hi - lo <= 1) & (hi != _MAX_FINITE_BITS)))
  t_found = _as_float(key)
  # Ties: c_lo < k < c_hi with hi = lo + 1 bit; the tied value is float(lo).
  tied = ~found & ok
  lo_val = jnp.where(found, t_found, _as_float(lo))
  hi_val = jnp.where(found, t_found, _as_float(hi))
  if ties == "below":
    return Threshold(lo_val, lo_val, jnp.zeros((g,), jnp.int32), ok, slope,
                     jnp.where(found, ks, c_lo))
  need = jnp.where(tied, ks - c_lo, 0)

  def resolve_ties(_):
    total = c_hi - c_lo
    tie_count = lambda j, *_: (_count_ties_before(flats, groups, lo_val, hi_val, j),
                               jnp.zeros((g,), bool))
    zeros = jnp.zeros((g,), jnp.int32)
    guess_j = jnp.where(total > 0, (sizes.astype(jnp.float32) * need
                                    / jnp.maximum(total, 1)).astype(jnp.int32), 0)
    j_found, j, j_lo, _, _, _, _, _ = _monotone_search(
        tie_count, need, zeros, sizes, zeros, jnp.where(tied, total, need), guess_j,
        lambda p: p.astype(jnp.float32),
        lambda x: jnp.clip(jnp.nan_to_num(x), 0, 2**31 - 2).astype(jnp.int32), True)
    # If the index search ended on a bracket (it cannot for 0/1 steps), take its top.
    return jnp.where(j_found, j, j_lo + 1)

  def resolve_ties_by_extreme(_):
    # Taking one tied entry, or all but one: the first tied entry (+1), or the last.
    first = need == 1
    index = _tied_extreme_index(flats, groups, lo_val, hi_val, first)
    return jnp.where(first, index + 1, index)

  # Usually two entries tie at the k-th score (at 25M float32 weights, about one float
  # step per weight near the threshold), and then one pass finds where to cut.
  one_pass = jnp.all(~tied | (need == 1) | (need == c_hi - c_lo - 1))
  tie_index = lax.cond(
      jnp.any(tied),
      lambda _: lax.cond(one_pass, resolve_ties_by_extreme, resolve_ties, None),
      lambda _: jnp.zeros((g,), jnp.int32), None)
  return Threshold(lo_val, hi_val, jnp.where(tied, tie_index, 0), ok, slope,
                   jnp.where(found, ks, c_lo))


def _top_k_threshold(flats, groups: _Groups, ks) -> Threshold:
  """Selection by ``lax.top_k`` per group; ``ks`` must be static ints here."""
  ks = [int(k) for k in ks]
  los, his, ties = [], [], []
  for g in range(groups.num_groups):
    members = [l.score() for l, gg in zip(flats, groups.group_of_leaf) if gg == g]
    scores = jnp.concatenate(members) if len(members) > 1 else members[0]
    k = int(ks[g])
    if k == 0:
      los.append(jnp.float32(0.0)); his.append(jnp.float32(0.0)); ties.append(jnp.int32(0))
      continue
    _, idx = lax.top_k(-scores, k)
    kth = scores[idx[-1]]
    # Entries strictly below the k-th value, then ties at it up to the last index taken.
    ties.append(jnp.max(jnp.where(scores[idx] == kth, idx, -1)).astype(jnp.int32) + 1)
    los.append(kth)
    # The next float above kth, as the counting arithmetic (which may flush subnormal
    # differences to zero) sees it.
    tiny = jnp.float32(2.0**-125)
    his.append(jnp.where(kth < 2 * tiny, kth + tiny, jnp.nextafter(kth, jnp.float32(jnp.inf))))
  lo, hi = jnp.stack(los), jnp.stack(his)
  ok = jnp.isfinite(lo)  # NaN, or a k-th smallest that is +inf: no exact selection
  return Threshold(lo, hi, jnp.stack(ties), ok)


def _as_leaves(flats):
  return [f if isinstance(f, Leaf) else Leaf(f) for f in flats]


def select(flats, group_of_leaf, num_groups, ks, *, method="search", previous=None,
           ties="index", eligible_counts=None, previous_slope=None):
  """Finds per-group thresholds selecting the ks[g] smallest scores of each group.

  Args:
    flats: list of 1-D float arrays (scored by magnitude) or of :class:`Leaf`.
    group_of_leaf: the group index of each array.
    num_groups: the number of groups.
    ks: the number to select in each group (ints, or an int32 array for "search").
    method: "top_k", "search" or "bisect".
    previous: float32 [G] thresholds of the previous call ("search" starts from them).
    previous_slope: float32 [G] slopes returned by the previous call ("search" uses them
      for a Newton step after its first probe).
    ties: "index" (exactly k: entries tied with the k-th smallest are taken lowest index
      first) or "below" (entries tied with the k-th smallest are left out, so at most k
      are selected; cheaper, and exact whenever the scores are distinct). "top_k" always
      uses "index".
    eligible_counts: per group, how many entries have a finite score (when leaves carry
      ``eligible`` masks); ks must not exceed it.

  Returns:
    A ``Threshold``; ``masks(flats, group_of_leaf, threshold)`` turns it into masks.
  """
  flats = _as_leaves(flats)
  groups = _Groups([f.size for f in flats], group_of_leaf, num_groups)
  if method == "top_k":
    return _top_k_threshold(flats, groups, ks)
  if method not in ("search", "bisect"):
    raise ValueError(f"selection must be one of {METHODS}, got {method!r}.")
  if ties not in ("index", "below"):
    raise ValueError(f"ties must be 'index' or 'below', got {ties!r}.")
  return _search_threshold(flats, groups, ks, previous, secant=(method == "search"),
                           ties=ties, eligible_counts=eligible_counts,
                           previous_slope=previous_slope)


def leaf_masks(flats, group_of_leaf, threshold: Threshold):
  """The boolean selection mask of each flat array, given its group's threshold."""
  flats = _as_leaves(flats)
  groups = _Groups([f.size for f in flats], group_of_leaf, threshold.lo.shape[0])

  def masks(with_ties):
    big, one = _constants()
    out = []
    for leaf, g, offset in zip(flats, groups.group_of_leaf, groups.offsets):
      score = leaf.score()
      below = _less(score, threshold.lo[g], big, one) > 0.5
      if with_ties:
        tie = _less(score, threshold.hi[g], big, one) > 0.5
        index_ok = lax.iota(jnp.int32, leaf.size) < (threshold.tie_index[g] - offset)
        below = below | (tie & index_ok)
      out.append(below)
    return out

  # Without a tied entry to take (tie_index 0), the mask is just s < lo: a cheaper pass.
  return lax.cond(jnp.all(threshold.tie_index == 0), lambda _: masks(False),
                  lambda _: masks(True), None)

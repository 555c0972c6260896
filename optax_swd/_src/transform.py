"""`swd`: Selective Weight Decay as an optax gradient transformation."""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optax_swd._src import arguments
from optax_swd._src import prunable as prunable_lib
from optax_swd._src import schedule as schedule_lib
from optax_swd._src import selection as selection_lib
from optax_swd._src import structure as structure_lib
from optax_swd._src import tracking

SELECTIONS = ("auto",) + selection_lib.METHODS
FORMS = ("gradient", "proximal")


class SWDState(NamedTuple):
  """State of :func:`swd`.

  Attributes:
    count: the number of updates done so far (int32).
    penalty: the coefficient ``a(t) * weight_decay`` used by the last update (float32).
    masks: a pytree of bool arrays with the params' structure and shapes; ``True`` marks a
      weight selected (penalised) by the last update. Leaves that are not prunable are
      all ``False``.
    threshold: float32 ``[G]``, the last selection threshold of each group (one group for
      ``scope="global"``, one per prunable leaf otherwise); the next update's search
      starts from it.
    threshold_slope: float32 ``[G]``, how many more weights a unit rise of the threshold
      selects near it, measured by each search and averaged with the previous value
      (0 = unknown); the next search takes its Newton steps with it.
    tracked: with ``selection="auto"`` and one group of at least 2^20 prunable weights,
      the positions of the weights near the last threshold (about 1.2% of them, see
      ``optax_swd/_src/tracking.py``), from which the next update proposes its threshold
      and checks it with one counting pass; ``()`` otherwise.
  """
  count: chex.Array
  penalty: chex.Array
  masks: Any
  threshold: chex.Array
  threshold_slope: chex.Array
  tracked: Any = ()


def _false_masks(params):
  return jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), jnp.bool_), params)


def _decayed(update, weight, mask, coef):
  """update + coef * weight on the masked entries, in the update's dtype."""
  decay = coef * jnp.where(mask, weight, 0).astype(jnp.float32)
  return update + decay.astype(update.dtype)


def _proximal(update, weight, mask, shrink):
  """The update taking masked weights to (w + u) / (1 + shrink)."""
  new = weight.astype(jnp.float32) + update.astype(jnp.float32)
  delta = jnp.where(mask, new * (shrink / (1.0 + shrink)), 0.0)
  return update - delta.astype(update.dtype)


def _tracks(leaves, flags, scope, selection) -> bool:
  """Whether ``selection="auto"`` keeps a candidate list for these params (static)."""
  sizes = [int(jnp.size(p)) for p, f in zip(leaves, flags) if f]
  return selection == "auto" and tracking.applies(
      sizes, prunable_lib.num_groups(flags, scope))


def selection_masks(leaves, flags, treedef, sparsity, scope, selection, previous=None, *,
                    score="magnitude", min_kept=0, previous_slope=None, tracked=(),
                    step=None):
  """Masks (True = among the smallest scores) for each leaf, the thresholds, and the
  candidate list (``tracked``, passed through when the selection keeps none)."""
  sel, group_of_leaf, n_groups, ks, eligible_counts = prunable_lib.groups(
      leaves, flags, scope, sparsity, score=score, min_kept=min_kept)
  method = "search" if selection == "auto" else selection
  if method == "top_k" and isinstance(ks, jax.Array):
    raise ValueError(
        "selection='top_k' needs a static sparsity (a Python float); under "
        "inject_hyperparams use selection='auto'.")
  if isinstance(tracked, tracking.Tracked):
    threshold, flat_masks, tracked = tracking.select(
        sel, ks, previous=previous, previous_slope=previous_slope, tracked=tracked,
        step=step, eligible_counts=eligible_counts)
  else:
    threshold = selection_lib.select(sel, group_of_leaf, n_groups, ks, method=method,
                                     previous=previous, eligible_counts=eligible_counts,
                                     previous_slope=previous_slope)
    flat_masks = selection_lib.leaf_masks(sel, group_of_leaf, threshold)
  flat_masks = iter(flat_masks)
  masks = [next(flat_masks).reshape(jnp.shape(p)) if f else jnp.zeros(jnp.shape(p), bool)
           for p, f in zip(leaves, flags)]
  return jax.tree.unflatten(treedef, masks), threshold, tracked


def swd(
    sparsity: float | optax.Schedule,
    *,
    weight_decay: float = 5e-4,
    a_min: float = 0.1,
    a_max: float = 1e5,
    total_steps: int | None = None,
    penalty: float | optax.Schedule | None = None,
    scope: str = "global",
    prunable=None,
    selection: str = "auto",
    form: str = "gradient",
    learning_rate: float | optax.Schedule | None = None,
    score: str = "magnitude",
    min_kept: int = 0,
    structure: str | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Selective Weight Decay: an extra, growing weight decay on the weights to prune.

  At every update, among the prunable weights, the ``floor(sparsity * N)`` of smallest
  magnitude are selected (``N`` counted over all prunable leaves together for
  ``scope="global"``, per leaf for ``scope="layer"``), and a decay is added to the
  incoming update of exactly those weights:

  .. math::

    u_i \leftarrow u_i + a(t)\, \mu\, w_i \,[i \in S_t], \qquad
    a(t) = a_{min} \left(\frac{a_{max}}{a_{min}}\right)^{\min(t, T) / T}

  with ``t`` the 0-based update count and ``\mu`` = ``weight_decay``. This is the gradient
  of the penalty ``(mu / 2) a(t) ||w * m||^2`` of the paper; as ``a`` grows the selected
  weights are driven to ~0, so that cutting them at the end (:func:`optax_swd.prune`)
  costs ~no accuracy. The ordinary weight decay on all weights is not part of ``swd``:
  chain ``optax.add_decayed_weights`` for it. The selection is recomputed from the current
  params at every update; ties at the threshold go to the lowest index (flattening order).

  Two forms of the penalty step:

  * ``form="gradient"`` (default, the paper's): place ``swd`` before the optimizer; the
    term above is added to the gradient. With SGD (momentum ``beta``) it is an explicit
    step on a quadratic of curvature ``a * mu``, stable only while
    ``lr * a(t) * mu < 2 (1 + beta)`` (``< 2 (1 + beta) / (1 + 2 beta)`` with Nesterov);
    with Adam the term is divided by Adam's normaliser.
  * ``form="proximal"``: place ``swd`` *after* the optimizer (its incoming updates are
    parameter steps) and give it the optimizer's ``learning_rate``. The selected weights
    take the implicit (proximal) step of the penalty,
    ``w_new = (w + u) / (1 + lr(t) * a(t) * mu)``, a contraction for any step size: it
    cannot diverge, and its strength does not depend on Adam's normaliser. For small
    ``lr * a * mu`` it equals the gradient form applied after the optimizer.

  Args:
    sparsity: the fraction of prunable weights to select, in ``[0, 1)``; or an
      ``optax.Schedule`` of the update count returning it (a gradual target, e.g. Zhu &
      Gupta's cubic ramp: :func:`optax_swd.gradual_sparsity`), whose values must stay in
      ``[0, 1)``. A schedule needs ``selection`` ``"auto"``/``"search"``/``"bisect"``,
      ``scope`` ``"global"`` or ``"layer"`` and no ``structure``.
    weight_decay: ``mu``, the decay that ``a(t)`` multiplies, ``>= 0`` (paper: 5e-4).
    a_min: the first value of ``a``, ``> 0`` (paper: 0.1).
    a_max: the last value of ``a``, ``>= a_min`` (paper: 1e5).
    total_steps: ``T``, the number of updates over which ``a`` grows from ``a_min`` to
      ``a_max``; required unless ``penalty`` is given.
    penalty: instead of the exponential schedule, a fixed ``a`` (float ``>= 0``) or any
      ``optax.Schedule`` of the update count returning ``a``.
    scope: ``"global"`` (one magnitude threshold over all prunable leaves, the paper's
      setting), ``"layer"`` (the same fraction in every prunable leaf) or ``"erk"``
      (per-leaf fractions of the Erdos-Renyi-Kernel budget, Evci et al. 2020: small
      layers keep more, summing to the target).
    prunable: which leaves take part: ``None`` (every float leaf with ``ndim >= 2``, i.e.
      kernels), a pytree of bools with the params' structure, or a callable
      ``params -> such a pytree``.
    selection: how the smallest magnitudes are found: ``"auto"`` (``"search"``, and
      for one group of at least 2^20 prunable weights, e.g. ``scope="global"``, a list of
      the ~1.2% of weights nearest the last threshold kept in the state, which proposes
      the new threshold for one counting pass to confirm: ~1.3 passes per warm update
      instead of ~4.5), ``"search"`` (exact counting search warm-started from the
      previous threshold: a few fused passes over the weights), ``"bisect"`` (exact
      bisection on the float bits, ~31 passes) or ``"top_k"`` (``jax.lax.top_k``). All
      give the same masks.
    form: ``"gradient"`` or ``"proximal"`` (see above).
    learning_rate: the optimizer's learning rate (float or ``optax.Schedule``); required
      by, and only used by, ``form="proximal"``.
    score: ``"magnitude"`` (``|w|``, the paper's) or ``"layer_normalized"`` (``|w|``
      divided by the RMS of its leaf, so that one global ranking does not favour layers
      initialised at a larger scale).
    min_kept: with ``scope="global"``, never select a leaf's ``min_kept`` largest scores,
      so no layer is emptied (the selection is then the ``floor(sparsity * N)`` smallest
      among the remaining weights, or all of them if fewer). ``0``: the plain global rule.
    structure: ``None`` (unstructured, the paper's) or ``"n:m"`` for N:M semi-structured
      SWD (e.g. ``"2:4"``, the layout of NVIDIA's sparse tensor cores): in every group of
      ``m`` consecutive weights along a kernel's input dimension (axis -2: ``in`` of a
      ``[in, out]`` Dense kernel or a ``[h, w, in, out]`` convolution kernel), the
      ``m - n`` smallest magnitudes are selected (ties: lowest position first). Then
      ``sparsity`` must equal ``(m - n) / m``, ``m`` must divide the input dimension of
      every prunable leaf (ValueError naming the leaf), and ``scope``, ``score``,
      ``min_kept`` and ``selection`` must stay at their defaults. Prune with the same
      ``structure`` in :func:`optax_swd.prune`.

  Returns:
    An ``optax.GradientTransformationExtraArgs``; its ``update`` requires ``params`` and
    ignores unknown keyword arguments. Its state is an :class:`SWDState`.

  Example:
    >>> import jax, jax.numpy as jnp, optax, optax_swd
    >>> params = {"w": jnp.arange(1.0, 7.0).reshape(2, 3), "b": jnp.ones(3)}
    >>> tx = optax.chain(
    ...     optax.add_decayed_weights(5e-4),
    ...     optax_swd.swd(0.5, total_steps=100),
    ...     optax.sgd(0.1, momentum=0.9, nesterov=True))
    >>> state = tx.init(params)
    >>> grads = jax.tree.map(jnp.zeros_like, params)
    >>> updates, state = tx.update(grads, state, params)
    >>> state[1].masks["w"]
    Array([[ True,  True,  True],
           [False, False, False]], dtype=bool)

  References:
    Tessier et al., "Rethinking Weight Decay for Efficient Neural Network Pruning",
    Journal of Imaging 8(3):64, 2022 (arXiv 2011.10520).
  """
  scheduled = callable(sparsity)
  if not scheduled:
    arguments.sparsity(sparsity)
  arguments.real("weight_decay", weight_decay, low=0.0, accepted=" >= 0")
  if penalty is not None:  # Otherwise exponential_penalty checks a_min, a_max, T.
    arguments.real("a_min", a_min, low=0.0, low_open=True, accepted=" > 0")
    arguments.real("a_max", a_max, low=0.0, low_open=True, accepted=" > 0")
    if total_steps is not None:
      arguments.positive_int("total_steps", total_steps)
  schedule = schedule_lib.penalty_schedule(penalty, a_min, a_max, total_steps)
  arguments.choice("scope", scope, prunable_lib.SCOPES)
  arguments.choice("selection", selection, SELECTIONS)
  arguments.choice("form", form, FORMS)
  arguments.choice("score", score, prunable_lib.SCORES)
  arguments.nonnegative_int("min_kept", min_kept)
  nm = None if structure is None else structure_lib.parse(structure)
  if scheduled and (selection == "top_k" or scope == "erk" or nm is not None):
    raise ValueError(
        "a sparsity schedule needs a selection that takes a traced target: selection "
        "'auto', 'search' or 'bisect', scope 'global' or 'layer', and structure=None; got "
        f"selection={selection!r}, scope={scope!r}, structure={structure!r}.")
  if nm is not None:
    structure_lib.check_sparsity(sparsity, *nm, structure)
    structure_lib.check_defaults(structure, scope=scope, score=score, min_kept=min_kept,
                                 selection=selection)
  if form == "proximal":
    if learning_rate is None:
      raise ValueError(
          "learning_rate is required with form='proximal' (the optimizer's learning "
          "rate, a float > 0 or an optax.Schedule).")
    if callable(learning_rate):
      lr_schedule = learning_rate
    else:
      arguments.real("learning_rate", learning_rate, low=0.0, low_open=True,
                     accepted=" > 0")
      lr_schedule = lambda count: jnp.asarray(learning_rate, jnp.float32)
  elif learning_rate is not None:
    raise ValueError("learning_rate is only used with form='proximal'; got "
                     f"form={form!r}.")

  def init_fn(params):
    leaves, flags, _ = prunable_lib.resolve(params, prunable)
    if nm is not None:
      structure_lib.check_leaves(params, flags, nm[1], structure)
    tracked = ()
    if nm is None and _tracks(leaves, flags, scope, selection):
      tracked = tracking.init([int(jnp.size(p)) for p, f in zip(leaves, flags) if f])
    return SWDState(
        count=jnp.zeros([], jnp.int32),
        penalty=jnp.zeros([], jnp.float32),
        masks=_false_masks(params),
        threshold=jnp.zeros([prunable_lib.num_groups(flags, scope)], jnp.float32),
        threshold_slope=jnp.zeros([prunable_lib.num_groups(flags, scope)], jnp.float32),
        tracked=tracked)

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    arguments.require_params("swd", params, "weights")
    leaves, flags, treedef = prunable_lib.resolve(params, prunable)
    if not leaves:
      return updates, state._replace(count=optax.safe_increment(state.count))
    if nm is None:
      target = (jnp.asarray(sparsity(state.count), jnp.float32) if scheduled
                else sparsity)
      masks, threshold, tracked = selection_masks(
          leaves, flags, treedef, target, scope, selection, previous=state.threshold,
          score=score, min_kept=min_kept, previous_slope=state.threshold_slope,
          tracked=state.tracked, step=state.count)
      ok = jnp.all(threshold.ok)
    else:
      structure_lib.check_leaves(params, flags, nm[1], structure)
      masks, ok = structure_lib.masks(leaves, flags, treedef, *nm)
      threshold = selection_lib.Threshold(state.threshold, state.threshold, None, ok,
                                          state.threshold_slope)
      tracked = state.tracked
    coef = jnp.asarray(schedule(state.count), jnp.float32) * jnp.asarray(
        weight_decay, jnp.float32)
    # NaN scores leave the selection undefined: make that loud rather than wrong.
    coef = jnp.where(ok, coef, jnp.nan)
    update_leaves = treedef.flatten_up_to(updates)
    mask_leaves = treedef.flatten_up_to(masks)
    if form == "gradient":
      apply = lambda u, w, m: _decayed(u, w, m, coef)
    else:
      shrink = jnp.asarray(lr_schedule(state.count), jnp.float32) * coef
      apply = lambda u, w, m: _proximal(u, w, m, shrink)
    new_leaves = [apply(u, w, m) if f else u
                  for u, w, m, f in zip(update_leaves, leaves, mask_leaves, flags)]
    new_updates = jax.tree.unflatten(treedef, new_leaves)
    new_state = SWDState(
        count=optax.safe_increment(state.count),
        penalty=coef,
        masks=masks,
        threshold=threshold.lo,
        threshold_slope=(threshold.slope if threshold.slope is not None
                         else state.threshold_slope),
        tracked=tracked)
    return new_updates, new_state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)

"""`structured_swd`: Selective Weight Decay on whole channels (BatchNorm gamma or filters)."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import chex
import jax
import jax.numpy as jnp
import optax

from optax_swd._src import arguments
from optax_swd._src import channels as channels_lib
from optax_swd._src import schedule as schedule_lib


class StructuredSWDState(NamedTuple):
  """State of :func:`structured_swd`.

  Attributes:
    count: the number of updates done so far (int32).
    penalty: the coefficient ``a(t) * weight_decay`` used by the last update (float32).
    masks: bool pytree like the params; ``True`` marks an entry penalised by the last
      update (gamma/beta of the selected channels, and with ``decay_kernels`` or
      ``criterion="filter_norm"`` the kernel slices attached to them).
    removed: bool ``[C]``: the channels selected by the last update, in the topology's
      channel order.
    threshold: float32: the largest importance among the selected channels.
    num_params: int32: the parameter count of the network with the selected channels
      cut out (the shrunk network).
  """
  count: chex.Array
  penalty: chex.Array
  masks: Any
  removed: chex.Array
  threshold: chex.Array
  num_params: chex.Array


def structured_swd(
    target: float,
    *,
    topology: Sequence[channels_lib.ChannelGroup],
    target_kind: str = "parameters",
    criterion: str = "bn_gamma",
    decay_kernels: bool = False,
    weight_decay: float = 5e-4,
    a_min: float = 0.1,
    a_max: float = 1e5,
    total_steps: int | None = None,
    penalty: float | optax.Schedule | None = None,
    min_kept: int = 1,
    allocation: str = "global",
) -> optax.GradientTransformationExtraArgs:
  r"""Structured Selective Weight Decay: a growing decay on the channels to remove.

  At every update the channels of ``topology`` are ranked by importance (``|gamma|`` of
  their BatchNorm, the paper's criterion, or the L2 norm of the filters producing them)
  and the least important are selected (:func:`optax_swd.select_channels`): a fraction
  ``target`` of the channels, or (the paper's ``target_kind="parameters"``) the fewest
  channels whose removal leaves at most ``(1 - target)`` of the network's parameters,
  found by an on-device bisection on the global threshold. The selected channels' entries
  ``w`` get the decay

  .. math::

    u \leftarrow u + a(t)\, \mu\, w \,[w \in S_t], \qquad
    a(t) = a_{min} \left(\frac{a_{max}}{a_{min}}\right)^{\min(t, T) / T}

  where ``S_t`` holds ``gamma`` and ``beta`` of the selected channels (they share one
  mask), plus, for ``criterion="filter_norm"``, the producing filters and biases, and for
  ``decay_kernels=True`` (the code's ``structuredF``) the producing filters, biases and
  the consumers' input slices as well. By the end of training the selected channels are
  ~0, so :func:`optax_swd.prune_channels` and :func:`optax_swd.shrink` cost ~nothing.

  Args:
    target: the fraction of parameters (or channels) to remove, in ``[0, 1)``; may be a
      traced array (e.g. under ``optax.inject_hyperparams``).
    topology: a sequence of :class:`optax_swd.ChannelGroup` describing the channels.
    target_kind: ``"parameters"`` (of the shrunk network, the paper's) or ``"channels"``.
    criterion: ``"bn_gamma"`` or ``"filter_norm"`` (for networks without BatchNorm).
    decay_kernels: also decay the kernel slices producing / reading the selected
      channels (the ``structuredF`` variant).
    weight_decay: ``mu``, ``>= 0`` (paper: 5e-4).
    a_min: the first value of ``a``, ``> 0`` (paper: 0.1).
    a_max: the last value of ``a``, ``>= a_min`` (paper: 1e5).
    total_steps: ``T``; required unless ``penalty`` is given.
    penalty: a fixed ``a`` (float ``>= 0``) or an ``optax.Schedule`` instead of the
      exponential schedule.
    min_kept: channels each group always keeps (never selected), an int ``>= 0``.
    allocation: ``"global"`` (one importance threshold for the whole network, the
      paper's) or ``"uniform"`` (the same fraction of every channel group, a
      latency-aware rule; see :func:`optax_swd.select_channels`).

  Returns:
    An ``optax.GradientTransformationExtraArgs``; its ``update`` requires ``params``.
    Its state is a :class:`StructuredSWDState`.

  Example:
    >>> import jax, jax.numpy as jnp, optax, optax_swd
    >>> params = {"conv": {"kernel": jnp.ones((3, 3, 1, 4))},
    ...           "bn": {"scale": jnp.array([1.0, 0.1, 0.5, 0.2]), "bias": jnp.zeros(4)},
    ...           "fc": {"kernel": jnp.ones((4, 2)), "bias": jnp.zeros(2)}}
    >>> topology = [optax_swd.ChannelGroup(
    ...     "c1", bns=("bn",), producers=("conv",), consumers=("fc",))]
    >>> tx = optax.chain(
    ...     optax_swd.structured_swd(0.5, topology=topology, target_kind="channels",
    ...                              total_steps=100),
    ...     optax.sgd(0.1, momentum=0.9))
    >>> state = tx.init(params)
    >>> _, state = tx.update(jax.tree.map(jnp.zeros_like, params), state, params)
    >>> state[0].removed
    Array([False,  True, False,  True], dtype=bool)

  References:
    Tessier et al., "Rethinking Weight Decay for Efficient Neural Network Pruning",
    Journal of Imaging 8(3):64, 2022 (arXiv 2011.10520); the official code's
    ``structured`` and ``structuredF`` modes.
  """
  channels_lib.check_target(target, target_kind)
  arguments.choice("criterion", criterion, channels_lib.CRITERIA)
  if not isinstance(decay_kernels, bool):
    raise TypeError(f"decay_kernels must be a bool, got {decay_kernels!r}.")
  arguments.real("weight_decay", weight_decay, low=0.0, accepted=" >= 0")
  if penalty is not None:
    arguments.real("a_min", a_min, low=0.0, low_open=True, accepted=" > 0")
    arguments.real("a_max", a_max, low=0.0, low_open=True, accepted=" > 0")
    if total_steps is not None:
      arguments.positive_int("total_steps", total_steps)
  schedule = schedule_lib.penalty_schedule(penalty, a_min, a_max, total_steps)
  arguments.nonnegative_int("min_kept", min_kept)
  arguments.choice("allocation", allocation, channels_lib.ALLOCATIONS)
  if isinstance(topology, channels_lib.ChannelGroup) or not isinstance(
      topology, (list, tuple)):
    raise TypeError("topology must be a list or tuple of optax_swd.ChannelGroup, got "
                    f"{type(topology).__name__}.")
  roles = [channels_lib._BN]  # pylint: disable=protected-access
  if criterion == "filter_norm" or decay_kernels:
    roles.append(channels_lib._PRODUCER)  # pylint: disable=protected-access
  if decay_kernels:
    roles.append(channels_lib._CONSUMER)  # pylint: disable=protected-access

  def init_fn(params):
    res = channels_lib.resolve(topology, params)  # Checks the topology up front.
    if criterion == "bn_gamma" and not res.bn_scale:
      raise ValueError("criterion='bn_gamma' needs BatchNorms in the topology (bns=); "
                       "use criterion='filter_norm' for a network without BatchNorm.")
    return StructuredSWDState(
        count=jnp.zeros([], jnp.int32),
        penalty=jnp.zeros([], jnp.float32),
        masks=jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), bool), params),
        removed=jnp.zeros([res.num_channels], bool),
        threshold=jnp.zeros([], jnp.float32),
        num_params=jnp.asarray(res.total_params, jnp.int32))

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    arguments.require_params("structured_swd", params, "channels")
    res = channels_lib.resolve(topology, params)
    scores = channels_lib.importance(res, params, criterion)
    sel = channels_lib.select(res, scores, target, target_kind, min_kept, allocation)
    masks = channels_lib.leaf_masks(res, params, sel.removed, roles)
    coef = jnp.asarray(schedule(state.count), jnp.float32) * jnp.asarray(
        weight_decay, jnp.float32)
    coef = jnp.where(jnp.all(jnp.isfinite(scores)), coef, jnp.nan)  # NaN: make it loud.

    def decayed(u, w, m):
      decay = coef * jnp.where(m, w, 0).astype(jnp.float32)
      return u + decay.astype(u.dtype)

    new_updates = jax.tree.map(decayed, updates, params, masks)
    return new_updates, StructuredSWDState(
        count=optax.safe_increment(state.count), penalty=coef, masks=masks,
        removed=sel.removed, threshold=sel.threshold, num_params=sel.num_params)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)

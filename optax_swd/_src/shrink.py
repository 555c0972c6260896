"""`shrink`: physically remove pruned channels from Flax params and BatchNorm statistics."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import numpy as np

from optax_swd._src import arguments
from optax_swd._src import channels as channels_lib


class Shrunk(NamedTuple):
  """The narrower network.

  Attributes:
    params: the params with the removed channels cut out of every kernel, bias and
      BatchNorm scale/bias (kept channels in their original order).
    batch_stats: the BatchNorm statistics (``mean``, ``var``) cut the same way.
    widths: ``{group name: channels kept}``, from which a model builds the matching
      definition (e.g. ``benchmarks.topologies.resnet20_widths``).
  """
  params: Any
  batch_stats: Any
  widths: dict


def shrink(params, batch_stats, topology: Sequence[channels_lib.ChannelGroup],
           removed, *, multiple_of: int = 1) -> Shrunk:
  """Cuts the ``removed`` channels out of the params and the BatchNorm statistics.

  Every leaf axis the topology maps onto channels keeps only the indices of kept channels
  (and the indices no group claims), in their original order: BatchNorm ``scale``,
  ``bias``, ``mean`` and ``var``, the producers' kernel output axes and biases, and the
  consumers' kernel input axes (for a flattened consumer, every spatial position's copy).

  The narrower network computes exactly what the full network computes after
  :func:`optax_swd.prune_channels` (``gamma = beta = 0`` on the removed channels makes
  their BatchNorm output 0, so nothing downstream sees them), up to float summation
  order. Without that hard prune, a removed channel whose ``beta`` is not ~0 would still
  feed the constant ``relu(beta)`` to its consumers; train with :func:`structured_swd`
  (which decays ``beta`` too) or call ``prune_channels`` first.

  ``multiple_of > 1`` keeps, in each group, up to ``multiple_of - 1`` of the removed
  channels (the first ones) so that the group's width is a multiple of it (or the whole
  group): after :func:`optax_swd.prune_channels` those channels are all zero, so the
  outputs do not change, but every layer's width (a sum of group widths) becomes a
  multiple, which XLA's CPU convolutions run several times faster per FLOP than odd
  widths. The parameter count grows accordingly.

  Not jit-compatible: the output shapes depend on ``removed``'s values.

  Args:
    params: the network's params (e.g. Flax ``variables["params"]``).
    batch_stats: the matching ``variables["batch_stats"]`` (``{}`` or ``None`` if none).
    topology: a sequence of :class:`optax_swd.ChannelGroup`.
    removed: bool ``[C]`` in the topology's channel order (e.g.
      ``select_channels(...).removed`` or ``StructuredSWDState.removed``).
    multiple_of: round each group's kept width up to a multiple of this, an int >= 1.

  Returns:
    A :class:`Shrunk` ``(params, batch_stats, widths)``.

  Example:
    >>> import jax.numpy as jnp, optax_swd
    >>> params = {"conv": {"kernel": jnp.ones((3, 3, 1, 4))},
    ...           "bn": {"scale": jnp.arange(4.0), "bias": jnp.zeros(4)},
    ...           "fc": {"kernel": jnp.ones((4, 2)), "bias": jnp.zeros(2)}}
    >>> stats = {"bn": {"mean": jnp.zeros(4), "var": jnp.ones(4)}}
    >>> topology = [optax_swd.ChannelGroup(
    ...     "c1", bns=("bn",), producers=("conv",), consumers=("fc",))]
    >>> small = optax_swd.shrink(params, stats, topology,
    ...                          jnp.array([True, False, True, False]))
    >>> small.params["fc"]["kernel"].shape, small.widths
    ((2, 2), {'c1': 2})
  """
  res = channels_lib.resolve(topology, params)
  removed = np.asarray(removed)
  if removed.shape != (res.num_channels,) or removed.dtype != np.bool_:
    raise ValueError(f"removed must be a bool vector of the topology's "
                     f"{res.num_channels} channels, got {removed.dtype} of shape "
                     f"{removed.shape}.")
  arguments.positive_int("multiple_of", multiple_of)
  starts = list(res.group_start) + [res.num_channels]
  if multiple_of > 1:
    removed = removed.copy()
    for g in range(len(res.group_names)):
      group = np.arange(starts[g], starts[g + 1])
      kept = int(np.sum(~removed[group]))
      want = min(len(group), -(-kept // multiple_of) * multiple_of)
      removed[group[removed[group]][:want - kept]] = False
  removed_ext = np.concatenate([removed, [False]])

  def kept(channel_map):
    return np.flatnonzero(~removed_ext[np.where(channel_map >= 0, channel_map, -1)])

  paths, leaves, treedef = channels_lib.leaf_paths(params)
  leaves = [np.asarray(x) for x in leaves]
  for m in res.axis_maps:
    leaves[m.leaf] = np.take(leaves[m.leaf], kept(m.channel), axis=m.axis)
  new_params = jax.tree_util.tree_unflatten(treedef, leaves)

  new_stats = batch_stats
  if batch_stats:
    scale_map = {paths[m.leaf][:-len("/scale")]: m.channel for m in res.axis_maps
                 if paths[m.leaf].endswith("/scale")}
    stat_paths, stat_leaves, stat_def = channels_lib.leaf_paths(batch_stats)
    stat_leaves = [np.asarray(x) for x in stat_leaves]
    for i, path in enumerate(stat_paths):
      module = path.rsplit("/", 1)[0]
      if module in scale_map:
        stat_leaves[i] = np.take(stat_leaves[i], kept(scale_map[module]), axis=-1)
    new_stats = jax.tree_util.tree_unflatten(stat_def, stat_leaves)

  widths = {name: int(np.sum(~removed[starts[g]:starts[g + 1]]))
            for g, name in enumerate(res.group_names)}
  return Shrunk(new_params, new_stats, widths)

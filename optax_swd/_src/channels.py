"""Channel topology of a network: which leaves lose which slices when a channel goes.

A *topology* is a sequence of :class:`ChannelGroup`. A group is a set of channels that
live and die together; each group names

* ``bns``: the BatchNorm modules whose ``scale`` (gamma) and ``bias`` (beta) hold the
  group's channels (their importance for ``criterion="bn_gamma"``),
* ``producers``: the convolution / dense modules whose ``kernel`` output axis (last axis)
  and ``bias`` produce the channels,
* ``consumers``: the modules whose ``kernel`` input axis (second to last) reads them.

Each entry is a module path into the params (``"stage1_block1/bn2"``), optionally
restricted to a slice of the channel axis: ``("path", start, stop)`` means that the
group's channel ``i`` is that leaf's channel ``start + i``. A consumer that reads a
*flattened* NHWC feature map (a dense layer after ``reshape``) is written
``("path", start, stop, every)``: its input index ``p * every + c`` is channel ``c`` at
spatial position ``p`` (``every`` = the channel count of the flattened map).

Channels tied by a residual addition form one group (every BN, producer and consumer of
the tied channels is listed in it). A tied channel's importance is the **maximum** over
its BNs of ``|gamma|`` (or, for ``criterion="filter_norm"``, the maximum over its
producers of the L2 norm of the filter producing it): it is removed only when it is
unimportant everywhere, which is what a penalty on all its members drives towards.

The parameter count of the *shrunk* network follows from the topology: a leaf with
channel axes counts ``prod(other dims) * alive(out axis) * alive(in axis)``, where an
axis's alive count is its size minus the removed channels mapped onto it (a flattened
consumer loses ``size / every`` inputs per channel). Leaves outside the topology count in
full. Everything here is computed with static index maps, so it runs under ``jax.jit``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optax_swd._src import arguments

CRITERIA = ("bn_gamma", "filter_norm")
TARGET_KINDS = ("parameters", "channels")
ALLOCATIONS = ("global", "uniform")

_BN, _PRODUCER, _CONSUMER = "bn", "producer", "consumer"


class ChannelGroup(NamedTuple):
  """Channels that are kept or removed together (see the module docstring).

  Attributes:
    name: a unique name (the key of the shrunk widths).
    bns: BatchNorm module paths (``scale`` and ``bias`` leaves), or slices of them.
    producers: conv/dense module paths whose kernel's last axis (and bias) produce the
      channels, or slices ``(path, start, stop)``.
    consumers: module paths whose kernel's second-to-last axis reads the channels, or
      slices ``(path, start, stop)`` / ``(path, start, stop, every)`` (flattened input).
  """
  name: str
  bns: Sequence[Any] = ()
  producers: Sequence[Any] = ()
  consumers: Sequence[Any] = ()


@dataclasses.dataclass(frozen=True)
class _AxisMap:
  """One channel axis of one leaf: ``channel[j]`` is the global channel or -1."""
  leaf: int
  axis: int
  role: str
  channel: np.ndarray


@dataclasses.dataclass(frozen=True)
class Resolved:
  """A topology checked against params' shapes, as static index maps."""
  num_channels: int
  group_of_channel: np.ndarray          # [C] int
  group_names: tuple[str, ...]
  group_start: np.ndarray               # [G] first global channel of each group
  axis_maps: tuple[_AxisMap, ...]
  bn_scale: tuple[tuple[int, np.ndarray, np.ndarray], ...]    # (leaf, positions, channels)
  producer_kernels: tuple[tuple[int, np.ndarray, np.ndarray], ...]
  leaf_shapes: tuple[tuple[int, ...], ...]
  leaf_paths: tuple[str, ...]
  total_params: int
  bn_modules: tuple[tuple[str, np.ndarray, np.ndarray], ...]  # (module path, pos, channels)


def _path_str(key_path) -> str:
  parts = []
  for k in key_path:
    for attr in ("key", "name", "idx"):
      if hasattr(k, attr):
        parts.append(str(getattr(k, attr)))
        break
    else:
      parts.append(str(k))
  return "/".join(parts)


def leaf_paths(tree) -> tuple[list[str], list[Any], Any]:
  """``("a/b/kernel", ...)``, the leaves and the treedef of a params pytree."""
  with_path, treedef = jax.tree_util.tree_flatten_with_path(tree)
  return [_path_str(p) for p, _ in with_path], [x for _, x in with_path], treedef


def _parse_ref(group: str, field: str, ref) -> tuple[str, int, int | None, int | None]:
  if isinstance(ref, str):
    return ref, 0, None, None
  if isinstance(ref, (tuple, list)) and len(ref) in (3, 4) and isinstance(ref[0], str):
    ints = ref[1:]
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in ints):
      every = int(ref[3]) if len(ref) == 4 else None
      if len(ref) == 4 and field != "consumers":
        raise ValueError(f"topology group {group!r}: {field} entry {ref!r}: only "
                         "consumers take an 'every' (flattened input) field.")
      return ref[0], int(ref[1]), int(ref[2]), every
  raise ValueError(
      f"topology group {group!r}: {field} entries must be a module path 'a/b' or a "
      f"tuple (path, start, stop) (consumers also (path, start, stop, every)); got {ref!r}.")


def _lookup(index: dict[str, int], group: str, field: str, module: str, leaf: str,
            required: bool = True) -> int | None:
  key = f"{module}/{leaf}" if module else leaf
  if key in index:
    return index[key]
  if not required:
    return None
  modules = sorted({p.rsplit("/", 1)[0] for p in index if "/" in p})
  hint = [m for m in modules if module.split("/")[-1] in m][:5] or modules[:8]
  raise ValueError(
      f"topology group {group!r}: {field} entry {module!r} is not a module with a "
      f"'{leaf}' leaf in the params (unknown path). Known modules include: {hint}.")


def resolve(topology: Sequence[ChannelGroup], params) -> Resolved:
  """Checks ``topology`` against ``params`` and builds its static index maps.

  Raises:
    ValueError: unknown paths, a group with BatchNorms (or anything) but no producer,
      slices out of range or of different sizes within a group, channels claimed by
      two groups, a flattened consumer whose input size is not a multiple of ``every``.
    TypeError: ``topology`` is not a sequence of :class:`ChannelGroup`.
  """
  if isinstance(topology, ChannelGroup) or not isinstance(topology, (list, tuple)):
    raise TypeError("topology must be a list or tuple of optax_swd.ChannelGroup, got "
                    f"{type(topology).__name__}.")
  if not topology:
    raise ValueError("topology must hold at least one ChannelGroup, got an empty one.")
  paths, leaves, _ = leaf_paths(params)
  shapes = tuple(tuple(int(d) for d in np.shape(x)) for x in leaves)
  index = {p: i for i, p in enumerate(paths)}
  names, starts, group_of = [], [], []
  owner: dict[tuple[int, int], np.ndarray] = {}   # (leaf, axis) -> channel map
  roles: dict[tuple[int, int], str] = {}
  bn_scale, producer_kernels, bn_modules = [], [], []
  total = 0
  for g, group in enumerate(topology):
    if not isinstance(group, ChannelGroup):
      raise TypeError(f"topology[{g}] must be an optax_swd.ChannelGroup, got "
                      f"{type(group).__name__}.")
    name = group.name
    if not isinstance(name, str) or not name:
      raise ValueError(f"topology[{g}].name must be a non-empty str, got {name!r}.")
    if name in names:
      raise ValueError(f"topology group names must be unique; {name!r} appears twice.")
    for field in ("bns", "producers", "consumers"):
      if isinstance(getattr(group, field), str):
        raise ValueError(f"topology group {name!r}: {field} must be a sequence of "
                         f"entries, got the str {getattr(group, field)!r} (wrap it in a "
                         "tuple).")
    if not group.producers:
      what = "BatchNorm(s) " + repr(tuple(group.bns)) if group.bns else "channels"
      raise ValueError(
          f"topology group {name!r} names {what} but no producer: list the conv/dense "
          "modules whose kernel produces these channels in producers=.")
    # (leaf, axis, role, start, stop, every) for every member leaf axis.
    members = []
    for field, leaf_names, role in (("bns", ("scale", "bias"), _BN),
                                    ("producers", ("kernel", "bias"), _PRODUCER),
                                    ("consumers", ("kernel",), _CONSUMER)):
      for ref in getattr(group, field):
        module, start, stop, every = _parse_ref(name, field, ref)
        for leaf_name in leaf_names:
          required = leaf_name != "bias" or role == _BN
          i = _lookup(index, name, field, module, leaf_name, required)
          if i is None:
            continue
          shape = shapes[i]
          axis = -2 if role == _CONSUMER else -1
          if role == _BN and len(shape) != 1:
            raise ValueError(f"topology group {name!r}: BatchNorm {module!r} has a "
                             f"{leaf_name} of shape {shape}; expected a vector.")
          if len(shape) < (2 if axis == -2 else 1):
            raise ValueError(f"topology group {name!r}: {field} entry {module!r} has a "
                             f"{leaf_name} of shape {shape}, which has no input axis.")
          members.append((i, len(shape) + axis, role, module, field, start, stop, every))
    sizes = set()
    resolved_members = []
    for i, axis, role, module, field, start, stop, every in members:
      dim = shapes[i][axis]
      span = every if every is not None else dim
      if every is not None and (every <= 0 or dim % every):
        raise ValueError(
            f"topology group {name!r}: consumer {module!r} has {dim} inputs, not a "
            f"multiple of every={every} (mismatched shapes).")
      stop_ = span if stop is None else stop
      if not 0 <= start < stop_ <= span:
        raise ValueError(
            f"topology group {name!r}: {field} entry {module!r} slice [{start}:{stop_}] "
            f"is outside its channel axis of size {span} (mismatched shapes).")
      sizes.add(stop_ - start)
      resolved_members.append((i, axis, role, module, start, stop_, span))
    if len(sizes) != 1:
      detail = ", ".join(f"{shapes[i]}{'' if (s, e) == (0, sp) else f'[{s}:{e}]'} of "
                         f"{paths[i]}" for i, _, _, _, s, e, sp in resolved_members)
      raise ValueError(
          f"topology group {name!r}: its members have different channel counts "
          f"{sorted(sizes)} (mismatched shapes): {detail}.")
    size = sizes.pop()
    first = len(group_of)
    names.append(name)
    starts.append(first)
    group_of.extend([g] * size)
    channels = np.arange(first, first + size)
    for i, axis, role, module, start, stop, span in resolved_members:
      key = (i, axis)
      if key not in owner:
        owner[key] = np.full(shapes[i][axis], -1, np.int64)
        roles[key] = role
      elif roles[key] != role:
        raise ValueError(f"topology group {name!r}: leaf {paths[i]} axis {axis} is used "
                         f"as {role} and as {roles[key]}.")
      positions = (np.arange(shapes[i][axis] // span)[:, None] * span
                   + np.arange(start, stop)[None, :]).reshape(-1)
      taken = owner[key][positions]
      if np.any(taken >= 0):
        other = names[int(np.asarray(group_of)[taken[taken >= 0][0]])]
        raise ValueError(
            f"topology group {name!r}: channels [{start}:{stop}] of {paths[i]} (axis "
            f"{axis}) are already claimed by group {other!r}.")
      owner[key][positions] = np.tile(channels, shapes[i][axis] // span)
      if role == _BN and paths[i].endswith("/scale"):
        bn_scale.append((i, np.arange(start, stop), channels))
        bn_modules.append((module, np.arange(start, stop), channels))
      if role == _PRODUCER and len(shapes[i]) >= 2:
        producer_kernels.append((i, np.arange(start, stop), channels))
  for shape in shapes:
    total += math.prod(shape)
  axis_maps = tuple(_AxisMap(leaf, axis, roles[(leaf, axis)], owner[(leaf, axis)])
                    for (leaf, axis) in sorted(owner))
  return Resolved(
      num_channels=len(group_of), group_of_channel=np.asarray(group_of, np.int64),
      group_names=tuple(names), group_start=np.asarray(starts, np.int64),
      axis_maps=axis_maps, bn_scale=tuple(bn_scale),
      producer_kernels=tuple(producer_kernels), leaf_shapes=shapes,
      leaf_paths=tuple(paths), total_params=total, bn_modules=tuple(bn_modules))


def _leaves(params):
  return jax.tree_util.tree_leaves(params)


def importance(res: Resolved, params, criterion: str) -> jax.Array:
  """float32 ``[C]``: max ``|gamma|`` over a channel's BNs, or max filter L2 norm."""
  leaves = _leaves(params)
  out = jnp.zeros([res.num_channels], jnp.float32)
  if criterion == "bn_gamma":
    sources = res.bn_scale
    if not sources:
      raise ValueError("criterion='bn_gamma' needs BatchNorms in the topology (bns=); "
                       "use criterion='filter_norm' for a network without BatchNorm.")
    for leaf, positions, channels in sources:
      values = jnp.abs(leaves[leaf][positions].astype(jnp.float32))
      out = out.at[channels].max(values)
  else:
    for leaf, positions, channels in res.producer_kernels:
      kernel = leaves[leaf].astype(jnp.float32)
      norms = jnp.sqrt(jnp.sum(kernel.reshape(-1, kernel.shape[-1]) ** 2, axis=0))
      out = out.at[channels].max(norms[positions])
  return out


def _axis_flags(channel_map: np.ndarray, flags_ext: jax.Array) -> jax.Array:
  return flags_ext[np.where(channel_map >= 0, channel_map, flags_ext.shape[0] - 1)]


def param_count(res: Resolved, removed: jax.Array) -> jax.Array:
  """int32: the parameter count of the network with the ``removed`` channels cut out."""
  removed_ext = jnp.concatenate([jnp.asarray(removed, bool), jnp.zeros([1], bool)])
  by_leaf: dict[int, dict[int, jax.Array]] = {}
  for m in res.axis_maps:
    alive = jnp.sum(~_axis_flags(m.channel, removed_ext), dtype=jnp.int32)
    by_leaf.setdefault(m.leaf, {})[m.axis] = alive
  count = jnp.int32(res.total_params - sum(math.prod(res.leaf_shapes[i]) for i in by_leaf))
  for leaf, alive in by_leaf.items():
    shape = res.leaf_shapes[leaf]
    rest = math.prod(d for a, d in enumerate(shape) if a not in alive)
    term = jnp.int32(rest)
    for value in alive.values():
      term = term * value
    count = count + term
  return count


def protected(res: Resolved, scores: jax.Array, min_kept: int) -> jax.Array:
  """bool ``[C]``: each group's ``min_kept`` highest-scoring channels (never removed)."""
  if min_kept == 0:
    return jnp.zeros([res.num_channels], bool)
  group = jnp.asarray(res.group_of_channel)
  order = jnp.lexsort((-scores, group))  # by group, then by decreasing score
  position = jnp.arange(res.num_channels) - jnp.asarray(res.group_start)[group[order]]
  rank_in_group = jnp.zeros([res.num_channels], jnp.int32).at[order].set(position)
  return rank_in_group < min_kept


class Selection(NamedTuple):
  removed: jax.Array     # bool [C]
  threshold: jax.Array   # float32: the largest removed importance (0 if none)
  num_params: jax.Array  # int32: parameters of the shrunk network


def _rank_fraction(res: Resolved, scores: jax.Array) -> jax.Array:
  """float32 ``[C]``: ``(rank + 1) / group size``, rank by increasing score in its group."""
  c = res.num_channels
  group = jnp.asarray(res.group_of_channel)
  order = jnp.lexsort((scores, group))  # by group, then by increasing score
  position = jnp.arange(c) - jnp.asarray(res.group_start)[group[order]]
  rank = jnp.zeros([c], jnp.int32).at[order].set(position)
  sizes = np.diff(np.asarray(list(res.group_start) + [c]))
  return (rank + 1).astype(jnp.float32) / jnp.asarray(sizes, jnp.float32)[group]


def select(res: Resolved, scores: jax.Array, target, target_kind: str,
           min_kept: int, allocation: str = "global") -> Selection:
  """The channels to remove: the ``k`` lowest scores outside the protected ones.

  ``allocation="uniform"`` ranks by each channel's rank fraction within its group
  instead of its score, so removing the ``k`` lowest removes (to one channel) the same
  fraction of every group, each group losing its least important channels.

  ``target_kind="channels"``: ``k = floor(target * C)`` (capped at the eligible count).
  ``target_kind="parameters"``: the smallest ``k`` whose shrunk network has at most
  ``(1 - target) * total`` parameters, found by bisection on ``k`` (equivalently on the
  global score threshold) with ``ceil(log2(C + 1))`` fused evaluations of the count;
  if even removing every eligible channel is not enough, all eligible ones are removed.
  """
  c = res.num_channels
  keep = protected(res, scores, min_kept)
  eligible = jnp.sum(~keep, dtype=jnp.int32)
  ranking = _rank_fraction(res, scores) if allocation == "uniform" else scores
  sortable = jnp.where(keep, jnp.inf, ranking)
  order = jnp.argsort(sortable, stable=True)
  rank = jnp.zeros([c], jnp.int32).at[order].set(jnp.arange(c, dtype=jnp.int32))
  removed_at = lambda k: rank < k
  target = jnp.asarray(target, jnp.float32)
  if target_kind == "channels":
    k = jnp.minimum(jnp.floor(target * c).astype(jnp.int32), eligible)
  else:
    budget = (1.0 - target) * res.total_params

    def body(_, bounds):
      lo, hi = bounds
      mid = (lo + hi) // 2
      fits = param_count(res, removed_at(mid)).astype(jnp.float32) <= budget
      return jnp.where(fits, lo, mid + 1), jnp.where(fits, mid, hi)

    iters = max(1, math.ceil(math.log2(c + 1)) + 1)
    k, _ = jax.lax.fori_loop(0, iters, body, (jnp.int32(0), eligible))
  removed = removed_at(k)
  if allocation == "uniform":
    threshold = jnp.where(k > 0, jnp.max(jnp.where(removed, scores, -jnp.inf)), 0.0)
  else:
    threshold = jnp.where(k > 0, sortable[order[jnp.maximum(k - 1, 0)]], 0.0)
  return Selection(removed, threshold.astype(jnp.float32), param_count(res, removed))


def leaf_masks(res: Resolved, params, removed: jax.Array, roles: Sequence[str]):
  """bool pytree like ``params``: entries on a removed channel of an axis of ``roles``."""
  paths, leaves, treedef = leaf_paths(params)
  del paths
  removed_ext = jnp.concatenate([jnp.asarray(removed, bool), jnp.zeros([1], bool)])
  masks = [jnp.zeros(np.shape(x), bool) for x in leaves]
  for m in res.axis_maps:
    if m.role not in roles:
      continue
    flags = _axis_flags(m.channel, removed_ext)
    shape = [1] * len(res.leaf_shapes[m.leaf])
    shape[m.axis] = -1
    masks[m.leaf] = masks[m.leaf] | flags.reshape(shape)
  return jax.tree_util.tree_unflatten(treedef, masks)


def check_target(target, target_kind: str):
  arguments.choice("target_kind", target_kind, TARGET_KINDS)
  return arguments.sparsity(target, "target")


# Public wrappers --------------------------------------------------------------------


def channel_importance(params, topology: Sequence[ChannelGroup], *,
                       criterion: str = "bn_gamma") -> jax.Array:
  """The importance of every channel of ``topology``, in its order (jit-compatible).

  Args:
    params: the network's params (a pytree of arrays, e.g. Flax's ``variables["params"]``).
    topology: a sequence of :class:`ChannelGroup`.
    criterion: ``"bn_gamma"`` (max ``|gamma|`` over the channel's BatchNorms, the
      paper's) or ``"filter_norm"`` (max L2 norm of the filters producing it).

  Returns:
    float32 ``[C]``, the groups' channels one after the other.
  """
  arguments.choice("criterion", criterion, CRITERIA)
  return importance(resolve(topology, params), params, criterion)


def shrunk_param_count(params, topology: Sequence[ChannelGroup], removed) -> jax.Array:
  """The number of parameters of the network once the ``removed`` channels are cut out.

  Every leaf of ``params`` counts; a leaf with channel axes in the topology counts
  ``prod(other dims) * alive(out axis) * alive(in axis)``. Jit-compatible.

  Args:
    params: the network's params.
    topology: a sequence of :class:`ChannelGroup`.
    removed: bool ``[C]`` (``True`` = removed), in the topology's channel order.

  Returns:
    An int32 scalar.
  """
  res = resolve(topology, params)
  _check_removed(res, removed)
  return param_count(res, removed)


def _check_removed(res: Resolved, removed):
  if np.shape(removed) != (res.num_channels,):
    raise ValueError(f"removed must be a bool vector of the topology's {res.num_channels} "
                     f"channels, got shape {np.shape(removed)}.")


def select_channels(params, topology: Sequence[ChannelGroup], target: float, *,
                    target_kind: str = "parameters", criterion: str = "bn_gamma",
                    min_kept: int = 1, allocation: str = "global") -> Selection:
  r"""The channels a structured criterion removes at ``target`` (jit-compatible).

  Channels are ranked by :func:`channel_importance`; each group keeps its ``min_kept``
  most important channels (so no layer is emptied), and among the others the least
  important are removed:

  * ``target_kind="channels"``: the ``floor(target * C)`` least important;
  * ``target_kind="parameters"`` (the paper's): the fewest whose removal leaves the
    shrunk network with at most ``(1 - target) * P`` parameters (``P`` = all params),
    found by bisection on the global importance threshold. Removing one channel fewer
    would exceed the budget, so the target is met to within one channel's parameters.

  ``allocation`` says how the removals are spread over the groups: ``"global"`` (the
  paper's) removes the least important channels of the whole network, one threshold
  for all; ``"uniform"`` removes the same fraction of every group (to one channel), each
  group its least important ones. The global rule keeps a ResNet's residual stream
  (one group tied across many BatchNorms, ranked by its largest ``|gamma|``) and thins
  the blocks' inner convolutions to a few channels, which saves parameters and FLOPs
  but little memory traffic; the uniform rule thins the stream too, so the activations
  and, on a memory-bound CPU, the latency shrink with the parameters (measured in
  ``benchmarks/RESULTS.md``), possibly at some accuracy cost.

  Args:
    params: the network's params.
    topology: a sequence of :class:`ChannelGroup`.
    target: the fraction of parameters (or channels) to remove, in ``[0, 1)``.
    target_kind: ``"parameters"`` or ``"channels"``.
    criterion: ``"bn_gamma"`` or ``"filter_norm"``.
    min_kept: channels each group always keeps, an int ``>= 0``.
    allocation: ``"global"`` or ``"uniform"`` (see above).

  Returns:
    A ``Selection(removed, threshold, num_params)``: bool ``[C]``, the largest removed
    importance, and the shrunk network's parameter count.
  """
  check_target(target, target_kind)
  arguments.choice("criterion", criterion, CRITERIA)
  arguments.nonnegative_int("min_kept", min_kept)
  arguments.choice("allocation", allocation, ALLOCATIONS)
  res = resolve(topology, params)
  return select(res, importance(res, params, criterion), target, target_kind, min_kept,
                allocation)


def prune_channels(params, topology: Sequence[ChannelGroup], removed):
  """Hard structured pruning: zeroes everything attached to the ``removed`` channels.

  Zeroes ``gamma`` and ``beta`` of the removed channels, the producers' kernel output
  slices and biases, and the consumers' kernel input slices. With ``gamma = beta = 0`` a
  removed channel's BatchNorm output is exactly 0 (the running statistics do not
  matter), so the pruned network computes what :func:`optax_swd.shrink` builds.

  Args:
    params: the network's params.
    topology: a sequence of :class:`ChannelGroup`.
    removed: bool ``[C]`` in the topology's channel order (e.g. ``select_channels(...)
      .removed``).

  Returns:
    The params with those entries set to 0 (same structure and shapes).
  """
  res = resolve(topology, params)
  _check_removed(res, removed)
  masks = leaf_masks(res, params, removed, (_BN, _PRODUCER, _CONSUMER))
  return jax.tree.map(lambda p, m: jnp.where(m, jnp.zeros_like(p), p), params, masks)

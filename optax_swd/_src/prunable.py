"""Which parameters take part in pruning, and their scores and groups for selection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from optax_swd._src import selection

SCOPES = ("global", "layer", "erk")
SCORES = ("magnitude", "layer_normalized")


def _is_float_array(leaf) -> bool:
  return hasattr(leaf, "dtype") and hasattr(leaf, "shape") and jnp.issubdtype(
      leaf.dtype, jnp.floating)


def resolve(params, prunable) -> tuple[list, list[bool], jax.tree_util.PyTreeDef]:
  """Returns (param leaves, prunable flag per leaf, treedef) and validates ``prunable``.

  Raises:
    TypeError / ValueError naming ``prunable`` when it does not match the params, marks a
    non-float leaf, or (for a non-empty params tree) marks no leaf at all.
  """
  leaves, treedef = jax.tree.flatten(params)
  if prunable is None:
    flags = [bool(_is_float_array(p) and p.ndim >= 2) for p in leaves]
  else:
    spec = prunable(params) if callable(prunable) else prunable
    try:
      flags = treedef.flatten_up_to(spec)
    except (ValueError, TypeError) as e:
      raise ValueError(
          "prunable must be None, a pytree of bools with the params' structure, or a "
          f"callable params -> such a pytree; its structure does not match the params: {e}"
      ) from None
    for i, f in enumerate(flags):
      if isinstance(f, (bool, np.bool_)):
        continue
      if isinstance(f, (jax.Array, np.ndarray)) and np.ndim(f) == 0 and not isinstance(
          f, jax.core.Tracer) and np.asarray(f).dtype == np.bool_:
        continue
      raise TypeError(
          f"prunable must hold Python bools (one per params leaf); leaf {i} is {f!r}.")
    flags = [bool(f) for f in flags]
    for i, (p, f) in enumerate(zip(leaves, flags)):
      if f and not _is_float_array(p):
        raise TypeError(
            "prunable marks a leaf that is not a floating-point array (leaf "
            f"{i}: {type(p).__name__} {getattr(p, 'dtype', '')}); only float leaves can "
            "be pruned.")
  if leaves and not any(flags):
    raise ValueError(
        "prunable selects no leaf of the params: with prunable=None only float leaves "
        "with ndim >= 2 are pruned; pass a pytree of bools (or a callable) to choose.")
  return leaves, flags, treedef


def erk_counts(shapes, sparsity: float) -> list[int]:
  """Per-leaf numbers to select under the Erdos-Renyi-Kernel budget (Evci et al. 2020).

  A leaf of shape (d_1, ..., d_r) keeps a fraction proportional to
  ``sum(d_i) / prod(d_i)`` (fewer weights pruned in small layers), scaled so that the kept
  weights total ``N - floor(sparsity * N)``; fractions above 1 are capped (those leaves stay
  dense) and the rest re-scaled. Counts are integers summing exactly to
  ``floor(sparsity * N)``.
  """
  sizes = np.array([int(np.prod(s)) for s in shapes], np.float64)
  raw = np.array([sum(s) / np.prod(s) for s in shapes], np.float64)
  total = sizes.sum()
  keep_total = total - np.floor(sparsity * total)
  dense = np.zeros(len(shapes), bool)
  while True:
    budget = keep_total - sizes[dense].sum()
    eps = budget / max((raw * sizes)[~dense].sum(), 1e-30)
    density = np.where(dense, 1.0, eps * raw)
    if not (density > 1.0).any():
      break
    dense |= density > 1.0
  keep = np.minimum(np.floor(density * sizes), sizes)
  # Hand the rounding remainder out by largest fractional part, within each leaf's size.
  remainder = int(keep_total - keep.sum())
  order = np.argsort(-(density * sizes - keep), kind="stable")
  for i in order:
    if remainder <= 0:
      break
    if keep[i] < sizes[i]:
      keep[i] += 1
      remainder -= 1
  return [int(n - k) for n, k in zip(sizes, keep)]


def layer_normalized_scale(leaf):
  """1 / RMS of the leaf: ranks weights by their size relative to their own layer."""
  w = leaf.astype(jnp.float32)
  rms = jnp.sqrt(jnp.mean(jnp.square(w)))
  return 1.0 / jnp.maximum(rms, jnp.finfo(jnp.float32).tiny)


def groups(leaves, flags, scope: str, sparsity, *, score: str = "magnitude",
           min_kept: int = 0):
  """Everything the selection needs for one call.

  Returns:
    (selection leaves, group of each, number of groups, ks, eligible counts or None).
  """
  arrays = [p for p, f in zip(leaves, flags) if f]
  flats = [p.reshape(-1) for p in arrays]
  scales = [layer_normalized_scale(p) if score == "layer_normalized" else None
            for p in arrays]
  sel = [selection.Leaf(f, scale) for f, scale in zip(flats, scales)]
  sizes_l = [int(f.shape[0]) for f in flats]
  if scope == "global":
    group_of_leaf, sizes = [0] * len(sel), [sum(sizes_l)]
  else:
    group_of_leaf, sizes = list(range(len(sel))), sizes_l
  if scope == "erk":
    if isinstance(sparsity, jax.core.Tracer):
      raise ValueError("scope='erk' needs a static sparsity (a Python float).")
    ks = erk_counts([p.shape for p in arrays], float(sparsity))
  else:
    ks = counts_to_select(sparsity, sizes)
  eligible_counts = None
  traced = isinstance(min_kept, jax.core.Tracer)  # e.g. under optax.inject_hyperparams
  if scope == "global" and (traced or int(min_kept) > 0):
    # Never select a leaf's min_kept largest scores: they leave the global pool.
    if traced:
      caps = jnp.maximum(jnp.asarray(sizes_l, jnp.int32) - min_kept.astype(jnp.int32), 0)
      total_caps = jnp.sum(caps)
    else:
      caps = [max(n - int(min_kept), 0) for n in sizes_l]
      total_caps = sum(caps)
    th = selection.select(sel, list(range(len(sel))), len(sel), caps, method="search")
    eligible = selection.leaf_masks(sel, list(range(len(sel))), th)
    sel = [selection.Leaf(f, scale, e) for f, scale, e in zip(flats, scales, eligible)]
    eligible_counts = jnp.reshape(total_caps, (1,)) if traced else [total_caps]
    if traced or isinstance(ks, jax.Array):
      ks = jnp.minimum(jnp.asarray(ks, jnp.int32), total_caps)
    else:
      ks = [min(k, total_caps) for k in ks]
  return sel, group_of_leaf, len(sizes), ks, eligible_counts


def num_groups(flags, scope: str) -> int:
  n = sum(flags)
  return (1 if n else 0) if scope == "global" else n


def counts_to_select(sparsity, sizes):
  """floor(sparsity * n) for each group size: static ints when sparsity is concrete."""
  if isinstance(sparsity, jax.core.Tracer):
    s = jnp.asarray(sparsity, jnp.float32)
    return jnp.floor(s * jnp.asarray(sizes, jnp.float32)).astype(jnp.int32)
  return [int(np.floor(float(sparsity) * n)) for n in sizes]

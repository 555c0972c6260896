"""Which parameters take part in pruning, and their scores and groups for selection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

SCOPES = ("global", "layer")


def _is_float_array(leaf) -> bool:
  return hasattr(leaf, "dtype") and hasattr(leaf, "shape") and jnp.issubdtype(
      leaf.dtype, jnp.floating)


def default_prunable(params):
  """The default rule: every floating-point leaf with ``ndim >= 2`` (kernels)."""
  return jax.tree.map(lambda p: bool(_is_float_array(p) and p.ndim >= 2), params)


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


def groups(leaves, flags, scope: str):
  """(flat |w| scores, group of each prunable leaf, number of groups, group sizes)."""
  scores = [jnp.abs(p).reshape(-1).astype(jnp.float32)
            for p, f in zip(leaves, flags) if f]
  if scope == "global":
    group_of_leaf = [0] * len(scores)
    sizes = [sum(int(s.shape[0]) for s in scores)]
  else:
    group_of_leaf = list(range(len(scores)))
    sizes = [int(s.shape[0]) for s in scores]
  return scores, group_of_leaf, len(sizes), sizes


def num_groups(flags, scope: str) -> int:
  n = sum(flags)
  return (1 if n else 0) if scope == "global" else n


def counts_to_select(sparsity, sizes):
  """floor(sparsity * n) for each group size: static ints when sparsity is concrete."""
  if isinstance(sparsity, jax.core.Tracer):
    s = jnp.asarray(sparsity, jnp.float32)
    return jnp.floor(s * jnp.asarray(sizes, jnp.float32)).astype(jnp.int32)
  return [int(np.floor(float(sparsity) * n)) for n in sizes]

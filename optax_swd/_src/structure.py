"""N:M semi-structured selection: in every group of M weights, the M-N smallest.

The layout of NVIDIA's sparse tensor cores ("2:4"): a kernel's weights are split into
groups of ``M`` consecutive entries along its *input* dimension (axis ``-2``: ``in`` of a
Flax ``Dense`` kernel ``[in, out]`` and of a convolution kernel ``[h, w, in, out]``), and
at most ``N`` entries of each group may be non-zero. The selection (the weights SWD
penalises, and the ones :func:`optax_swd.prune` zeroes) is therefore, in every group, the
``M - N`` entries of smallest magnitude; ties go to the lowest position in the group, as
in the unstructured selection. The fraction selected is exactly ``(M - N) / M``.

No threshold search is needed: the rank of an entry in its group is counted directly
(``M`` is small), which is exact and one fused pass over the weights.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

_PATTERN = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse(structure) -> tuple[int, int]:
  """``"n:m"`` -> ``(n, m)``; ValueError naming ``structure`` unless ``0 < n < m``."""
  match = _PATTERN.match(structure) if isinstance(structure, str) else None
  if match is None:
    raise ValueError("structure must be None or a string 'n:m' (keep n of every m "
                     f"weights along the input dimension, e.g. '2:4'); got {structure!r}.")
  n, m = int(match.group(1)), int(match.group(2))
  if not 0 < n < m:
    raise ValueError(f"structure 'n:m' needs 0 < n < m; got {structure!r}.")
  return n, m


def fraction(n: int, m: int) -> float:
  """The fraction of weights an N:M structure selects (prunes): ``(m - n) / m``."""
  return (m - n) / m


def check_sparsity(sparsity, n: int, m: int, structure: str) -> None:
  """The ``sparsity`` given with a structure must be its fraction ``(m - n) / m``."""
  if isinstance(sparsity, jax.core.Tracer):
    return  # Traced (inject_hyperparams): the structure alone decides.
  if abs(float(sparsity) - fraction(n, m)) > 1e-6:
    raise ValueError(
        f"sparsity must be (m - n) / m = {fraction(n, m):g} with structure={structure!r} "
        f"(in every group of {m}, {m - n} are selected); got {sparsity!r}.")


def check_defaults(structure: str, **options) -> None:
  """The unstructured selection options have no meaning with a structure: they must
  keep their defaults (``scope="global"``, ``score="magnitude"``, ``min_kept=0``,
  ``selection="auto"``)."""
  defaults = {"scope": "global", "score": "magnitude", "min_kept": 0, "selection": "auto"}
  for name, value in options.items():
    if not isinstance(value, jax.core.Tracer) and value != defaults[name]:
      raise ValueError(
          f"{name}={value!r} cannot be combined with structure={structure!r} (each group "
          f"of m weights is its own selection); leave {name} at {defaults[name]!r}.")


def check_leaves(params, flags, m: int, structure: str) -> None:
  """ValueError naming the first prunable leaf whose input dimension ``m`` does not
  divide (or that has fewer than 2 dimensions)."""
  paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
  for path, leaf, flag in zip(paths, jax.tree.leaves(params), flags):
    if not flag:
      continue
    shape = np.shape(leaf)
    if len(shape) < 2 or shape[-2] % m:
      raise ValueError(
          f"structure={structure!r} needs every prunable leaf to have an input dimension "
          f"(axis -2) divisible by {m}; leaf {path or '<root>'} has shape {tuple(shape)}. "
          "Exclude it with prunable=... or pick another m.")


def leaf_mask(leaf, n: int, m: int) -> tuple[jax.Array, jax.Array]:
  """(bool mask of the ``m - n`` smallest ``|w|`` in each group of ``m`` along axis -2,
  whether the leaf has no NaN)."""
  mag = jnp.abs(leaf).astype(jnp.float32)
  moved = jnp.moveaxis(mag, -2, -1)  # [..., out, in]
  groups = moved.reshape(moved.shape[:-1] + (moved.shape[-1] // m, m))
  a = groups[..., :, None]  # entry i
  b = groups[..., None, :]  # entry j
  lower = jnp.arange(m)[None, :] < jnp.arange(m)[:, None]  # j before i
  rank = jnp.sum((b < a) | ((b == a) & lower), axis=-1)
  selected = rank < (m - n)
  mask = jnp.moveaxis(selected.reshape(moved.shape), -1, -2)
  return mask, ~jnp.any(jnp.isnan(mag))


def masks(leaves, flags, treedef, n: int, m: int):
  """The N:M masks of all leaves (non-prunable: all False) and whether none had NaN."""
  out, ok = [], jnp.bool_(True)
  for leaf, flag in zip(leaves, flags):
    if flag:
      mask, leaf_ok = leaf_mask(leaf, n, m)
      out.append(mask)
      ok = ok & leaf_ok
    else:
      out.append(jnp.zeros(jnp.shape(leaf), bool))
  return jax.tree.unflatten(treedef, out), ok


def satisfies(leaf, n: int, m: int) -> bool | None:
  """Whether a concrete leaf has at most ``n`` non-zeros in every group of ``m`` along
  axis -2 (``None`` when its shape cannot hold the structure)."""
  array = np.asarray(leaf)
  if array.ndim < 2 or array.shape[-2] % m:
    return None
  moved = np.moveaxis(array, -2, -1)
  groups = moved.reshape(moved.shape[:-1] + (moved.shape[-1] // m, m))
  return bool(np.all(np.count_nonzero(groups, axis=-1) <= n))

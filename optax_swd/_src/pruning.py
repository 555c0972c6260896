"""The final hard pruning, the magnitude mask it uses, and the sparsity report."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optax_swd._src import arguments
from optax_swd._src import prunable as prunable_lib
from optax_swd._src import transform


def magnitude_mask(params, sparsity: float, *, scope: str = "global", prunable=None,
                   selection: str = "auto", score: str = "magnitude", min_kept: int = 0):
  """The weights a magnitude criterion prunes: ``True`` for the smallest ``|w|``.

  Selects exactly ``floor(sparsity * N)`` prunable weights of smallest magnitude (``N``
  over all prunable leaves for ``scope="global"``, per leaf for ``scope="layer"``), with
  the same selection (and tie rule: lowest index first) as :func:`optax_swd.swd`.

  Args:
    params: a pytree of arrays.
    sparsity: the fraction to select, in ``[0, 1)``.
    scope: ``"global"`` or ``"layer"``.
    prunable: ``None`` (float leaves with ``ndim >= 2``), a pytree of bools, or a callable.
    selection: ``"auto"``, ``"search"``, ``"bisect"`` or ``"top_k"``.
    score: ``"magnitude"`` or ``"layer_normalized"`` (as in :func:`optax_swd.swd`).
    min_kept: never select a leaf's ``min_kept`` largest scores (``scope="global"``).

  Returns:
    A pytree of bool arrays shaped like ``params``; non-prunable leaves are all ``False``.
  """
  arguments.sparsity(sparsity)
  arguments.choice("scope", scope, prunable_lib.SCOPES)
  arguments.choice("selection", selection, transform.SELECTIONS)
  arguments.choice("score", score, prunable_lib.SCORES)
  arguments.nonnegative_int("min_kept", min_kept)
  leaves, flags, treedef = prunable_lib.resolve(params, prunable)
  if not leaves:
    return params
  masks, _ = transform.selection_masks(leaves, flags, treedef, sparsity, scope, selection,
                                       score=score, min_kept=min_kept)
  return masks


def prune(params, sparsity: float, *, scope: str = "global", prunable=None,
          score: str = "magnitude", min_kept: int = 0):
  """Hard pruning: zeroes the weights :func:`magnitude_mask` selects.

  Used at the end of SWD training (the selected weights are then ~0 already, so cutting
  them costs ~nothing). Works under ``jax.jit`` with static ``sparsity``.

  Args:
    params: a pytree of arrays.
    sparsity: the fraction of prunable weights to zero, in ``[0, 1)``.
    scope: ``"global"`` or ``"layer"``.
    prunable: ``None`` (float leaves with ``ndim >= 2``), a pytree of bools, or a callable.
    score: ``"magnitude"`` or ``"layer_normalized"``; use the ``swd`` run's settings.
    min_kept: never prune a leaf's ``min_kept`` largest scores (``scope="global"``).

  Returns:
    The params with exactly ``floor(sparsity * N)`` prunable weights (per scope) set to 0;
    dtypes and shapes kept.

  Example:
    >>> import jax.numpy as jnp, optax_swd
    >>> optax_swd.prune({"w": jnp.array([[1.0, -3.0], [0.5, 2.0]])}, 0.5)["w"]
    Array([[ 0., -3.],
           [ 0.,  2.]], dtype=float32)
  """
  masks = magnitude_mask(params, sparsity, scope=scope, prunable=prunable, score=score,
                         min_kept=min_kept)
  return jax.tree.map(lambda p, m: jnp.where(m, jnp.zeros_like(p), p), params, masks)


@dataclasses.dataclass(frozen=True)
class LeafSparsity:
  name: str
  shape: tuple
  size: int
  zeros: int
  prunable: bool

  @property
  def sparsity(self) -> float:
    return self.zeros / self.size if self.size else 0.0


@dataclasses.dataclass(frozen=True)
class SparsityReport:
  """Per-leaf and global counts of zero weights. ``str(report)`` is a table.

  Attributes:
    leaves: one :class:`LeafSparsity` per params leaf (name, shape, size, zeros, prunable).
    size: the number of prunable weights.
    zeros: the number of prunable weights equal to zero.
    sparsity: ``zeros / size`` over the prunable weights (the global sparsity).
  """
  leaves: Sequence[LeafSparsity]
  size: int
  zeros: int

  @property
  def sparsity(self) -> float:
    return self.zeros / self.size if self.size else 0.0

  global_sparsity = sparsity

  def as_dict(self) -> dict:
    return {
        "size": self.size, "zeros": self.zeros, "sparsity": self.sparsity,
        "leaves": [dict(dataclasses.asdict(l), sparsity=l.sparsity) for l in self.leaves],
    }

  def __str__(self) -> str:
    rows = [("leaf", "shape", "size", "zeros", "sparsity", "prunable")]
    for l in self.leaves:
      rows.append((l.name, "x".join(map(str, l.shape)) or "()", str(l.size), str(l.zeros),
                   f"{l.sparsity:.4f}", "yes" if l.prunable else "no"))
    rows.append(("global (prunable)", "", str(self.size), str(self.zeros),
                 f"{self.sparsity:.4f}", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def sparsity_report(params, prunable=None) -> SparsityReport:
  """Counts exact zeros per leaf and over all prunable leaves.

  Args:
    params: a pytree of arrays (concrete, not traced).
    prunable: which leaves count towards the global figure: ``None`` (float leaves with
      ``ndim >= 2``), a pytree of bools, or a callable.

  Returns:
    A :class:`SparsityReport`; ``print(report)`` shows a table, ``report.sparsity`` is the
    global sparsity of the prunable weights.
  """
  paths_leaves, _ = jax.tree_util.tree_flatten_with_path(params)
  leaves, flags, _ = prunable_lib.resolve(params, prunable)
  rows = []
  for (path, _), leaf, flag in zip(paths_leaves, leaves, flags):
    array = np.asarray(leaf)
    rows.append(LeafSparsity(
        name=jax.tree_util.keystr(path) or "<root>", shape=tuple(array.shape),
        size=int(array.size), zeros=int(array.size - np.count_nonzero(array)),
        prunable=flag))
  size = sum(r.size for r in rows if r.prunable)
  zeros = sum(r.zeros for r in rows if r.prunable)
  return SparsityReport(tuple(rows), size, zeros)

"""The final hard pruning, the magnitude mask it uses, and the sparsity report."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from optax_swd._src import arguments
from optax_swd._src import prunable as prunable_lib
from optax_swd._src import structure as structure_lib
from optax_swd._src import transform


def magnitude_mask(params, sparsity: float, *, scope: str = "global", prunable=None,
                   selection: str = "auto", score: str = "magnitude", min_kept: int = 0,
                   structure: str | None = None):
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
    structure: ``None`` or ``"n:m"``: the ``m - n`` smallest of every group of ``m``
      weights along each kernel's input dimension (see :func:`optax_swd.swd`); then
      ``sparsity`` must be ``(m - n) / m``.

  Returns:
    A pytree of bool arrays shaped like ``params``; non-prunable leaves are all ``False``.
  """
  arguments.sparsity(sparsity)
  arguments.choice("scope", scope, prunable_lib.SCOPES)
  arguments.choice("selection", selection, transform.SELECTIONS)
  arguments.choice("score", score, prunable_lib.SCORES)
  arguments.nonnegative_int("min_kept", min_kept)
  nm = None if structure is None else structure_lib.parse(structure)
  if nm is not None:
    structure_lib.check_sparsity(sparsity, *nm, structure)
    structure_lib.check_defaults(structure, scope=scope, score=score, min_kept=min_kept,
                                 selection=selection)
  leaves, flags, treedef = prunable_lib.resolve(params, prunable)
  if not leaves:
    return params
  if nm is not None:
    structure_lib.check_leaves(params, flags, nm[1], structure)
    masks, ok = structure_lib.masks(leaves, flags, treedef, *nm)
    _require_exact(ok)  # NaN magnitudes: no defined N:M selection either
    return masks
  masks, threshold, _ = transform.selection_masks(leaves, flags, treedef, sparsity, scope,
                                                  selection, score=score,
                                                  min_kept=min_kept)
  _require_exact(threshold.ok)
  return masks


_NOT_EXACT = ("params: no exact magnitude selection exists: the prunable weights contain "
              "NaN, or more +inf (or largest-float) values than weights to keep.")


def _require_exact(ok):
  """Raises ValueError when a selection is undefined (a runtime error under jit)."""
  ok = jnp.all(ok)
  if isinstance(ok, jax.core.Tracer):
    def check(ok_value):
      if not bool(ok_value):
        raise ValueError(_NOT_EXACT)
    jax.debug.callback(check, ok)
  elif not bool(ok):
    raise ValueError(_NOT_EXACT)


def prune(params, sparsity: float, *, scope: str = "global", prunable=None,
          score: str = "magnitude", min_kept: int = 0, structure: str | None = None):
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
    structure: ``None`` or ``"n:m"`` (e.g. ``"2:4"``): zero the ``m - n`` smallest of
      every group of ``m`` weights along each kernel's input dimension, leaving at most
      ``n`` non-zeros per group; ``sparsity`` must be ``(m - n) / m``.

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
                         min_kept=min_kept, structure=structure)
  return jax.tree.map(lambda p, m: jnp.where(m, jnp.zeros_like(p), p), params, masks)


@dataclasses.dataclass(frozen=True)
class LeafSparsity:
  name: str
  shape: tuple
  size: int
  zeros: int
  prunable: bool
  structured: bool | None = None

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
  structure: str | None = None

  @property
  def satisfies_structure(self) -> bool | None:
    """Whether every prunable leaf holds the N:M ``structure`` (``None`` without one)."""
    if self.structure is None:
      return None
    return all(l.structured for l in self.leaves if l.prunable)

  @property
  def sparsity(self) -> float:
    return self.zeros / self.size if self.size else 0.0

  global_sparsity = sparsity

  def as_dict(self) -> dict:
    return {
        "size": self.size, "zeros": self.zeros, "sparsity": self.sparsity,
        "structure": self.structure, "satisfies_structure": self.satisfies_structure,
        "leaves": [dict(dataclasses.asdict(l), sparsity=l.sparsity) for l in self.leaves],
    }

  def __str__(self) -> str:
    nm = self.structure is not None
    yes_no = lambda flag: "-" if flag is None else ("yes" if flag else "no")
    rows = [("leaf", "shape", "size", "zeros", "sparsity", "prunable")
            + ((self.structure,) if nm else ())]
    for l in self.leaves:
      rows.append((l.name, "x".join(map(str, l.shape)) or "()", str(l.size), str(l.zeros),
                   f"{l.sparsity:.4f}", "yes" if l.prunable else "no")
                  + ((yes_no(l.structured),) if nm else ()))
    rows.append(("global (prunable)", "", str(self.size), str(self.zeros),
                 f"{self.sparsity:.4f}", "") + ((yes_no(self.satisfies_structure),)
                                                 if nm else ()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def sparsity_report(params, prunable=None, structure: str | None = None) -> SparsityReport:
  """Counts exact zeros per leaf and over all prunable leaves.

  Args:
    params: a pytree of arrays (concrete, not traced).
    prunable: which leaves count towards the global figure: ``None`` (float leaves with
      ``ndim >= 2``), a pytree of bools, or a callable.
    structure: ``None`` or ``"n:m"``: also report, per prunable leaf
      (``LeafSparsity.structured``) and overall (``satisfies_structure``), whether every
      group of ``m`` weights along the input dimension has at most ``n`` non-zeros
      (``structured`` is ``None`` for a leaf whose shape cannot hold the structure).

  Returns:
    A :class:`SparsityReport`; ``print(report)`` shows a table, ``report.sparsity`` is the
    global sparsity of the prunable weights.
  """
  nm = None if structure is None else structure_lib.parse(structure)
  paths_leaves, _ = jax.tree_util.tree_flatten_with_path(params)
  leaves, flags, _ = prunable_lib.resolve(params, prunable)
  rows = []
  for (path, _), leaf, flag in zip(paths_leaves, leaves, flags):
    array = np.asarray(leaf)
    rows.append(LeafSparsity(
        name=jax.tree_util.keystr(path) or "<root>", shape=tuple(array.shape),
        size=int(array.size), zeros=int(array.size - np.count_nonzero(array)),
        prunable=flag,
        structured=structure_lib.satisfies(array, *nm) if nm and flag else None))
  size = sum(r.size for r in rows if r.prunable)
  zeros = sum(r.zeros for r in rows if r.prunable)
  return SparsityReport(tuple(rows), size, zeros, structure)

"""Saving and resuming a training run with orbax, at epoch boundaries.

What a checkpoint holds, so that a resumed run continues *exactly* like one that never
stopped (same params, masks and metrics, bit for bit on the same machine):

* the whole :class:`~benchmarks.train.TrainState`: the global step, params, BatchNorm
  statistics, the current phase's optimizer state (for ``swd``: the ``SWDState`` inside
  the optax chain, with its step count, penalty, masks and warm-start thresholds) and the
  keep-mask of the masked methods;
* a JSON record: the number of epochs done, the state of the NumPy generator that
  shuffles the batches, and the run's identity (its configuration).

Every method resumes, across phases too: the optimizer state saved is that of the phase
the last step ran in, and a resumed run re-creates that phase's optimizer to restore it
(a new phase starting at the resume step initialises its state, as an uninterrupted run
does); mask updates already done are in the saved keep-mask, later ones happen on their
planned steps. The dropout and augmentation keys are derived from the seed and the step.

The directory is an orbax ``CheckpointManager`` directory (one sub-folder per saved
epoch, the ``keep`` most recent kept). A directory that already holds checkpoints is
only used with ``resume=True`` (never overwritten by accident), and it is only resumed
by the configuration that wrote it.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(ValueError):
  """A checkpoint directory that cannot be used as asked (occupied, or another run's)."""


@dataclasses.dataclass(frozen=True)
class Options:
  """How a run checkpoints.

  Attributes:
    directory: where the checkpoints go (created if missing).
    resume: continue from the latest checkpoint in ``directory`` (a fresh start when
      there is none). Without it, a directory holding checkpoints is refused.
    every_epochs: save after every this many epochs (and always after the last epoch
      trained and when stopping).
    stop_after_epochs: stop (after saving) once this many epochs of the run are done,
      counted from the start of training, not from the resume point; ``None``: train to
      the end.
    keep: how many checkpoints to keep.
    identity: a JSON-able description of the run (its configuration); a resume refuses
      a checkpoint written under a different one.
  """
  directory: str | os.PathLike
  resume: bool = False
  every_epochs: int = 1
  stop_after_epochs: int | None = None
  keep: int = 2
  identity: dict | None = None

  def __post_init__(self):
    if not isinstance(self.every_epochs, int) or self.every_epochs < 1:
      raise ValueError(f"checkpoint every_epochs must be an int >= 1, got {self.every_epochs!r}")
    if self.stop_after_epochs is not None and (
        not isinstance(self.stop_after_epochs, int) or self.stop_after_epochs < 1):
      raise ValueError("stop_after_epochs must be None or an int >= 1, got "
                       f"{self.stop_after_epochs!r}")
    if not isinstance(self.keep, int) or self.keep < 1:
      raise ValueError(f"checkpoint keep must be an int >= 1, got {self.keep!r}")


@dataclasses.dataclass
class Restored:
  """A restored checkpoint: the train state, the epochs done and the shuffling RNG."""
  state: Any
  epoch: int
  shuffle_rng: np.random.Generator


def _generator_state(rng: np.random.Generator) -> dict:
  return rng.bit_generator.state


def _generator(state: dict) -> np.random.Generator:
  bit_generator = getattr(np.random, state["bit_generator"])()
  bit_generator.state = state
  return np.random.Generator(bit_generator)


class Store:
  """The checkpoints of one run (an orbax ``CheckpointManager`` keyed by epoch)."""

  def __init__(self, options: Options):
    self.options = options
    path = pathlib.Path(options.directory).absolute()
    self._manager = ocp.CheckpointManager(
        path, options=ocp.CheckpointManagerOptions(max_to_keep=options.keep, create=True))
    if self._manager.latest_step() is not None and not options.resume:
      raise CheckpointError(
          f"checkpoint directory {str(path)!r} already holds checkpoints (epochs "
          f"{list(self._manager.all_steps())}); pass resume to continue that run, or "
          "choose an empty directory.")

  def latest_epoch(self) -> int | None:
    return self._manager.latest_step()

  def restore(self, target_state) -> Restored | None:
    """The latest checkpoint, shaped like ``target_state``; ``None`` if there is none."""
    epoch = self._manager.latest_step()
    if epoch is None:
      return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target_state)
    restored = self._manager.restore(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    meta = restored.meta
    if self.options.identity is not None and meta.get("identity") != self.options.identity:
      raise CheckpointError(
          f"the checkpoint in {str(self.options.directory)!r} was written by another "
          f"run configuration: {meta.get('identity')} (this run: "
          f"{self.options.identity})")
    return Restored(state=restored.state, epoch=int(meta["epoch"]),
                    shuffle_rng=_generator(meta["shuffle_rng"]))

  def save(self, epoch: int, state, shuffle_rng: np.random.Generator) -> None:
    """Saves the state after ``epoch`` epochs (blocks until it is on disk)."""
    meta = {"epoch": epoch, "step": int(state.step),
            "shuffle_rng": _generator_state(shuffle_rng), "identity": self.options.identity}
    self._manager.save(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
    self._manager.wait_until_finished()

  def due(self, epoch: int, last_epoch: int) -> bool:
    """Whether to save after ``epoch``: every ``every_epochs``, at the end, at the stop."""
    return (epoch % self.options.every_epochs == 0 or epoch == last_epoch
            or epoch == self.options.stop_after_epochs)

  def close(self) -> None:
    self._manager.close()


def load_state(directory: str | os.PathLike, target_state=None, epoch: int | None = None):
  """The train state saved in ``directory`` (the latest epoch, or ``epoch``), for tests
  and analysis: ``(state, meta)`` with ``meta`` the JSON record. Without
  ``target_state`` the state comes back as nested dicts of arrays."""
  manager = ocp.CheckpointManager(pathlib.Path(directory).absolute())
  epoch = manager.latest_step() if epoch is None else epoch
  if epoch is None:
    raise ValueError(f"no checkpoint in {str(directory)!r}")
  abstract = None if target_state is None else jax.tree.map(
      ocp.utils.to_shape_dtype_struct, target_state)
  restored = manager.restore(epoch, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
  manager.close()
  return restored.state, restored.meta

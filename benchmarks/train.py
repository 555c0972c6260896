"""The one training and evaluation loop, for every data set and every method.

The train step is a single jitted pure function ``(state, batch, rng) -> (state,
metrics)`` (in the style of Flax's ImageNet example); the state is a :class:`TrainState`
holding the step count, params, BatchNorm statistics, optimizer state and, for the
masked methods, the keep-mask. Graphs train full-batch (one step per epoch), images in
minibatches; both come from the same :class:`~benchmarks.data.datasets.Dataset`
interface.

:func:`train` executes a :class:`~benchmarks.methods.Plan`: it switches optimizer at
phase boundaries, recomputes the mask when the plan says so, evaluates on the
validation split after each epoch, applies the plan's final hard prune, and evaluates on
the validation and test splits at the end. If ``log_path`` is given, one JSON object per
epoch (and a last one for the final evaluation) is written there as JSON lines.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import pathlib
import time
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax_swd
from flax import struct
from tqdm import tqdm

from benchmarks import checkpointing
from benchmarks import methods
from benchmarks.data import datasets


# Folded into the dropout key to give the data transform (augmentation) its own stream.
_AUGMENT_STREAM = 0x5EED


class TrainState(struct.PyTreeNode):
  """Everything that changes during training.

  Attributes:
    step: the global step (int32 scalar).
    params: the model's parameters.
    batch_stats: BatchNorm running statistics (``{}`` for models without BatchNorm).
    opt_state: the current phase's optimizer state.
    keep: bool pytree like ``params`` (``False`` = pruned, held at zero), or ``None``
      for unmasked training.
  """
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  keep: Any = None


@dataclasses.dataclass
class TrainResult:
  """The outcome of :func:`train`.

  Attributes:
    params, batch_stats: the final (pruned) variables.
    metrics: the final evaluation: ``val_accuracy``, ``val_loss``, ``test_accuracy``,
      ``test_loss``, ``sparsity_measured``, ``num_prunable``, ``num_zeros``, ``steps``,
      ``seconds``; for a plan with a final prune also ``val_accuracy_before_prune`` and
      ``test_accuracy_before_prune``.
    history: one dict per epoch (the JSON lines of the log).
  """
  params: Any
  batch_stats: Any
  metrics: dict
  history: list


def weighted_metrics(logits: jax.Array, labels: jax.Array, weights: jax.Array) -> dict:
  """Sums of weighted loss and correct predictions, and the total weight."""
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
  return {"loss_sum": jnp.sum(losses * weights), "correct_sum": jnp.sum(correct * weights),
          "weight_sum": jnp.sum(weights)}


def _variables(params, batch_stats) -> dict:
  return {"params": params, "batch_stats": batch_stats} if batch_stats else {"params": params}


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, model: nn.Module,
               tx: optax.GradientTransformation,
               transform: Callable | None = None) -> tuple[TrainState, dict]:
  """One optimizer update on one batch; masked weights stay exactly zero.

  ``transform`` (the data set's, e.g. normalisation and augmentation) is applied to the
  batch's inputs here, inside the jitted step, with a key derived from ``rng`` and the
  step (a fixed seed gives the same augmented batches).
  """
  dropout_rng = jax.random.fold_in(rng, state.step)
  inputs = batch["inputs"]
  if transform is not None:
    inputs = transform(jax.random.fold_in(dropout_rng, _AUGMENT_STREAM), inputs, True)

  def loss_fn(params):
    logits, updates = model.apply(
        _variables(params, state.batch_stats), *inputs, train=True,
        rngs={"dropout": dropout_rng}, mutable=["batch_stats"])
    sums = weighted_metrics(logits, batch["labels"], batch["weights"])
    loss = sums["loss_sum"] / jnp.maximum(sums["weight_sum"], 1.0)
    return loss, (sums, updates.get("batch_stats", state.batch_stats))

  grads, (sums, batch_stats) = jax.grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  if state.keep is not None:
    updates = jax.tree.map(lambda u, k: jnp.where(k, u, 0), updates, state.keep)
  params = optax.apply_updates(state.params, updates)
  if state.keep is not None:
    params = jax.tree.map(lambda p, k: jnp.where(k, p, 0), params, state.keep)
  new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                            opt_state=opt_state)
  return new_state, sums


def eval_step(params, batch_stats, batch: dict, *, model: nn.Module,
              transform: Callable | None = None) -> dict:
  """Weighted metric sums of one batch, in inference mode (``transform`` not training)."""
  inputs = batch["inputs"]
  if transform is not None:
    inputs = transform(None, inputs, False)
  logits = model.apply(_variables(params, batch_stats), *inputs, train=False)
  return weighted_metrics(logits, batch["labels"], batch["weights"])


def _summarise(sums: dict, prefix: str) -> dict:
  total = max(float(sums["weight_sum"]), 1.0)
  return {f"{prefix}loss": float(sums["loss_sum"]) / total,
          f"{prefix}accuracy": float(sums["correct_sum"]) / total}


def _add(a: dict | None, b: dict) -> dict:
  return b if a is None else jax.tree.map(jnp.add, a, b)


def evaluate(eval_fn: Callable, state: TrainState, data: datasets.Dataset, split: str,
             batch_size: int | None) -> dict:
  """``{"<split>_loss", "<split>_accuracy"}`` over the whole split."""
  total = None
  for batch in data.eval_batches(split, batch_size):
    total = _add(total, eval_fn(state.params, state.batch_stats, batch))
  return _summarise(total, f"{split}_")


def init_variables(model: nn.Module, data: datasets.Dataset, rng: jax.Array):
  """``(params, batch_stats)`` of a fresh model for this data."""
  inputs = data.example_inputs()
  transform = getattr(data, "transform", None)
  if transform is not None:
    inputs = transform(None, inputs, False)
  variables = model.init({"params": rng, "dropout": rng}, *inputs, train=False)
  return variables["params"], variables.get("batch_stats", {})


_SELECTION_ARGS = ("scope", "score", "min_kept", "structure")


@functools.partial(jax.jit, static_argnames=("sparsity",) + _SELECTION_ARGS)
def _keep_mask_exact(params, sparsity: float, **selection):
  return jax.tree.map(jnp.logical_not, optax_swd.magnitude_mask(params, sparsity, **selection))


@functools.partial(jax.jit, static_argnames=_SELECTION_ARGS)
def _keep_mask_traced(params, sparsity: jax.Array, **selection):
  return jax.tree.map(jnp.logical_not, optax_swd.magnitude_mask(params, sparsity, **selection))


def apply_mask_update(state: TrainState, update: methods.MaskUpdate,
                      selection: methods.Selection = methods.Selection()) -> TrainState:
  """Recomputes the keep-mask by magnitude (``selection``) and zeroes the pruned weights.

  The final (target) update uses a static sparsity, so that exactly ``floor(s * N)``
  weights are pruned; intermediate ones (GMP) share one compilation with a traced value
  (except with ``scope="erk"``, whose budgets need a static sparsity).
  """
  if update.final or selection.scope == "erk":
    keep = _keep_mask_exact(state.params, update.sparsity, **selection.kwargs())
  else:
    keep = _keep_mask_traced(state.params, jnp.float32(update.sparsity), **selection.kwargs())
  params = jax.tree.map(lambda p, k: jnp.where(k, p, 0), state.params, keep)
  return state.replace(params=params, keep=keep)


def _prune_stats(params, sparsity: float, selection: methods.Selection) -> dict:
  """What the final prune is about to cut: the largest ``|w|`` it selects, the smallest
  ``|w|`` it keeps, and whether every param is finite (a diverged run is not; its
  selection is undefined, so the two magnitudes are then ``None``)."""
  finite = all(bool(np.all(np.isfinite(np.asarray(p)))) for p in jax.tree.leaves(params))
  if not finite:
    return {"selected_max_abs": None, "kept_min_abs": None, "params_finite": False}
  cut = optax_swd.magnitude_mask(params, sparsity, **selection.kwargs())
  cut_max, kept_min = 0.0, float("inf")
  for p, c in zip(jax.tree.leaves(params), jax.tree.leaves(cut)):
    a, c = np.abs(np.asarray(p, np.float64)), np.asarray(c)
    if c.any():
      cut_max = max(cut_max, float(a[c].max()))
    if a.ndim >= 2 and (~c).any():  # the prunable kernels (the default rule)
      kept_min = min(kept_min, float(a[~c].min()))
  return {"selected_max_abs": cut_max,
          "kept_min_abs": kept_min if math.isfinite(kept_min) else None,
          "params_finite": True}


def _swd_penalty(opt_state) -> float | None:
  swd_state = optax.tree_utils.tree_get(opt_state, "SWDState")
  return None if swd_state is None else float(swd_state.penalty)


class JsonLinesLog:
  """Collects records and, if given a path, appends each as one JSON line (flushed)."""

  def __init__(self, path: str | os.PathLike | None):
    self.records: list[dict] = []
    self._file = None
    if path is not None:
      path = pathlib.Path(path)
      path.parent.mkdir(parents=True, exist_ok=True)
      self._file = open(path, "w", encoding="utf-8")  # pylint: disable=consider-using-with

  def write(self, record: dict) -> None:
    self.records.append(record)
    if self._file is not None:
      self._file.write(json.dumps(record) + "\n")
      self._file.flush()

  def __enter__(self) -> "JsonLinesLog":
    return self

  def __exit__(self, *exc_info) -> None:
    if self._file is not None:
      self._file.close()


def train(model: nn.Module, data: datasets.Dataset, plan: methods.Plan, *,
          batch_size: int | None, eval_batch_size: int | None = None, seed: int = 0,
          log_path: str | os.PathLike | None = None, progress: bool = False,
          checkpoint: checkpointing.Options | None = None) -> TrainResult:
  """Trains ``model`` on ``data`` following ``plan``; see the module docstring.

  Args:
    model: a Flax module from :mod:`benchmarks.models`.
    data: the data set.
    plan: the method's plan (:func:`benchmarks.methods.plan`), built for
      ``data.steps_per_epoch(batch_size)`` steps per epoch.
    batch_size: training minibatch size (``None``: full batch).
    eval_batch_size: evaluation batch size (``None``: whole split).
    seed: seeds the initialisation, the shuffling and dropout.
    log_path: where to write the JSON-lines metrics log (parent folders are created).
    progress: show a tqdm progress bar on stderr.
    checkpoint: save (and with ``resume``, first restore) the run at epoch boundaries
      (:mod:`benchmarks.checkpointing`); with ``stop_after_epochs`` the run stops there
      and its metrics are only ``stopped_after_epoch``, ``steps`` and ``seconds``.
  """
  start_time = time.perf_counter()
  steps_per_epoch = data.steps_per_epoch(batch_size)
  if plan.total_steps % steps_per_epoch:
    raise ValueError(f"the plan's {plan.total_steps} steps are not whole epochs of "
                     f"{steps_per_epoch} steps")
  init_rng, dropout_rng = jax.random.split(jax.random.PRNGKey(seed))
  shuffle_rng = np.random.default_rng(seed)
  params, batch_stats = init_variables(model, data, init_rng)
  # Masked plans carry an all-True mask from the start: one trace of the train step.
  keep = jax.tree.map(lambda p: jnp.ones(p.shape, bool), params) if plan.masked else None
  state = TrainState(step=jnp.zeros([], jnp.int32), params=params, batch_stats=batch_stats,
                     opt_state=None, keep=keep)
  transform = getattr(data, "transform", None)
  eval_fn = jax.jit(functools.partial(eval_step, model=model, transform=transform))
  evaluate_split = lambda state, split: evaluate(eval_fn, state, data, split,
                                                 eval_batch_size)
  phase_at = {p.start: p for p in plan.phases if p.steps > 0}
  updates_at = {u.step: u for u in plan.mask_updates}
  phase, step_fn, step = None, None, 0
  store = None if checkpoint is None else checkpointing.Store(checkpoint)
  first_epoch, last_epoch = 1, plan.total_steps // steps_per_epoch
  if store is not None and store.latest_epoch() is not None:  # resume (Store checks it)
    step = store.latest_epoch() * steps_per_epoch
    # The optimizer state saved is that of the phase the last step ran in.
    phase = max((p for p in plan.phases if p.steps > 0 and p.start < step),
                key=lambda p: p.start)
    restored = store.restore(state.replace(opt_state=phase.optimizer.init(state.params)))
    state, shuffle_rng, first_epoch = (restored.state, restored.shuffle_rng,
                                       restored.epoch + 1)
    step_fn = jax.jit(functools.partial(train_step, model=model, tx=phase.optimizer,
                                        transform=transform))

  with JsonLinesLog(log_path) as log, tqdm(
      total=plan.total_steps, disable=not progress, unit="step", leave=False,
      desc=plan.method) as bar:
    for epoch in range(first_epoch, last_epoch + 1):
      sums = None
      for batch in data.train_batches(shuffle_rng, batch_size):
        if step in phase_at:
          phase = phase_at[step]
          state = state.replace(opt_state=phase.optimizer.init(state.params))
          step_fn = jax.jit(functools.partial(train_step, model=model, tx=phase.optimizer,
                                              transform=transform))
        if step in updates_at:
          state = apply_mask_update(state, updates_at[step], plan.selection)
        state, batch_sums = step_fn(state, batch, dropout_rng)
        sums = _add(sums, batch_sums)
        step += 1
        bar.update(1)
      record = {"epoch": epoch, "step": step, "phase": phase.name,
                "lr": float(phase.learning_rate(step - 1 - phase.start))}
      penalty = _swd_penalty(state.opt_state)
      if penalty is not None:
        record["swd_penalty"] = penalty
      record.update(_summarise(sums, "train_"))
      record.update(evaluate_split(state, "val"))
      record["sparsity"] = optax_swd.sparsity_report(state.params).sparsity
      record["seconds"] = time.perf_counter() - start_time
      log.write(record)
      bar.set_postfix(loss=f"{record['train_loss']:.3f}",
                      val_acc=f"{record['val_accuracy']:.3f}",
                      sparsity=f"{record['sparsity']:.3f}")
      if store is not None and store.due(epoch, last_epoch):
        store.save(epoch, state, shuffle_rng)
      if checkpoint is not None and epoch == checkpoint.stop_after_epochs < last_epoch:
        store.close()
        stopped = {"stopped_after_epoch": epoch, "steps": step,
                   "seconds": time.perf_counter() - start_time}
        log.write({"final": False, **stopped})
        return TrainResult(params=state.params, batch_stats=state.batch_stats,
                           metrics=stopped, history=log.records[:-1])
    if store is not None:
      store.close()

    final = {}
    for update in plan.mask_updates:  # a mask update planned at the very end
      if update.step >= step:
        state = apply_mask_update(state, update, plan.selection)
    if plan.final_prune is not None:
      final["val_accuracy_before_prune"] = evaluate_split(state, "val")["val_accuracy"]
      final["test_accuracy_before_prune"] = evaluate_split(state, "test")["test_accuracy"]
      stats = _prune_stats(state.params, plan.final_prune, plan.selection)
      final.update(stats)
      if stats["params_finite"]:  # a diverged (NaN) run has no selection: left uncut
        state = state.replace(params=optax_swd.prune(state.params, plan.final_prune,
                                                     **plan.selection.kwargs()))
    final.update(evaluate_split(state, "val"))
    final.update(evaluate_split(state, "test"))
    report = optax_swd.sparsity_report(state.params, structure=plan.selection.structure)
    final.update(sparsity_measured=report.sparsity, num_prunable=report.size,
                 num_zeros=report.zeros, steps=step,
                 seconds=time.perf_counter() - start_time)
    if report.structure is not None:  # every prunable kernel holds N:M
      final["satisfies_structure"] = report.satisfies_structure
    log.write({"final": True, **final})
  return TrainResult(params=state.params, batch_stats=state.batch_stats, metrics=final,
                     history=log.records[:-1])

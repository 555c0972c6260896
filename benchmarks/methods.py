"""Pruning methods as training plans over the same loop and the same step budget.

A method is an optimizer (per phase) plus a mask policy; :func:`plan` turns a
:class:`~benchmarks.configs.RunConfig` into a :class:`Plan` that :func:`benchmarks.train.train`
executes. Every method trains for the same number of steps ``T = epochs * steps_per_epoch``,
and every mask is the magnitude selection of :func:`optax_swd.magnitude_mask` (the same
selection SWD penalises; by default global): exactly ``floor(s * N)`` of the ``N``
prunable weights.

* ``dense``: no pruning (the reference).
* ``swd``: Selective Weight Decay (Tessier et al. 2022): ``optax_swd.swd`` chained between
  the ordinary weight decay and the base optimizer, with its penalty growing from
  ``a_min`` to ``a_max`` over all ``T`` steps; one hard :func:`optax_swd.prune` at the end,
  no fine-tuning.
* ``magnitude_ft``: train dense for the first ``prune_fraction`` of the budget (with the
  learning-rate schedule laid over that phase), prune once by global magnitude, then
  fine-tune the rest with the mask fixed at the *final* learning rate of the dense phase
  (the fine-tuning of Han et al. 2015, as defined by Renda et al. 2020).
* ``lr_rewinding``: the same, but the fine-tuning phase replays the dense phase's
  learning-rate schedule from its start (Renda et al., ICLR 2020). With the default
  ``prune_fraction = 0.5`` both phases are equally long, so this is exactly their
  rewinding of the schedule by the retraining length.
* ``gmp``: gradual magnitude pruning (Zhu & Gupta 2017): from step ``t0 = gmp_begin * T``
  to ``gmp_end * T`` the mask is recomputed ``n = gmp_updates`` times, at steps
  ``t0 + k * dt`` with sparsity ``s_k = s * (1 - (1 - k / n) ** 3)``; afterwards training
  goes on with the final mask fixed. One learning-rate schedule over all ``T`` steps.

With ``swd_form="proximal"`` the SWD transformation is placed *after* the base optimizer
and given the same learning-rate schedule (the chain is ``add_decayed_weights -> SGD or
Adam -> swd(form="proximal")``): the selected weights take the implicit step
``w <- (w + u) / (1 + lr * a * mu)``, which cannot diverge. ``swd_ramp < 1`` makes ``a``
reach ``a_max`` after that fraction of the steps and stay there. ``swd_gradual`` makes
SWD's target follow GMP's cubic ramp (:func:`optax_swd.gradual_sparsity` over GMP's
window) instead of being fixed from the first step: a growing set is penalised, as GMP
zeroes a growing set. ``swd_freeze = f > 0`` hard-prunes SWD's selection at step
``(1 - f) T`` (a mask update) and trains the last ``f T`` steps with the same optimizer
and the mask fixed (SWD's selection is then the zeroed weights, whose penalty is 0): the
network adapts to the cut before the end.

The selection options of the config (``scope``, ``score``, ``min_kept``; defaults: the
paper's global magnitude ranking) are used by every method: SWD's penalised set and its
final prune, and the masks of the baselines (:attr:`Plan.selection`).

Masked weights are held at exactly zero: the train step multiplies the updates and the
params by the keep-mask. The optimizer state starts fresh at each phase.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import optax
import optax_swd

from benchmarks import configs

METHODS = ("dense", "swd", "magnitude_ft", "lr_rewinding", "gmp")


@dataclasses.dataclass(frozen=True)
class Phase:
  """A stretch of training with one optimizer (fresh state at ``start``).

  Attributes:
    name: a label for the logs (``"train"``, ``"dense"``, ``"fine-tune"``).
    start: the first global step of the phase.
    steps: its length in steps.
    optimizer: the full gradient transformation (weight decay, SWD, base optimizer).
    learning_rate: the schedule used, a function of the step *within* the phase.
  """
  name: str
  start: int
  steps: int
  optimizer: optax.GradientTransformation
  learning_rate: optax.Schedule


@dataclasses.dataclass(frozen=True)
class MaskUpdate:
  """Recompute the keep-mask at global magnitude sparsity ``sparsity`` before ``step``.

  ``final`` marks the update to the target sparsity, whose count must be exactly
  ``floor(sparsity * N)`` (it is computed with a static sparsity).
  """
  step: int
  sparsity: float
  final: bool


@dataclasses.dataclass(frozen=True)
class Selection:
  """How the weights to prune are chosen (the keyword arguments of ``optax_swd.prune``)."""
  scope: str = "global"
  score: str = "magnitude"
  min_kept: int = 0
  structure: str | None = None

  def kwargs(self) -> dict:
    return dataclasses.asdict(self)


def selection(config: configs.RunConfig) -> Selection:
  """The selection options of ``config``."""
  return Selection(scope=config.scope, score=config.score, min_kept=config.min_kept,
                   structure=config.structure)


@dataclasses.dataclass(frozen=True)
class Plan:
  """What the training loop executes for one method.

  Attributes:
    method: the method's name.
    total_steps: ``T``, the same for every method.
    phases: consecutive phases covering ``[0, T)``.
    mask_updates: mask recomputations, by increasing step; none means no mask at all.
    final_prune: if set, a hard magnitude prune to this sparsity after training (SWD).
    selection: the selection options of the mask updates and of the final prune.
  """
  method: str
  total_steps: int
  phases: tuple[Phase, ...]
  mask_updates: tuple[MaskUpdate, ...] = ()
  final_prune: float | None = None
  selection: Selection = Selection()

  @property
  def masked(self) -> bool:
    return bool(self.mask_updates)


def step_schedule(lr: float, horizon: int,
                  fractions: tuple[float, float] = (0.5, 0.75)) -> optax.Schedule:
  """``lr``, divided by 10 at ``fractions[0]`` and again at ``fractions[1]`` of ``horizon``.

  The default (50%, 75%) is He et al.'s; the SWD paper's CIFAR-10 recipe uses (1/3, 2/3).
  """
  first, second = int(fractions[0] * horizon), int(fractions[1] * horizon)

  def schedule(count):
    count = jnp.asarray(count)
    drops = (count >= first).astype(jnp.float32) + (count >= second).astype(jnp.float32)
    return lr * 0.1 ** drops

  return schedule


def learning_rate(config: configs.RunConfig, horizon: int) -> optax.Schedule:
  """The configured schedule laid over ``horizon`` steps (clamped beyond it)."""
  if config.schedule == "constant":
    return optax.constant_schedule(config.lr)
  if config.schedule == "step":
    return step_schedule(config.lr, horizon)
  if config.schedule == "thirds":
    return step_schedule(config.lr, horizon, (1 / 3, 2 / 3))
  if config.schedule == "cosine":
    return optax.cosine_decay_schedule(config.lr, decay_steps=max(horizon, 1))
  raise ValueError(f"unknown schedule {config.schedule!r}")


def base_optimizer(config: configs.RunConfig,
                   schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD (with momentum) or Adam at the given learning-rate schedule."""
  if config.optimizer == "sgd":
    return optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov)
  if config.optimizer == "adam":
    return optax.adam(schedule)
  raise ValueError(f"unknown optimizer {config.optimizer!r}")


def optimizer(config: configs.RunConfig, schedule: optax.Schedule,
              *extra: optax.GradientTransformation,
              after: tuple[optax.GradientTransformation, ...] = ()
              ) -> optax.GradientTransformation:
  """L2 weight decay on every parameter, ``extra`` terms, the base optimizer, ``after``."""
  parts = []
  if config.weight_decay:
    parts.append(optax.add_decayed_weights(config.weight_decay))
  parts.extend(extra)
  parts.append(base_optimizer(config, schedule))
  parts.extend(after)
  return optax.chain(*parts)


def swd_optimizer(config: configs.RunConfig, schedule: optax.Schedule,
                  total: int) -> optax.GradientTransformation:
  """The optimizer chain of the ``swd`` method, in the configured form.

  ``a`` grows from ``a_min`` to ``a_max`` over ``swd_ramp * total`` steps (then stays).
  The gradient form sits before the base optimizer (the paper's); the proximal form after
  it, with the same learning-rate schedule.
  """
  ramp_steps = max(1, round(config.swd_ramp * total))
  kwargs = dict(weight_decay=config.swd_weight_decay, a_min=config.a_min,
                a_max=config.a_max, total_steps=ramp_steps, **selection(config).kwargs())
  target = config.sparsity
  if config.swd_gradual:
    begin, end = gmp_window(config, total)
    target = optax_swd.gradual_sparsity(config.sparsity, begin, max(end, begin + 1))
  if config.swd_form == "proximal":
    swd = optax_swd.swd(target, form="proximal", learning_rate=schedule, **kwargs)
    return optimizer(config, schedule, after=(swd,))
  return optimizer(config, schedule, optax_swd.swd(target, **kwargs))


def gmp_window(config: configs.RunConfig, total: int) -> tuple[int, int]:
  """GMP's first and last pruning steps, ``gmp_begin * T`` and ``gmp_end * T`` (< T)."""
  begin = round(config.gmp_begin * total)
  end = max(round(config.gmp_end * total), begin + 1)
  end = min(end, total - 1) if total > 1 else 0
  return min(begin, end), end


def gmp_updates(sparsity: float, begin: int, end: int, n: int) -> tuple[MaskUpdate, ...]:
  """Zhu & Gupta's cubic schedule: ``s_k = s (1 - (1 - k/n)^3)`` at ``begin + k dt``.

  ``k = 1..n`` and ``dt = (end - begin) / n`` (steps rounded; updates that fall on the
  same step keep the later, higher sparsity). The last update, at ``end``, reaches
  ``sparsity`` exactly.
  """
  by_step: dict[int, float] = {}
  for k in range(1, n + 1):
    step = begin + round(k * (end - begin) / n)
    by_step[step] = sparsity * (1.0 - (1.0 - k / n) ** 3)
  by_step[end] = sparsity
  return tuple(MaskUpdate(step, s, final=step == end) for step, s in sorted(by_step.items()))


def prune_step(config: configs.RunConfig, steps_per_epoch: int) -> int:
  """The step of the one-shot prune: ``prune_fraction`` of the steps, in ``[1, T-1]``.

  Counted in steps, not whole epochs, so that short budgets (1 or 3 epochs) still split
  at the intended fraction.
  """
  total = config.epochs * steps_per_epoch
  step = round(config.prune_fraction * total)
  return min(max(step, 1), total - 1)


def plan(config: configs.RunConfig, steps_per_epoch: int) -> Plan:
  """The :class:`Plan` of ``config.method`` for a budget of ``config.epochs`` epochs."""
  total = config.epochs * steps_per_epoch
  s = config.sparsity
  if config.method in ("dense", "swd", "gmp"):
    schedule = learning_rate(config, total)
    if config.method == "swd":
      tx = swd_optimizer(config, schedule, total)
    else:
      tx = optimizer(config, schedule)
    phases = (Phase("train", 0, total, tx, schedule),)
    if config.method == "dense":
      return Plan("dense", total, phases)
    if config.method == "swd":
      freeze = ()
      if config.swd_freeze > 0:
        step = min(max(round((1.0 - config.swd_freeze) * total), 1), total - 1)
        freeze = (MaskUpdate(step, s, final=True),)
      return Plan("swd", total, phases, mask_updates=freeze, final_prune=s,
                  selection=selection(config))
    begin, end = gmp_window(config, total)
    updates = gmp_updates(s, begin, end, config.gmp_updates)
    return Plan("gmp", total, phases, mask_updates=updates, selection=selection(config))
  if config.method in ("magnitude_ft", "lr_rewinding"):
    if total < 2:
      raise ValueError(f"{config.method} needs at least 2 training steps")
    p = prune_step(config, steps_per_epoch)
    dense_schedule = learning_rate(config, p)
    if config.method == "magnitude_ft":
      fine_tune_schedule = optax.constant_schedule(float(dense_schedule(p - 1)))
    else:
      fine_tune_schedule = dense_schedule
    phases = (
        Phase("dense", 0, p, optimizer(config, dense_schedule), dense_schedule),
        Phase("fine-tune", p, total - p, optimizer(config, fine_tune_schedule),
              fine_tune_schedule),
    )
    return Plan(config.method, total, phases, mask_updates=(MaskUpdate(p, s, final=True),),
                selection=selection(config))
  raise ValueError(f"unknown method {config.method!r}; choose from {', '.join(METHODS)}")

"""Schedules of Selective Weight Decay: the penalty a(t) and a gradual sparsity target."""

from __future__ import annotations

from typing import Callable


import jax.numpy as jnp
import optax

from optax_swd._src import arguments


def exponential_penalty(a_min: float, a_max: float, total_steps: int) -> optax.Schedule:
  r"""The exponential penalty schedule of Selective Weight Decay.

  .. math::

    a(t) = a_{min} \left(\frac{a_{max}}{a_{min}}\right)^{\min(t, T) / T}

  so ``a(0) = a_min``, ``a(T) = a_max``, and ``a`` stays at ``a_max`` after ``T``.
  It is computed in log space, ``exp(log a_min + min(t, T)/T * log(a_max/a_min))``.

  Args:
    a_min: the starting multiplier, ``> 0`` (paper: 0.1).
    a_max: the final multiplier, ``>= a_min`` (paper: 1e5).
    total_steps: ``T``, the number of updates over which ``a`` grows, ``>= 1``.

  Returns:
    An ``optax.Schedule``: a function of the 0-based update count returning ``a(t)``
    as a float32 scalar.

  Example:
    >>> import optax_swd
    >>> a = optax_swd.exponential_penalty(0.1, 1e5, total_steps=100)
    >>> float(a(0)), float(a(100))
    (0.1..., 100000.0...)

  References:
    Tessier et al., "Rethinking Weight Decay for Efficient Neural Network Pruning",
    Journal of Imaging 8(3):64, 2022 (arXiv 2011.10520).
  """
  arguments.real("a_min", a_min, low=0.0, low_open=True, accepted=" > 0")
  arguments.real("a_max", a_max, accepted=f" >= a_min ({a_min!r})")
  arguments.positive_int("total_steps", total_steps)
  lo, hi = arguments.concrete(a_min), arguments.concrete(a_max)
  if lo is not None and hi is not None and not hi >= lo:
    raise ValueError(f"a_max must be >= a_min ({a_min!r}), got {a_max!r}.")
  log_a_min = jnp.log(jnp.asarray(a_min, jnp.float32))
  log_ratio = jnp.log(jnp.asarray(a_max, jnp.float32)) - log_a_min
  steps = jnp.asarray(total_steps, jnp.float32)

  def schedule(count):
    frac = jnp.minimum(jnp.asarray(count, jnp.float32), steps) / steps
    return jnp.exp(log_a_min + frac * log_ratio)

  return schedule


def gradual_sparsity(sparsity: float, begin_step: int, end_step: int,
                     power: float = 3.0) -> optax.Schedule:
  r"""A sparsity target that grows from 0 to ``sparsity`` (Zhu & Gupta's ramp).

  .. math::

    s(t) = s \left(1 - \left(1 - \frac{\min(\max(t - t_0, 0), t_1 - t_0)}
    {t_1 - t_0}\right)^p\right)

  so ``s(t) = 0`` until ``t_0 = begin_step``, ``s(t_1) = s`` at ``t_1 = end_step`` and
  after; with ``p = 3`` most of the pruning happens early, while the network can still
  recover. Pass it as the ``sparsity`` of :func:`optax_swd.swd` to penalise a growing
  set, as gradual magnitude pruning (GMP) prunes a growing set.

  Args:
    sparsity: the final target, in ``[0, 1)``.
    begin_step: ``t_0``, the last update with target 0, ``>= 0``.
    end_step: ``t_1``, the first update at the final target, ``> begin_step``.
    power: ``p``, ``> 0`` (Zhu & Gupta: 3).

  Returns:
    An ``optax.Schedule`` of the 0-based update count returning a float32 target.

  Example:
    >>> import optax_swd
    >>> s = optax_swd.gradual_sparsity(0.9, begin_step=10, end_step=110)
    >>> [round(float(s(t)), 4) for t in (0, 10, 60, 110, 500)]
    [0.0, 0.0, 0.7875, 0.9, 0.9]

  References:
    Zhu and Gupta, "To prune, or not to prune: exploring the efficacy of pruning for
    model compression", ICLR workshop 2018 (arXiv 1710.01878).
  """
  arguments.sparsity(sparsity)
  arguments.nonnegative_int("begin_step", begin_step)
  arguments.integer("end_step", end_step, int(begin_step) + 1)
  arguments.real("power", power, low=0.0, low_open=True, accepted=" > 0")
  span = jnp.float32(end_step - begin_step)

  def schedule(count):
    done = jnp.clip(jnp.asarray(count, jnp.float32) - begin_step, 0.0, span) / span
    return jnp.float32(sparsity) * (1.0 - (1.0 - done) ** power)

  return schedule


def penalty_schedule(
    penalty, a_min: float, a_max: float, total_steps: int | None
) -> Callable:
  """Returns the schedule a(t): a fixed value, a user schedule, or the exponential one."""
  if penalty is None:
    if total_steps is None:
      raise ValueError(
          "total_steps is required (a positive int) unless penalty is given "
          "(a fixed float or an optax.Schedule).")
    return exponential_penalty(a_min, a_max, total_steps)
  if callable(penalty):
    return penalty
  arguments.real("penalty", penalty, low=0.0,
                 accepted=" >= 0 (a fixed a), None or an optax.Schedule")
  return lambda count: jnp.asarray(penalty, jnp.float32)

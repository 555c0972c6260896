"""The penalty schedule a(t) of Selective Weight Decay, and how a penalty argument is read."""

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

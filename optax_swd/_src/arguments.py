"""Validation of the public functions' arguments, with errors that name the argument.

Numbers may arrive as Python numbers, NumPy scalars or JAX arrays (``optax.inject_hyperparams``
passes hyper-parameters as arrays, traced under ``jit``). Concrete values are checked; traced
values cannot be inspected and are accepted as they are.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np


def concrete(value):
  """The value as a Python number, or None when it is a tracer."""
  if isinstance(value, jax.core.Tracer):
    return None
  if isinstance(value, (jax.Array, np.ndarray, np.generic)):
    if np.ndim(value) != 0:
      return "not-a-scalar"
    return np.asarray(value).item()
  return value


def real(name: str, value, *, low=None, high=None, low_open=False, high_open=False,
         accepted: str = ""):
  """Checks that ``value`` is a real scalar in the given range; returns it unchanged."""
  value_c = concrete(value)
  if value_c is None:
    return value
  if isinstance(value_c, bool) or not isinstance(value_c, numbers.Real):
    raise TypeError(f"{name} must be a real number{accepted}, got {value!r}.")
  bad = value_c != value_c  # NaN
  if low is not None:
    bad |= value_c <= low if low_open else value_c < low
  if high is not None:
    bad |= value_c >= high if high_open else value_c > high
  if bad:
    raise ValueError(f"{name} must be{accepted}, got {value!r}.")
  return value


def integer(name: str, value, minimum: int):
  """Checks that ``value`` is an integer >= minimum (an integer-valued array is accepted)."""
  value_c = concrete(value)
  if value_c is None:
    return value
  if isinstance(value_c, bool) or not isinstance(value_c, numbers.Real) or (
      isinstance(value_c, float) and not value_c.is_integer()):
    raise TypeError(f"{name} must be an int >= {minimum}, got {value!r}.")
  if value_c < minimum:
    raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
  return value


def positive_int(name: str, value):
  return integer(name, value, 1)


def nonnegative_int(name: str, value):
  return integer(name, value, 0)


def sparsity(value, name: str = "sparsity"):
  return real(name, value, low=0.0, high=1.0, high_open=True, accepted=" in [0, 1)")


def choice(name: str, value, options):
  if not isinstance(value, str) or value not in options:
    raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}.")
  return value



def require_params(transformation: str, params, selects: str):
  """The ValueError of an ``update`` called without the params it selects from."""
  if params is None:
    raise ValueError(
        f"{transformation} needs the current params to select the {selects} to decay: "
        "call update(updates, state, params).")

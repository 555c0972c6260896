"""A small quadratic fitting problem for training-loop tests: 0.5 * ||w - target||^2."""

import jax
import jax.numpy as jnp
import numpy as np
import optax


def fit(tx, shape, steps, seed=0):
  """Runs `steps` jitted updates of `tx` from w = target; returns (params, state, target)."""
  target = jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)
  params = {"w": target + 0.0}
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    grads = jax.grad(lambda p: 0.5 * jnp.sum((p["w"] - target) ** 2))(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  for _ in range(steps):
    params, state = step(params, state)
  return params, state, target

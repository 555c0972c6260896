"""Tests of the gradual sparsity target: the schedule, and swd following it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_swd


def test_gradual_sparsity_is_zhu_and_gupta_cubic_ramp():
  s = optax_swd.gradual_sparsity(0.8, begin_step=4, end_step=14)
  for t in range(0, 20):
    done = min(max(t - 4, 0), 10) / 10
    assert float(s(t)) == pytest.approx(0.8 * (1 - (1 - done) ** 3), abs=1e-6)
  linear = optax_swd.gradual_sparsity(0.5, begin_step=0, end_step=4, power=1.0)
  assert [float(linear(t)) for t in range(6)] == pytest.approx(
      [0.0, 0.125, 0.25, 0.375, 0.5, 0.5])
  assert float(jax.jit(s)(jnp.int32(9))) == pytest.approx(0.8 * (1 - 0.5**3))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(sparsity=1.0, begin_step=0, end_step=5), ValueError, "sparsity must be in"),
    (dict(sparsity=0.5, begin_step=-1, end_step=5), ValueError, "begin_step"),
    (dict(sparsity=0.5, begin_step=5, end_step=5), ValueError, "end_step must be an int >= 6"),
    (dict(sparsity=0.5, begin_step=0, end_step=2.5), TypeError, "end_step"),
    (dict(sparsity=0.5, begin_step=0, end_step=5, power=0.0), ValueError, "power"),
])
def test_gradual_sparsity_bad_arguments(kwargs, error, message):
  with pytest.raises(error, match=message):
    optax_swd.gradual_sparsity(**kwargs)


def test_swd_selects_the_scheduled_fraction_at_every_step():
  rng = np.random.default_rng(0)
  params = {"a": jnp.asarray(rng.normal(size=(30, 20)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=(10, 40)), jnp.float32),
            "bias": jnp.zeros(20)}
  schedule = optax_swd.gradual_sparsity(0.9, begin_step=2, end_step=8)
  tx = optax_swd.swd(schedule, total_steps=10)
  state = tx.init(params)
  update = jax.jit(tx.update)
  grads = jax.tree.map(jnp.zeros_like, params)
  for t in range(12):
    _, state = update(grads, state, params)
    selected = int(sum(jnp.sum(m) for m in jax.tree.leaves(state.masks)))
    assert selected == int(np.floor(np.float32(schedule(t)) * np.float32(1000))), t
    # Always the smallest magnitudes over both kernels (no ties here).
    scores = np.abs(np.concatenate([np.ravel(params["a"]), np.ravel(params["b"])]))
    expected = np.zeros(1000, bool)
    expected[np.argsort(scores, kind="stable")[:selected]] = True
    got = np.concatenate([np.ravel(state.masks["a"]), np.ravel(state.masks["b"])])
    assert (got == expected).all() and not state.masks["bias"].any()


@pytest.mark.parametrize("kwargs", [dict(selection="top_k"), dict(scope="erk"),
                                    dict(structure="2:4")])
def test_a_schedule_needs_a_traceable_selection(kwargs):
  with pytest.raises(ValueError, match="sparsity schedule"):
    optax_swd.swd(optax_swd.gradual_sparsity(0.5, 0, 10), total_steps=10, **kwargs)


def test_schedule_with_proximal_form_and_sgd_converges_to_the_final_mask():
  params = {"w": jnp.asarray(np.random.default_rng(1).normal(size=(16, 16)), jnp.float32)}
  tx = optax.chain(optax.sgd(0.1, momentum=0.9),
                   optax_swd.swd(optax_swd.gradual_sparsity(0.75, 0, 50), total_steps=50,
                                 a_max=1e8, form="proximal", learning_rate=0.1))
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    grads = jax.tree.map(jnp.zeros_like, params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  for _ in range(80):
    params, state = step(params, state)
  selected = state[1].masks["w"]
  assert int(jnp.sum(selected)) == 192
  assert float(jnp.max(jnp.abs(params["w"][selected]))) < 1e-6
  assert float(jnp.min(jnp.abs(params["w"][~selected]))) > 1e-2

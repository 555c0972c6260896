"""The `swd` transformation against the NumPy reference of its contract."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_swd
from tests import quadratic
from tests import reference


def _random_params(seed):
  rng = np.random.default_rng(seed)
  return {
      "dense": {"kernel": rng.standard_normal((13, 7)).astype(np.float32),
                "bias": rng.standard_normal(7).astype(np.float32)},
      "conv": {"kernel": (0.1 * rng.standard_normal((3, 3, 2, 4))).astype(np.float32)},
      "out": [rng.standard_normal((7, 3)).astype(np.float32) * 3,
              rng.standard_normal(3).astype(np.float32)],
  }


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9, 0.99])
@pytest.mark.parametrize("selection", ["auto", "top_k", "bisect"])
def test_update_matches_reference_over_steps(scope, sparsity, selection):
  params = jax.tree.map(jnp.asarray, _random_params(0))
  total_steps, mu = 10, 5e-4
  tx = optax_swd.swd(sparsity, total_steps=total_steps, scope=scope, selection=selection,
                     weight_decay=mu)
  state = tx.init(params)
  update = jax.jit(tx.update)
  rng = np.random.default_rng(1)
  leaves, treedef = jax.tree.flatten(params)
  prunable = [np.ndim(p) >= 2 for p in leaves]
  for step in range(13):  # past total_steps: a stays at a_max
    grads = [rng.standard_normal(np.shape(p)).astype(np.float32) for p in leaves]
    want_u, want_m = reference.swd_update(
        grads, [np.asarray(p) for p in leaves], prunable, sparsity, scope, step, mu, 0.1,
        1e5, total_steps)
    updates, state = update(jax.tree.unflatten(treedef, grads), state, params)
    for got, want in zip(jax.tree.leaves(state.masks), want_m):
      np.testing.assert_array_equal(np.asarray(got), want)
    for got, want in zip(jax.tree.leaves(updates), want_u):
      np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(
        float(state.penalty), reference.penalty(step, 0.1, 1e5, total_steps) * mu,
        rtol=1e-5)
    assert int(state.count) == step + 1
    # New params so the selection moves between steps.
    params = jax.tree.map(lambda p, u: p - 0.05 * u, params, updates)
    leaves = jax.tree.leaves(params)


def test_penalty_schedule_contract():
  a = optax_swd.exponential_penalty(0.1, 1e5, total_steps=100)
  assert np.isclose(float(a(0)), 0.1, rtol=1e-6)
  assert np.isclose(float(a(50)), 0.1 * (1e6) ** 0.5, rtol=1e-5)
  assert np.isclose(float(a(100)), 1e5, rtol=1e-5)
  assert np.isclose(float(a(1000)), 1e5, rtol=1e-5)


def test_fixed_and_scheduled_penalty():
  params = {"w": jnp.arange(1.0, 11.0).reshape(2, 5)}
  grads = jax.tree.map(jnp.zeros_like, params)
  for penalty, want in [(3.0, 3.0), (lambda c: 2.0 * (c + 1), 2.0)]:
    tx = optax_swd.swd(0.5, penalty=penalty, weight_decay=0.1)
    u, s = tx.update(grads, tx.init(params), params)
    expected = np.where(np.arange(1, 11).reshape(2, 5) <= 5, want * 0.1, 0.0) * np.arange(
        1.0, 11.0).reshape(2, 5)
    np.testing.assert_allclose(np.asarray(u["w"]), expected, rtol=1e-6)


def test_only_prunable_leaves_change_and_masks_cover_params():
  params = {"w": jnp.ones((4, 4)), "b": jnp.ones(4), "step": jnp.array(3, jnp.int32)}
  grads = {"w": jnp.zeros((4, 4)), "b": jnp.zeros(4), "step": jnp.array(0, jnp.int32)}
  tx = optax_swd.swd(0.5, total_steps=10)
  u, s = tx.update(grads, tx.init(params), params)
  assert int(jnp.sum(s.masks["w"])) == 8
  assert not bool(jnp.any(s.masks["b"]))
  np.testing.assert_array_equal(np.asarray(u["b"]), 0.0)
  assert u["step"].dtype == jnp.int32


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_dtypes_are_preserved(dtype):
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.standard_normal((20, 10)), dtype),
            "b": jnp.zeros(10, dtype)}
  grads = jax.tree.map(jnp.ones_like, params)
  tx = optax.chain(optax_swd.swd(0.6, total_steps=5), optax.sgd(0.1))
  u, _ = jax.jit(tx.update)(grads, tx.init(params), params)
  assert u["w"].dtype == dtype and u["b"].dtype == dtype
  # Exactly k selected for these (tie-free) values; ties would go lowest index first.
  masks = optax_swd.magnitude_mask(params, 0.6)
  assert int(jnp.sum(masks["w"])) == 120


def test_prunable_as_tree_and_callable():
  params = {"a": jnp.arange(1.0, 5.0), "b": jnp.arange(1.0, 5.0).reshape(2, 2)}
  grads = jax.tree.map(jnp.zeros_like, params)
  for prunable in ({"a": True, "b": False}, lambda p: {"a": True, "b": False}):
    tx = optax_swd.swd(0.5, penalty=1.0, weight_decay=1.0, prunable=prunable)
    u, s = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(u["a"]), [1.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(np.asarray(u["b"]), 0.0)


def test_empty_pytree_passes_through():
  tx = optax_swd.swd(0.5, total_steps=10)
  state = tx.init({})
  u, state = tx.update({}, state, {})
  assert u == {}
  assert int(state.count) == 1


@pytest.mark.parametrize("make_opt", [
    lambda: optax.sgd(0.05, momentum=0.9),
    lambda: optax.adamw(1e-2, weight_decay=1e-4),
])
def test_composes_in_a_chain_and_drives_selected_weights_to_zero(make_opt):
  tx = optax.chain(optax.add_decayed_weights(5e-4),
                   optax_swd.swd(0.75, total_steps=300), make_opt())
  params, state, target = quadratic.fit(tx, (16, 16), steps=400)
  swd_state = state[1]
  selected = np.asarray(swd_state.masks["w"])
  assert selected.sum() == 192
  w = np.asarray(params["w"])
  assert np.max(np.abs(w[selected])) < 0.1 * np.max(np.abs(w[~selected]))
  # The kept weights still fit the target.
  np.testing.assert_allclose(w[~selected], np.asarray(target)[~selected], atol=0.1)


def test_inject_hyperparams_with_numeric_arguments():
  params = {"w": jnp.asarray(np.random.default_rng(0).standard_normal((8, 8)), jnp.float32)}
  tx = optax.inject_hyperparams(optax_swd.swd)(sparsity=0.5, total_steps=10, a_min=0.1,
                                               a_max=1e3, weight_decay=5e-4)
  state = tx.init(params)
  grads = jax.tree.map(jnp.zeros_like, params)
  u, state = jax.jit(tx.update)(grads, state, params)
  assert int(jnp.sum(state.inner_state.masks["w"])) == 32
  state.hyperparams["sparsity"] = jnp.asarray(0.25)
  u, state = jax.jit(tx.update)(grads, state, params)
  assert int(jnp.sum(state.inner_state.masks["w"])) == 16


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(sparsity=1.0, total_steps=1), ValueError, "sparsity"),
    (dict(sparsity=-0.1, total_steps=1), ValueError, "sparsity"),
    (dict(sparsity="0.5", total_steps=1), TypeError, "sparsity"),
    (dict(sparsity=0.5, total_steps=1, a_min=0.0), ValueError, "a_min"),
    (dict(sparsity=0.5, total_steps=1, a_min=2.0, a_max=1.0), ValueError, "a_max"),
    (dict(sparsity=0.5, total_steps=0), ValueError, "total_steps"),
    (dict(sparsity=0.5, total_steps=2.5), TypeError, "total_steps"),
    (dict(sparsity=0.5), ValueError, "total_steps"),
    (dict(sparsity=0.5, total_steps=1, weight_decay=-1.0), ValueError, "weight_decay"),
    (dict(sparsity=0.5, total_steps=1, scope="row"), ValueError, "scope"),
    (dict(sparsity=0.5, total_steps=1, selection="sort"), ValueError, "selection"),
    (dict(sparsity=0.5, penalty=-1.0), ValueError, "penalty"),
    (dict(sparsity=0.5, penalty="big"), TypeError, "penalty"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, error, words):
  with pytest.raises(error, match=words):
    optax_swd.swd(**kwargs)


def test_bad_prunable_and_missing_params_raise():
  params = {"w": jnp.ones((3, 3)), "i": jnp.ones((3, 3), jnp.int32), "b": jnp.ones(3)}
  with pytest.raises(ValueError, match="prunable"):
    optax_swd.swd(0.5, total_steps=1, prunable={"w": True}).init(params)
  with pytest.raises(TypeError, match="prunable"):
    optax_swd.swd(0.5, total_steps=1, prunable={"w": True, "i": True, "b": False}).init(
        params)
  with pytest.raises(TypeError, match="prunable"):
    optax_swd.swd(0.5, total_steps=1, prunable={"w": 1, "i": False, "b": False}).init(params)
  with pytest.raises(ValueError, match="prunable"):
    optax_swd.swd(0.5, total_steps=1).init({"b": jnp.ones(3)})
  tx = optax_swd.swd(0.5, total_steps=1)
  state = tx.init(params)
  with pytest.raises(ValueError, match="params"):
    tx.update(params, state)


def test_unknown_keyword_arguments_are_ignored():
  params = {"w": jnp.ones((2, 2))}
  tx = optax_swd.swd(0.5, total_steps=3)
  u, _ = tx.update(params, tx.init(params), params, value=1.0, grad=None)
  assert u["w"].shape == (2, 2)


def test_nan_params_make_the_update_nan_not_silently_wrong():
  params = {"w": jnp.array([[1.0, jnp.nan], [0.5, 2.0]])}
  tx = optax_swd.swd(0.5, total_steps=3)
  u, s = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
  assert np.isnan(float(s.penalty))
  assert np.isnan(np.asarray(u["w"])).any()

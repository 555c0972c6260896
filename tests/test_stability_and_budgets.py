"""The proximal form's stability, and the layer-aware selections (ERK, min_kept, scores)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_swd
from optax_swd._src import prunable as prunable_lib
from tests import quadratic


def _quadratic_run(tx, steps=600):
  params, state, _ = quadratic.fit(tx, (32, 32), steps)
  return params, state


def test_divergence_regression_gradient_form_vs_proximal():
  # SGD lr 1.0, momentum 0.9, a_max 1e5, mu 5e-4: lr * a_max * mu = 50 > 2 * 1.9.
  lr, steps = 1.0, 600
  paper = optax.chain(optax_swd.swd(0.9, total_steps=500), optax.sgd(lr, momentum=0.9))
  params, _ = _quadratic_run(paper, steps)
  # Documented: the paper's explicit form diverges here.
  assert not np.all(np.isfinite(np.asarray(params["w"]))) or np.max(
      np.abs(np.asarray(params["w"]))) > 1e3
  # The proximal step is a contraction at any a: a_max can be far larger. (At a_max=1e5
  # the momentum-amplified gradient still holds the selected weights at ~target/6.)
  stable = optax.chain(optax.sgd(lr, momentum=0.9),
                       optax_swd.swd(0.9, total_steps=500, form="proximal",
                                     learning_rate=lr, a_max=1e8))
  params, state = _quadratic_run(stable, steps)
  w = np.asarray(params["w"])
  assert np.all(np.isfinite(w))
  selected = np.asarray(state[1].masks["w"])
  assert selected.sum() == math.floor(0.9 * w.size)
  assert np.max(np.abs(w[selected])) < 1e-3
  assert np.max(np.abs(w[~selected])) > 1.0


def test_proximal_form_with_adam_reaches_zero():
  lr = 1e-2
  tx = optax.chain(optax.adam(lr), optax_swd.swd(0.75, total_steps=400, form="proximal",
                                                 learning_rate=lr, a_max=1e8))
  params, state = _quadratic_run(tx, 500)
  w = np.asarray(params["w"])
  sel = np.asarray(state[1].masks["w"])
  assert np.max(np.abs(w[sel])) < 1e-2 * np.max(np.abs(w[~sel]))


def test_proximal_update_formula():
  params = {"w": jnp.array([[1.0, -4.0], [0.5, 3.0]])}
  updates = {"w": jnp.array([[0.1, 0.1], [0.1, 0.1]])}
  tx = optax_swd.swd(0.5, penalty=10.0, weight_decay=0.1, form="proximal",
                     learning_rate=0.5)
  u, _ = tx.update(updates, tx.init(params), params)
  s = 0.5 * 10.0 * 0.1
  want = np.array([[(1.1) / (1 + s) - 1.0, 0.1], [0.6 / (1 + s) - 0.5, 0.1]])
  np.testing.assert_allclose(np.asarray(u["w"]), want, rtol=1e-6)


def test_proximal_needs_learning_rate():
  with pytest.raises(ValueError, match="learning_rate"):
    optax_swd.swd(0.5, total_steps=10, form="proximal")
  with pytest.raises(ValueError, match="learning_rate"):
    optax_swd.swd(0.5, total_steps=10, form="proximal", learning_rate=-1.0)
  with pytest.raises(ValueError, match="learning_rate"):
    optax_swd.swd(0.5, total_steps=10, learning_rate=0.1)
  with pytest.raises(ValueError, match="form"):
    optax_swd.swd(0.5, total_steps=10, form="implicit")


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99, 0.999])
def test_erk_budgets_sum_to_the_target(sparsity):
  shapes = [(3, 3, 3, 16), (3, 3, 16, 32), (3, 3, 32, 64), (64, 10), (1433, 16)]
  ks = prunable_lib.erk_counts(shapes, sparsity)
  sizes = [int(np.prod(s)) for s in shapes]
  assert sum(ks) == math.floor(sparsity * sum(sizes))
  assert all(0 <= k <= n for k, n in zip(ks, sizes))
  # Smaller layers keep a larger fraction.
  kept = [1 - k / n for k, n in zip(ks, sizes)]
  assert kept[0] >= kept[2]


def test_erk_scope_in_swd_and_prune():
  rng = np.random.default_rng(0)
  params = {"a": jnp.asarray(rng.standard_normal((100, 50)), jnp.float32),
            "b": jnp.asarray(rng.standard_normal((50, 4)), jnp.float32)}
  ks = prunable_lib.erk_counts([(100, 50), (50, 4)], 0.9)
  masks = optax_swd.magnitude_mask(params, 0.9, scope="erk")
  assert [int(jnp.sum(masks["a"])), int(jnp.sum(masks["b"]))] == ks
  tx = optax_swd.swd(0.9, total_steps=10, scope="erk")
  _, state = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
  assert [int(jnp.sum(state.masks["a"])), int(jnp.sum(state.masks["b"]))] == ks


def test_min_kept_never_empties_a_layer():
  rng = np.random.default_rng(0)
  # The small output layer is 8x larger in scale: global ranking would empty "first".
  params = {"first": jnp.asarray(0.1 * rng.standard_normal((200, 16)), jnp.float32),
            "out": jnp.asarray(0.8 * rng.standard_normal((16, 7)), jnp.float32)}
  plain = optax_swd.magnitude_mask(params, 0.99)
  assert bool(jnp.all(plain["first"]))  # emptied
  masks = optax_swd.magnitude_mask(params, 0.99, min_kept=5)
  total = 200 * 16 + 16 * 7
  assert int(jnp.sum(masks["first"])) + int(jnp.sum(masks["out"])) == math.floor(
      0.99 * total)
  assert 200 * 16 - int(jnp.sum(masks["first"])) >= 5
  assert 16 * 7 - int(jnp.sum(masks["out"])) >= 5
  # The ones kept in "first" are its largest.
  kept = np.abs(np.asarray(params["first"]))[~np.asarray(masks["first"])]
  assert kept.min() >= np.sort(np.abs(np.asarray(params["first"])).ravel())[-5]
  # When min_kept leaves fewer than floor(s*N) eligible, all eligible are taken.
  masks = optax_swd.magnitude_mask(params, 0.99, min_kept=30)
  assert 200 * 16 - int(jnp.sum(masks["first"])) == 30
  assert 16 * 7 - int(jnp.sum(masks["out"])) == 30


def test_layer_normalized_score_balances_layers():
  rng = np.random.default_rng(0)
  params = {"first": jnp.asarray(0.1 * rng.standard_normal((200, 16)), jnp.float32),
            "out": jnp.asarray(0.8 * rng.standard_normal((16, 7)), jnp.float32)}
  masks = optax_swd.magnitude_mask(params, 0.9, score="layer_normalized")
  frac_first = float(jnp.mean(masks["first"]))
  frac_out = float(jnp.mean(masks["out"]))
  assert abs(frac_first - frac_out) < 0.1  # same scale-free distribution
  pruned = optax_swd.prune(params, 0.9, score="layer_normalized")
  assert optax_swd.sparsity_report(pruned).zeros == math.floor(0.9 * (3200 + 112))


def test_bad_min_kept_and_score():
  with pytest.raises(ValueError, match="min_kept"):
    optax_swd.swd(0.5, total_steps=10, min_kept=-1)
  with pytest.raises(ValueError, match="score"):
    optax_swd.swd(0.5, total_steps=10, score="l1")

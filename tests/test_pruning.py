"""prune, magnitude_mask and sparsity_report."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optax_swd
from tests import reference


def _params(seed=0):
  rng = np.random.default_rng(seed)
  return {"a": {"kernel": jnp.asarray(rng.standard_normal((30, 20)), jnp.float32),
                "bias": jnp.asarray(rng.standard_normal(20), jnp.float32)},
          "b": {"kernel": jnp.asarray(3 * rng.standard_normal((20, 5)), jnp.float32)}}


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.999])
def test_prune_global_matches_reference_and_hits_the_target(sparsity):
  params = _params()
  pruned = optax_swd.prune(params, sparsity)
  want = reference.select_smallest([params["a"]["kernel"], params["b"]["kernel"]], sparsity)
  np.testing.assert_array_equal(np.asarray(pruned["a"]["kernel"]) == 0, want[0])
  np.testing.assert_array_equal(np.asarray(pruned["b"]["kernel"]) == 0, want[1])
  np.testing.assert_array_equal(np.asarray(pruned["a"]["bias"]),
                                np.asarray(params["a"]["bias"]))
  report = optax_swd.sparsity_report(pruned)
  assert report.size == 700
  assert report.zeros == int(np.floor(sparsity * 700))
  assert report.sparsity == pytest.approx(np.floor(sparsity * 700) / 700)


def test_prune_layer_scope_and_jit():
  params = _params()
  pruned = jax.jit(lambda p: optax_swd.prune(p, 0.5, scope="layer"))(params)
  assert int(jnp.sum(pruned["a"]["kernel"] == 0)) == 300
  assert int(jnp.sum(pruned["b"]["kernel"] == 0)) == 50


def test_prune_with_existing_zeros_keeps_the_count_exact():
  w = jnp.array([[0.0, 0.0, 1.0, 0.0], [2.0, 0.0, 3.0, 0.5]])
  pruned = optax_swd.prune({"w": w}, 0.5)
  assert int(jnp.sum(pruned["w"] == 0)) == 4  # 4 zeros already: k=4 is met by them
  pruned = optax_swd.prune({"w": w}, 0.75)
  np.testing.assert_array_equal(np.asarray(pruned["w"]),
                                [[0, 0, 0, 0], [2.0, 0, 3.0, 0]])


def test_magnitude_mask_shapes_and_values():
  params = _params()
  masks = optax_swd.magnitude_mask(params, 0.9)
  assert masks["a"]["kernel"].shape == (30, 20)
  assert masks["a"]["kernel"].dtype == jnp.bool_
  assert not bool(jnp.any(masks["a"]["bias"]))
  assert int(sum(jnp.sum(m) for m in jax.tree.leaves(masks))) == 630


def test_sparsity_report_table_and_fields():
  params = optax_swd.prune(_params(), 0.5)
  report = optax_swd.sparsity_report(params)
  text = str(report)
  assert "global" in text and "['a']['kernel']" in text
  rows = {l.name: l for l in report.leaves}
  assert rows["['a']['bias']"].prunable is False
  assert rows["['a']['bias']"].zeros == 0
  assert report.as_dict()["zeros"] == 350
  only_b = optax_swd.sparsity_report(params, prunable=lambda p: jax.tree.map(
      lambda x: x.shape == (20, 5), p))
  assert only_b.size == 100


@pytest.mark.parametrize("call, error", [
    (lambda p: optax_swd.prune(p, 1.0), ValueError),
    (lambda p: optax_swd.prune(p, 0.5, scope="rows"), ValueError),
    (lambda p: optax_swd.magnitude_mask(p, -0.5), ValueError),
    (lambda p: optax_swd.magnitude_mask(p, 0.5, selection="sorted"), ValueError),
    (lambda p: optax_swd.sparsity_report(p, prunable={"a": True}), ValueError),
])
def test_bad_input_raises(call, error):
  with pytest.raises(error):
    call(_params())

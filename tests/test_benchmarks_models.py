"""Tests of the benchmark models: shapes, parameter counts, GCN inputs, ResNet-20."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

from benchmarks import models


def _count(params) -> int:
  return sum(int(p.size) for p in jax.tree.leaves(params))


def _init(model, *inputs):
  return model.init({"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)},
                    *inputs, train=False)


@pytest.mark.parametrize("name, shape, count", [
    ("lenet300100", (2, 28, 28, 1), 266_610),
    ("lenet300100", (2, 8, 8, 1), 50_610),
    ("lenet5", (2, 28, 28, 1), 61_706),  # the classic LeNet-5 (400 features after conv)
    ("lenet5", (2, 8, 8, 1), 21_386),
])
def test_image_models(name, shape, count):
  model = models.create(name, 10)
  variables = _init(model, jnp.zeros(shape))
  assert _count(variables["params"]) == count
  assert model.apply(variables, jnp.ones(shape), train=True).shape == (2, 10)


def _shapes(model, shape):
  """The variables' shapes, without running (or compiling) anything."""
  return jax.eval_shape(lambda: _init(model, jnp.zeros(shape)))


def test_resnet20_standard_and_wide():
  model = models.create("resnet20", 10)
  shapes = _shapes(model, (1, 32, 32, 3))
  assert _count(shapes["params"]) == 269_722  # He et al.'s 0.27M
  kernels = [p for p in jax.tree.leaves(shapes["params"]) if len(p.shape) >= 2]
  assert len(kernels) == 20  # 19 convolutions + the classifier
  assert _count(_shapes(models.create("resnet20", 10, width=64),
                        (1, 32, 32, 3))["params"]) == 4_286_026
  # Run it on small images (the parameters do not depend on the image size).
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 3))
  variables = _init(model, x)
  logits, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert logits.shape == (4, 10)
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"],
                         updates["batch_stats"])
  assert all(jax.tree.leaves(changed))


def test_option_a_shortcut_subsamples_and_zero_pads_channels():
  x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  y = models.option_a_shortcut(x, 7, 2)
  assert y.shape == (2, 2, 2, 7)
  np.testing.assert_array_equal(y[..., 2:5], x[:, ::2, ::2, :])
  assert not jnp.any(y[..., :2]) and not jnp.any(y[..., 5:])
  np.testing.assert_array_equal(models.option_a_shortcut(x, 3, 1), x)


def test_gcn_dense_and_sparse_inputs_agree():
  rng = np.random.default_rng(0)
  features = (rng.random((6, 5)) < 0.4).astype(np.float32)
  adjacency = np.eye(6, dtype=np.float32) + np.diag(np.ones(5, np.float32), 1) * 0.5
  model = models.GCN(num_classes=3)
  variables = _init(model, jnp.asarray(features), jnp.asarray(adjacency))
  assert set(variables["params"]) == {"conv1", "conv2"}
  assert variables["params"]["conv1"]["kernel"].shape == (5, 16)
  dense = model.apply(variables, jnp.asarray(features), jnp.asarray(adjacency), train=False)
  sparse_out = model.apply(variables, sparse.BCOO.fromdense(features),
                           sparse.BCOO.fromdense(adjacency), train=False)
  assert dense.shape == (6, 3)
  np.testing.assert_allclose(dense, sparse_out, rtol=1e-5, atol=1e-6)
  dropped = model.apply(variables, sparse.BCOO.fromdense(features),
                        sparse.BCOO.fromdense(adjacency), train=True,
                        rngs={"dropout": jax.random.PRNGKey(3)})
  assert not np.allclose(dropped, dense)


def test_unknown_model():
  with pytest.raises(ValueError, match="unknown model"):
    models.create("vgg", 10)

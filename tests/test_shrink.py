"""`shrink`: the narrower network computes what the hard-pruned full network computes."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optax_swd
from benchmarks import models
from benchmarks import topologies
from benchmarks.data import digits


@pytest.fixture(scope="module")
def images():
  data = digits.load()
  return jnp.asarray(data.x_test[:64])


@pytest.fixture(scope="module")
def resnet(images):
  """ResNet-20 variables with random BN gammas/betas and real running statistics."""
  seed = 0
  model = models.ResNet20(num_classes=10)
  variables = model.init(jax.random.PRNGKey(seed), images[:2], train=False)
  rng = np.random.default_rng(seed)
  params = jax.tree_util.tree_map_with_path(
      lambda path, x: (jnp.asarray(rng.uniform(0.05, 1.5, x.shape), jnp.float32)
                       if "scale" in jax.tree_util.keystr(path) else
                       jnp.asarray(0.3 * rng.standard_normal(x.shape), jnp.float32)
                       if "bn" in jax.tree_util.keystr(path) else x),
      variables["params"])
  # Running statistics from real images (a few train-mode passes).
  stats = variables["batch_stats"]
  step = jax.jit(lambda p, s: model.apply({"params": p, "batch_stats": s}, images,
                                          train=True, mutable=["batch_stats"])[1])
  for _ in range(3):
    stats = step(params, stats)["batch_stats"]
  return model, params, stats


@pytest.mark.parametrize("target", [0.5, 0.975])
def test_shrunk_resnet20_equals_masked_full_network(images, resnet, target):
  model, params, stats = resnet
  topology = topologies.resnet20_topology()
  sel = optax_swd.select_channels(params, topology, target)
  pruned = optax_swd.prune_channels(params, topology, sel.removed)
  shrunk = optax_swd.shrink(pruned, stats, topology, sel.removed)
  small = models.ResNet20(num_classes=10,
                          widths=topologies.resnet20_widths(shrunk.widths))
  want = model.apply({"params": pruned, "batch_stats": stats}, images, train=False)
  got = small.apply({"params": shrunk.params, "batch_stats": shrunk.batch_stats}, images,
                    train=False)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  assert float(jnp.std(want)) > 0.1  # a non-trivial output
  n = sum(x.size for x in jax.tree.leaves(shrunk.params))
  assert n == int(sel.num_params)
  total = sum(x.size for x in jax.tree.leaves(params))
  assert n <= (1 - target) * total
  # Shrinking the *unpruned* params (beta of the removed channels still != 0) is not
  # the same network: the removed channels' relu(beta) was feeding the next layers.
  loose = optax_swd.shrink(params, stats, topology, sel.removed)
  other = small.apply({"params": loose.params, "batch_stats": loose.batch_stats}, images,
                      train=False)
  unpruned = model.apply({"params": params, "batch_stats": stats}, images, train=False)
  assert float(jnp.max(jnp.abs(other - unpruned))) > 1e-3


def test_shrink_multiple_of_rounds_widths_and_keeps_outputs(images, resnet):
  model, params, stats = resnet
  topology = topologies.resnet20_topology()
  sel = optax_swd.select_channels(params, topology, 0.9)
  pruned = optax_swd.prune_channels(params, topology, sel.removed)
  exact = optax_swd.shrink(pruned, stats, topology, sel.removed)
  shrunk = optax_swd.shrink(pruned, stats, topology, sel.removed, multiple_of=8)
  for name, kept in shrunk.widths.items():
    assert kept % 8 == 0 and exact.widths[name] <= kept < exact.widths[name] + 8
  widths = topologies.resnet20_widths(shrunk.widths)
  assert all(w % 8 == 0 for w in widths.stages + widths.inner)
  small = models.ResNet20(num_classes=10, widths=widths)
  want = model.apply({"params": pruned, "batch_stats": stats}, images, train=False)
  got = small.apply({"params": shrunk.params, "batch_stats": shrunk.batch_stats}, images,
                    train=False)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="multiple_of"):
    optax_swd.shrink(pruned, stats, topology, sel.removed, multiple_of=0)


def test_shrunk_lenet5_filter_norm_equals_masked(images):
  model = models.LeNet5(num_classes=10)
  params = model.init(jax.random.PRNGKey(0), images[:2], train=False)["params"]
  topology = topologies.lenet5_topology()
  sel = optax_swd.select_channels(params, topology, 0.8, criterion="filter_norm")
  pruned = optax_swd.prune_channels(params, topology, sel.removed)
  shrunk = optax_swd.shrink(pruned, {}, topology, sel.removed)
  assert shrunk.params["conv2"]["kernel"].shape[-1] == shrunk.widths["conv2"] < 16
  assert shrunk.params["fc1"]["kernel"].shape[0] == 4 * shrunk.widths["conv2"]

  small = _NarrowLeNet5(tuple(shrunk.widths[k] for k in ("conv1", "conv2", "fc1", "fc2")))
  want = model.apply({"params": pruned}, images, train=False)
  got = small.apply({"params": shrunk.params}, images, train=False)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


class _NarrowLeNet5(nn.Module):
  """benchmarks.models.LeNet5 (8x8 inputs: padded conv2) with other widths."""
  widths: tuple

  @nn.compact
  def __call__(self, x, *, train):
    del train
    c1, c2, f1, f2 = self.widths
    x = nn.relu(nn.Conv(c1, (5, 5), padding="SAME", name="conv1")(x))
    x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = nn.relu(nn.Conv(c2, (5, 5), padding="SAME", name="conv2")(x))
    x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(f1, name="fc1")(x))
    x = nn.relu(nn.Dense(f2, name="fc2")(x))
    return nn.Dense(10, name="fc3")(x)


def test_shrink_rejects_a_bad_removed_vector():
  params = {"c": {"kernel": jnp.ones((1, 1, 1, 3))}, "d": {"kernel": jnp.ones((3, 2))}}
  topology = [optax_swd.ChannelGroup("g", producers=("c",), consumers=("d",))]
  with pytest.raises(ValueError, match="removed"):
    optax_swd.shrink(params, {}, topology, np.zeros(4, bool))
  with pytest.raises(ValueError, match="removed"):
    optax_swd.shrink(params, {}, topology, np.zeros(3, np.int32))


# The faster convolutions of a shrunk network (benchmarks.convs) and the latency-aware
# (uniform) selection of benchmarks.shrink_latency: same functions, targets met.

_PADDINGS = ["VALID", "SAME", ((1, 1), (1, 1)), ((0, 2), (1, 0))]


@pytest.mark.parametrize("name", ["im2col", "taps"])
@pytest.mark.parametrize("padding", _PADDINGS)
@pytest.mark.parametrize("strides", [(1, 1), (2, 1)])
def test_conv_implementations_equal_xla_conv(name, padding, strides):
  from benchmarks import convs  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((2, 9, 10, 5)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((3, 2, 5, 7)), jnp.float32)
  dn = ("NHWC", "HWIO", "NHWC")
  want = jax.lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=dn)
  got = convs.get(name)(x, k, strides, padding, dimension_numbers=dn)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv_implementations_fall_back_and_reject_bad_names():
  from benchmarks import convs  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((2, 4, 8, 8)), jnp.float32)  # NCHW
  k = jnp.asarray(rng.standard_normal((6, 4, 3, 3)), jnp.float32)  # OIHW
  want = jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", rhs_dilation=(2, 2))
  for name in ("im2col", "taps"):
    got = convs.get(name)(x, k, (1, 1), "SAME", rhs_dilation=(2, 2))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="conv implementation must be one of"):
    convs.get("winograd")
  with pytest.raises(ValueError, match="convs must name 19"):
    models.ResNet20(convs=("lax",) * 3).init(jax.random.PRNGKey(0), jnp.ones((1, 8, 8, 1)),
                                             train=False)


def test_shrunk_resnet20_with_other_convs_and_uniform_rule_equals_masked(images, resnet):
  from benchmarks import shrink_latency  # pylint: disable=import-outside-toplevel
  model, params, stats = resnet
  topology = topologies.resnet20_topology()
  total = sum(x.size for x in jax.tree.leaves(params))
  want_sizes = list(optax_swd.shrink(params, {}, topology,
                                     np.zeros(int(optax_swd.channel_importance(
                                         params, topology).shape[0]), bool)).widths.values())
  for target, multiple in ((0.9, 1), (0.75, 8), (0.95, 8)):
    removed = shrink_latency.uniform_selection(params, topology, target, multiple)
    pruned = optax_swd.prune_channels(params, topology, removed)
    shrunk = optax_swd.shrink(pruned, stats, topology, removed)
    n = sum(x.size for x in jax.tree.leaves(shrunk.params))
    kept = list(shrunk.widths.values())
    if multiple == 1:
      # The same fraction of every group (to one channel); the target is met and not
      # overshot by more than one channel per group's worth (2% here).
      fractions = [w / s for w, s in zip(kept, want_sizes)]
      assert max(fractions) - min(fractions) <= 1.0 / min(want_sizes) + 1e-6
      assert 0.08 * total < n <= 0.1 * total
    elif target == 0.75:
      assert all(w % 8 == 0 for w in kept) and n <= 0.25 * total
    else:  # 95% is out of reach with 8 channels per group: the narrowest such network
      assert kept == [8] * len(kept) and n > 0.05 * total
    want = model.apply({"params": pruned, "batch_stats": stats}, images, train=False)
    for conv in ("lax", "im2col", "taps") if multiple == 1 else ("lax",):
      small = models.ResNet20(num_classes=10, widths=topologies.resnet20_widths(shrunk.widths),
                              convs=(conv,) * 19)
      got = small.apply({"params": shrunk.params, "batch_stats": shrunk.batch_stats},
                        images, train=False)
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

"""Channel topology, shrunk parameter counting, the on-device bisection, structured_swd."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_swd
from benchmarks import models
from benchmarks import topologies
from optax_swd._src import channels

G = optax_swd.ChannelGroup


def _small_params(seed=0):
  """conv1 3x3 1->4, bn1, conv2 3x3 4->6 (+bias), bn2, fc over a flattened 2x2x6 map."""
  rng = np.random.default_rng(seed)
  f = lambda *s: jnp.asarray(rng.standard_normal(s), jnp.float32)
  return {"conv1": {"kernel": f(3, 3, 1, 4)},
          "bn1": {"scale": f(4), "bias": f(4)},
          "conv2": {"kernel": f(3, 3, 4, 6), "bias": f(6)},
          "bn2": {"scale": f(6), "bias": f(6)},
          "fc": {"kernel": f(24, 5), "bias": f(5)}}


SMALL = (G("a", bns=("bn1",), producers=("conv1",), consumers=("conv2",)),
         G("b", bns=("bn2",), producers=("conv2",), consumers=(("fc", 0, 6, 6),)))


def test_param_count_matches_hand_count():
  params = _small_params()
  assert int(optax_swd.shrunk_param_count(params, SMALL, jnp.zeros(10, bool))) == (
      36 + 8 + 216 + 6 + 12 + 120 + 5)
  removed = np.zeros(10, bool)
  removed[[1, 4 + 0, 4 + 3]] = True  # channel 1 of a; channels 0 and 3 of b
  # Hand count: conv1 3*3*1*3, bn1 3+3, conv2 3*3*3*4 + bias 4, bn2 4+4,
  # fc (2*2*4)*5 + bias 5.
  hand = 27 + 6 + 108 + 4 + 8 + 80 + 5
  assert int(optax_swd.shrunk_param_count(params, SMALL, removed)) == hand
  shrunk = optax_swd.shrink(params, {}, SMALL, removed)
  assert sum(x.size for x in jax.tree.leaves(shrunk.params)) == hand
  assert shrunk.widths == {"a": 3, "b": 4}
  # The flattened consumer loses channel 0 and 3 at each of the 4 positions.
  kept_rows = [r for r in range(24) if r % 6 not in (0, 3)]
  np.testing.assert_array_equal(shrunk.params["fc"]["kernel"],
                                np.asarray(params["fc"]["kernel"])[kept_rows])


def _resnet_params(seed):
  model = models.ResNet20(num_classes=10)
  variables = jax.eval_shape(
      functools.partial(model.init, train=False), jax.random.PRNGKey(0),
      jnp.zeros((1, 8, 8, 1)))
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: jnp.asarray(rng.standard_normal(s.shape), jnp.float32),
      variables["params"])


def test_bisection_meets_parameter_target_within_one_channel():
  topology = topologies.resnet20_topology()
  select = jax.jit(lambda p, t: optax_swd.select_channels(p, topology, t))
  count = jax.jit(lambda p, r: optax_swd.shrunk_param_count(p, topology, r))
  for seed in range(3):
    params = _resnet_params(seed)
    total = sum(x.size for x in jax.tree.leaves(params))
    for target in (0.1, 0.5, 0.75, 0.9, 0.975):
      sel = select(params, jnp.float32(target))
      removed = np.asarray(sel.removed)
      budget = (1 - np.float32(target)) * total
      assert int(sel.num_params) == int(count(params, removed))
      assert int(sel.num_params) <= budget
      # Putting back the last removed channel (the most important removed one) breaks
      # the budget: the target is met to within that channel's parameters.
      scores = np.asarray(optax_swd.channel_importance(params, topology))
      last = np.flatnonzero(removed)[np.argmax(scores[removed])]
      assert np.isclose(scores[last], float(sel.threshold))
      fewer = removed.copy()
      fewer[last] = False
      assert int(count(params, fewer)) > budget
      # The removed channels are exactly the lowest scores among the eligible.
      assert scores[removed].max() <= scores[~removed & ~_protected(topology, scores)].min()


def _protected(topology, scores):
  """Each group's highest-scoring channel (what min_kept=1 keeps)."""
  res = channels.resolve(topology, _resnet_params(0))
  out = np.zeros(len(scores), bool)
  for group in np.split(np.arange(res.num_channels), res.group_start[1:]):
    out[group[np.argmax(scores[group])]] = True
  return out


def test_channel_target_and_min_kept():
  params = _small_params(1)
  sel = optax_swd.select_channels(params, SMALL, 0.5, target_kind="channels")
  assert int(np.sum(sel.removed)) == 5
  sel = optax_swd.select_channels(params, SMALL, 0.99, target_kind="channels")
  removed = np.asarray(sel.removed)
  assert removed[:4].sum() == 3 and removed[4:].sum() == 5  # each group keeps one
  sel = optax_swd.select_channels(params, SMALL, 0.99, target_kind="channels", min_kept=0)
  assert int(np.sum(sel.removed)) == 9


@pytest.mark.parametrize("topology, message", [
    ([G("a", bns=("bn1",), producers=("conv1",), consumers=("conv9",))],
     "unknown path"),
    ([G("a", bns=("bn1",), consumers=("conv2",))], "no producer"),
    ([G("a", bns=("bn2",), producers=("conv1",), consumers=("conv2",))],
     "mismatched shapes"),
    ([G("b", bns=("bn2",), producers=("conv2",), consumers=("fc",))],
     "mismatched shapes"),
    ([G("b", bns=("bn2",), producers=("conv2",), consumers=(("fc", 0, 6, 7),))],
     "not a multiple"),
    ([G("a", bns=(("bn1", 2, 6),), producers=(("conv1", 2, 6),))], "outside"),
    ([G("a", bns=("bn1",), producers=("conv1",)),
      G("c", bns=(("bn1", 0, 2),), producers=(("conv1", 0, 2),))], "already claimed"),
    ([G("a", producers=("conv1",)), G("a", producers=("conv2",))], "unique"),
    ([G("a", bns="bn1", producers=("conv1",))], "sequence"),
    ([G("a", producers=(("conv1", 0),))], "tuple"),
    ([], "at least one"),
])
def test_bad_topologies_raise_clear_errors(topology, message):
  with pytest.raises(ValueError, match=message):
    optax_swd.shrunk_param_count(_small_params(), topology, jnp.zeros(4, bool))


def test_bad_arguments():
  params = _small_params()
  with pytest.raises(TypeError, match="topology"):
    optax_swd.select_channels(params, SMALL[0], 0.5)
  with pytest.raises(ValueError, match="target"):
    optax_swd.select_channels(params, SMALL, 1.0)
  with pytest.raises(ValueError, match="target_kind"):
    optax_swd.select_channels(params, SMALL, 0.5, target_kind="weights")
  with pytest.raises(ValueError, match="criterion"):
    optax_swd.structured_swd(0.5, topology=SMALL, criterion="l1", total_steps=10)
  with pytest.raises(ValueError, match="total_steps"):
    optax_swd.structured_swd(0.5, topology=SMALL)
  with pytest.raises(ValueError, match="removed"):
    optax_swd.shrunk_param_count(params, SMALL, jnp.zeros(3, bool))
  no_bn = (G("a", producers=("conv1",), consumers=("conv2",)),)
  with pytest.raises(ValueError, match="filter_norm"):
    optax_swd.structured_swd(0.5, topology=no_bn, total_steps=10).init(params)


def _chain(**kwargs):
  return optax.chain(
      optax_swd.structured_swd(0.3, topology=SMALL, total_steps=10, weight_decay=0.01,
                               **kwargs),
      optax.sgd(0.1))


@pytest.mark.parametrize("kwargs", [{}, {"decay_kernels": True},
                                    {"criterion": "filter_norm"},
                                    {"target_kind": "channels"}])
def test_transform_under_jit_decays_exactly_the_selected_channels(kwargs):
  params = _small_params(2)
  tx = _chain(**kwargs)
  state = tx.init(params)
  grads = jax.tree.map(lambda p: jnp.full(p.shape, 0.5, p.dtype), params)
  update = jax.jit(tx.update)
  for step in range(3):
    updates, state = update(grads, state, params)
    swd_state = state[0]
    assert int(swd_state.count) == step + 1
    sel = optax_swd.select_channels(
        params, SMALL, 0.3, target_kind=kwargs.get("target_kind", "parameters"),
        criterion=kwargs.get("criterion", "bn_gamma"))
    removed = np.asarray(sel.removed)
    np.testing.assert_array_equal(swd_state.removed, removed)
    assert removed.any() and not removed.all()
    coef = 0.01 * float(optax_swd.exponential_penalty(0.1, 1e5, 10)(step))
    np.testing.assert_allclose(float(swd_state.penalty), coef, rtol=1e-5)
    ra, rb = removed[:4], removed[4:]
    want = {  # which entries of each leaf are penalised
        "bn1": {"scale": ra, "bias": ra},
        "bn2": {"scale": rb, "bias": rb},
        "conv1": {"kernel": np.zeros((3, 3, 1, 4), bool)},
        "conv2": {"kernel": np.zeros((3, 3, 4, 6), bool), "bias": np.zeros(6, bool)},
        "fc": {"kernel": np.zeros((24, 5), bool), "bias": np.zeros(5, bool)},
    }
    if kwargs.get("decay_kernels") or kwargs.get("criterion") == "filter_norm":
      want["conv1"]["kernel"] = np.broadcast_to(ra, (3, 3, 1, 4))
      want["conv2"]["kernel"] = np.broadcast_to(rb, (3, 3, 4, 6)).copy()
      want["conv2"]["bias"] = rb
    if kwargs.get("decay_kernels"):
      want["conv2"]["kernel"] |= ra[None, None, :, None]
      want["fc"]["kernel"] = np.broadcast_to(np.tile(rb, 4)[:, None], (24, 5))
    for path in want:
      for leaf in want[path]:
        mask = np.asarray(swd_state.masks[path][leaf])
        np.testing.assert_array_equal(mask, want[path][leaf], err_msg=f"{path}/{leaf}")
        # sgd(0.1) of (g + coef * w on the mask).
        expected = -0.1 * (0.5 + coef * np.where(mask, params[path][leaf], 0))
        np.testing.assert_allclose(updates[path][leaf], expected, rtol=1e-5, atol=1e-7)
    params = optax.apply_updates(params, updates)


def test_target_may_be_traced_and_state_counts_params():
  params = _small_params(3)
  tx = optax.inject_hyperparams(
      lambda target: optax_swd.structured_swd(target, topology=SMALL, penalty=1.0))(
          target=0.5)
  state = tx.init(params)
  _, state = jax.jit(tx.update)(jax.tree.map(jnp.zeros_like, params), state, params)
  inner = state.inner_state
  assert int(inner.num_params) <= 0.5 * 403
  assert int(inner.num_params) == int(
      optax_swd.shrunk_param_count(params, SMALL, inner.removed))


def test_uniform_allocation_removes_the_same_fraction_of_every_group():
  topology = topologies.resnet20_topology()
  params = _resnet_params(4)
  res = channels.resolve(topology, params)
  groups = np.split(np.arange(res.num_channels), res.group_start[1:])
  scores = np.asarray(optax_swd.channel_importance(params, topology))
  total = sum(x.size for x in jax.tree.leaves(params))
  select = jax.jit(lambda p, t: optax_swd.select_channels(p, topology, t,
                                                          allocation="uniform"))
  count = jax.jit(lambda p, r: optax_swd.shrunk_param_count(p, topology, r))
  for target in (0.5, 0.9):
    sel = select(params, jnp.float32(target))
    removed = np.asarray(sel.removed)
    fractions = [removed[g].mean() for g in groups]
    # The same fraction everywhere, to one channel of the smallest group (8 channels:
    # the option-A shortcut splits stage 2's stream into 8 + 16 + 8).
    assert max(fractions) - min(fractions) <= 1 / min(map(len, groups)) + 1e-6
    assert int(sel.num_params) == int(count(params, removed))
    assert int(sel.num_params) <= (1 - target) * total
    # Each group loses its least important channels.
    for g in groups:
      if removed[g].any() and (~removed[g]).any():
        assert scores[g][removed[g]].max() <= scores[g][~removed[g]].min()
    assert np.isclose(float(sel.threshold), scores[removed].max())
    # The stream is thinned too, unlike the global rule at the same target.
    glob = np.asarray(optax_swd.select_channels(params, topology, target).removed)
    assert removed[groups[0]].sum() > glob[groups[0]].sum()
  # structured_swd decays exactly the channels of the uniform selection.
  tx = optax_swd.structured_swd(0.9, topology=topology, allocation="uniform",
                                total_steps=10)
  state = tx.init(params)
  _, state = jax.jit(tx.update)(jax.tree.map(jnp.zeros_like, params), state, params)
  np.testing.assert_array_equal(state.removed, np.asarray(select(params, 0.9).removed))
  with pytest.raises(ValueError, match="allocation must be one of"):
    optax_swd.select_channels(params, topology, 0.5, allocation="stream")
  with pytest.raises(ValueError, match="allocation must be one of"):
    optax_swd.structured_swd(0.5, topology=topology, allocation=None, total_steps=10)

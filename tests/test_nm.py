"""N:M semi-structured SWD: masks, the penalty, hard pruning, the report, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_swd


def reference_nm(w, n, m):
  """NumPy: in each group of m along axis -2, the m - n smallest |w| (stable ties)."""
  a = np.moveaxis(np.abs(np.asarray(w, np.float32)), -2, -1)
  groups = a.reshape(a.shape[:-1] + (a.shape[-1] // m, m))
  order = np.argsort(groups, axis=-1, kind="stable")
  mask = np.zeros(groups.shape, bool)
  np.put_along_axis(mask, order[..., :m - n], True, axis=-1)
  return np.moveaxis(mask.reshape(a.shape), -1, -2)


def params(seed=0, dtype=jnp.float32):
  rng = np.random.default_rng(seed)
  return {"dense": {"kernel": jnp.asarray(rng.normal(size=(8, 5)), dtype),
                    "bias": jnp.asarray(rng.normal(size=(5,)), dtype)},
          "conv": {"kernel": jnp.asarray(rng.normal(size=(3, 3, 16, 4)), dtype)}}


@pytest.mark.parametrize("structure,n,m", [("2:4", 2, 4), ("1:4", 1, 4), ("3:8", 3, 8)])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_masks_are_the_smallest_of_each_input_group(structure, n, m, dtype):
  p = params(1, dtype)
  s = (m - n) / m
  masks = optax_swd.magnitude_mask(p, s, structure=structure)
  for name in ("dense", "conv"):
    np.testing.assert_array_equal(np.asarray(masks[name]["kernel"]),
                                  reference_nm(p[name]["kernel"].astype(jnp.float32), n, m))
  assert not np.asarray(masks["dense"]["bias"]).any()
  # Groups run along the input axis (-2): every (.., out) column holds m - n per group.
  k = np.asarray(masks["dense"]["kernel"])
  assert (k.reshape(8 // m, m, 5).sum(axis=1) == m - n).all()
  assert np.asarray(masks["conv"]["kernel"]).sum() == 3 * 3 * 4 * 16 * (m - n) // m


def test_ties_go_to_the_lowest_position_in_the_group():
  w = jnp.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 2.0]])  # [in=4, out=2]
  masks = optax_swd.magnitude_mask({"w": w}, 0.5, structure="2:4")["w"]
  np.testing.assert_array_equal(np.asarray(masks),
                                [[True, True], [True, True], [False, False], [False, False]])


def test_swd_penalises_exactly_the_nm_selection_under_jit():
  p = params(2)
  tx = optax_swd.swd(0.5, structure="2:4", penalty=10.0, weight_decay=0.1)
  grads = jax.tree.map(jnp.zeros_like, p)
  updates, state = jax.jit(tx.update)(grads, tx.init(p), p)
  assert float(state.penalty) == pytest.approx(1.0)
  for name in ("dense", "conv"):
    mask = reference_nm(p[name]["kernel"], 2, 4)
    np.testing.assert_array_equal(np.asarray(state.masks[name]["kernel"]), mask)
    np.testing.assert_allclose(np.asarray(updates[name]["kernel"]),
                               np.where(mask, np.asarray(p[name]["kernel"]), 0.0), rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(updates["dense"]["bias"]), 0.0)


def test_swd_training_then_prune_gives_a_valid_2_4_model():
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(64, 8)), jnp.float32)
  p = {"k": jnp.asarray(rng.normal(size=(8, 4)), jnp.float32)}
  y = x @ p["k"]
  tx = optax.chain(optax_swd.swd(0.5, structure="2:4", total_steps=200, a_min=1.0,
                                 a_max=1e4, weight_decay=1e-3), optax.sgd(0.05))
  state = tx.init(p)
  loss = lambda p: jnp.mean(jnp.square(x @ p["k"] - y))

  @jax.jit
  def step(p, state):
    updates, state = tx.update(jax.grad(loss)(p), state, p)
    return optax.apply_updates(p, updates), state

  for _ in range(200):
    p, state = step(p, state)
  selected = np.asarray(state[0].masks["k"])
  kernel = np.abs(np.asarray(p["k"]))
  assert kernel[selected].max() < 0.05 < 0.3 < kernel[~selected].mean()  # driven to ~0
  pruned = optax_swd.prune(p, 0.5, structure="2:4")
  report = optax_swd.sparsity_report(pruned, structure="2:4")
  assert report.satisfies_structure and report.sparsity == 0.5
  assert report.leaves[0].structured
  assert "2:4" in str(report)
  assert abs(float(loss(pruned)) - float(loss(p))) < 1e-2 * float(loss(params_zero(p)))
  assert optax_swd.sparsity_report(p, structure="2:4").satisfies_structure is False


def params_zero(p):
  return jax.tree.map(jnp.zeros_like, p)


def test_report_without_structure_and_unfit_leaves():
  report = optax_swd.sparsity_report({"k": jnp.ones((6, 2)), "b": jnp.ones(2)},
                                     structure="2:4")
  assert report.leaves[1].structured is None  # 6 is not a multiple of 4
  assert optax_swd.sparsity_report({"k": jnp.ones((4, 2))}).satisfies_structure is None


def test_nan_params_make_the_penalty_nan():
  p = params(4)
  p["dense"]["kernel"] = p["dense"]["kernel"].at[0, 0].set(jnp.nan)
  tx = optax_swd.swd(0.5, structure="2:4", penalty=1.0)
  updates, state = tx.update(jax.tree.map(jnp.zeros_like, p), tx.init(p), p)
  assert np.isnan(float(state.penalty))
  assert np.isnan(np.asarray(updates["conv"]["kernel"])).all()


def test_default_structure_is_unchanged_behaviour():
  p = params(5)
  grads = jax.tree.map(jnp.ones_like, p)
  a = optax_swd.swd(0.5, total_steps=10)
  b = optax_swd.swd(0.5, total_steps=10, structure=None)
  ua, sa = a.update(grads, a.init(p), p)
  ub, sb = b.update(grads, b.init(p), p)
  for x, y in zip(jax.tree.leaves((ua, sa)), jax.tree.leaves((ub, sb))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("kwargs,message", [
    (dict(structure="2:4", sparsity=0.4), r"sparsity must be \(m - n\) / m = 0.5"),
    (dict(structure="4:4"), "0 < n < m"),
    (dict(structure="0:4", sparsity=0.75), "0 < n < m"),
    (dict(structure="2x4"), "structure must be None or a string 'n:m'"),
    (dict(structure=24), "structure must be None or a string 'n:m'"),
    (dict(structure="2:4", scope="layer"), "scope='layer' cannot be combined"),
    (dict(structure="2:4", min_kept=1), "min_kept=1 cannot be combined"),
    (dict(structure="2:4", selection="top_k"), "selection='top_k' cannot be combined"),
])
def test_bad_structure_arguments(kwargs, message):
  kwargs = dict(dict(sparsity=0.5, total_steps=10), **kwargs)
  sparsity = kwargs.pop("sparsity")
  with pytest.raises(ValueError, match=message):
    optax_swd.swd(sparsity, **kwargs)
  with pytest.raises(ValueError, match=message):
    optax_swd.prune(params(), sparsity, **{k: v for k, v in kwargs.items()
                                          if k not in ("total_steps", "selection")})
    optax_swd.magnitude_mask(params(), sparsity, **{k: v for k, v in kwargs.items()
                                                   if k != "total_steps"})


def test_input_dimension_not_divisible_names_the_leaf():
  bad = {"ok": jnp.ones((8, 3)), "odd": {"kernel": jnp.ones((3, 3, 6, 2))}}
  with pytest.raises(ValueError, match=r"\['odd'\]\['kernel'\] has shape \(3, 3, 6, 2\)"):
    optax_swd.swd(0.5, structure="2:4", total_steps=5).init(bad)
  with pytest.raises(ValueError, match=r"\['odd'\]\['kernel'\]"):
    optax_swd.prune(bad, 0.5, structure="2:4")
  # Excluding the leaf makes it valid.
  prunable = {"ok": True, "odd": {"kernel": False}}
  out = optax_swd.prune(bad, 0.5, structure="2:4", prunable=prunable)
  assert int((np.asarray(out["ok"]) == 0).sum()) == 12


def test_harness_structure_config():
  from benchmarks import configs
  from benchmarks import methods
  config = configs.run_config("digits", "swd", 0.5, structure="2:4")
  assert methods.selection(config).kwargs()["structure"] == "2:4"
  assert configs.run_config("digits", "magnitude_ft", 0.75, structure="1:4").structure
  for method, sparsity, message in [("swd", 0.4, "sparsity must be 0.5"),
                                    ("gmp", 0.5, "not by 'gmp'"),
                                    ("swd", 0.5, None)]:
    kwargs = dict(structure="2:4") if message else dict(structure="2:4", scope="layer")
    with pytest.raises(ValueError, match=message or "cannot be combined"):
      configs.run_config("digits", method, sparsity, **kwargs)
  with pytest.raises(ValueError, match="structure must be 'n:m'"):
    configs.run_config("digits", "swd", 0.5, structure="2/4")


def test_cli_rejects_a_structure_the_model_cannot_hold(capsys):
  from benchmarks import run as run_lib
  with pytest.raises(SystemExit) as e:  # LeNet-300-100's fc1 kernel is [64, 300]
    run_lib.main(["digits", "--method", "swd", "--structure", "3:5", "--sparsity", "0.4",
                  "--epochs", "1", "--no-progress"])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "['fc1']['kernel'] has shape (64, 300)" in err and "divisible by 5" in err


def test_nan_params_make_magnitude_mask_and_prune_raise():
  p = params(6)
  p["conv"]["kernel"] = p["conv"]["kernel"].at[0, 0, 0, 0].set(jnp.nan)
  with pytest.raises(ValueError, match="params"):
    optax_swd.magnitude_mask(p, 0.5, structure="2:4")
  with pytest.raises(ValueError, match="params"):
    optax_swd.prune(p, 0.5, structure="2:4")

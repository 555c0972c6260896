"""Tests of the pruning methods' plans and of one short digits run per method."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax_swd
import pytest

from benchmarks import configs
from benchmarks import methods
from benchmarks import run as run_lib
from benchmarks.data import digits


@pytest.fixture(scope="module")
def digits_data():
  return digits.load()


def _config(method, sparsity=0.8, **overrides):
  return configs.run_config("digits", method, sparsity, 0, **overrides)


def test_step_schedule_divides_by_ten_at_half_and_three_quarters():
  schedule = methods.step_schedule(1.0, 100)
  values = [float(schedule(t)) for t in (0, 49, 50, 74, 75, 99, 500)]
  np.testing.assert_allclose(values, [1, 1, 0.1, 0.1, 0.01, 0.01, 0.01], rtol=1e-6)


def test_gmp_updates_follow_the_cubic_schedule():
  updates = methods.gmp_updates(0.9, begin=10, end=110, n=10)
  assert [u.step for u in updates] == list(range(20, 111, 10))
  for k, u in enumerate(updates, start=1):
    assert u.sparsity == pytest.approx(0.9 * (1 - (1 - k / 10) ** 3))
  assert updates[-1].sparsity == 0.9 and updates[-1].final
  assert not any(u.final for u in updates[:-1])
  assert all(a.sparsity < b.sparsity for a, b in zip(updates, updates[1:]))


def test_gmp_updates_collapse_when_steps_are_few():
  updates = methods.gmp_updates(0.5, begin=0, end=3, n=20)
  assert [u.step for u in updates] == [0, 1, 2, 3] and updates[-1].sparsity == 0.5
  assert [u.final for u in updates] == [False, False, False, True]


def test_plans_share_the_budget():
  for method in methods.METHODS:
    plan = methods.plan(_config(method, epochs=4), steps_per_epoch=10)
    assert plan.total_steps == 40
    assert sum(p.steps for p in plan.phases) == 40
    assert [p.start for p in plan.phases] == list(
        np.cumsum([0] + [p.steps for p in plan.phases[:-1]]))
    assert plan.masked == (method in ("magnitude_ft", "lr_rewinding", "gmp"))
    assert (plan.final_prune is not None) == (method == "swd")


def test_fine_tuning_schedules():
  ft = methods.plan(_config("magnitude_ft", epochs=4, lr=1.0), steps_per_epoch=10)
  rw = methods.plan(_config("lr_rewinding", epochs=4, lr=1.0), steps_per_epoch=10)
  for plan in (ft, rw):
    assert [p.steps for p in plan.phases] == [20, 20]
    assert plan.mask_updates == (methods.MaskUpdate(20, 0.8, True),)
  dense_lrs = [float(ft.phases[0].learning_rate(t)) for t in range(20)]
  # magnitude_ft: the final learning rate of the dense phase; lr_rewinding: replayed.
  assert [float(ft.phases[1].learning_rate(t)) for t in range(20)] == pytest.approx(
      [dense_lrs[-1]] * 20)
  assert [float(rw.phases[1].learning_rate(t)) for t in range(20)] == pytest.approx(
      dense_lrs)
  assert dense_lrs[0] == 1.0 and dense_lrs[-1] == pytest.approx(0.01)


def test_unknown_method():
  with pytest.raises(ValueError, match="unknown method"):
    methods.plan(_config("oops"), 10)


@pytest.mark.parametrize("method", methods.METHODS)
def test_short_digits_run_reaches_exact_sparsity(method, digits_data, tmp_path):
  sparsity = 0.73
  config = _config(method, sparsity, epochs=3, gmp_updates=4)
  record = run_lib.run(config, data=digits_data, log_path=tmp_path / "log.jsonl")
  n = record["num_prunable"]
  assert n == 64 * 300 + 300 * 100 + 100 * 10
  expected = 0 if method == "dense" else math.floor(sparsity * n)
  assert record["num_zeros"] == expected
  assert record["sparsity_measured"] == expected / n
  assert record["sparsity_target"] == (0.0 if method == "dense" else sparsity)
  assert 0.0 <= record["test_accuracy"] <= 1.0 and record["test_accuracy"] > 0.3
  assert record["steps"] == 3 * digits_data.steps_per_epoch(64)
  lines = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
  assert [l.get("epoch") for l in lines] == [1, 2, 3, None] and lines[-1]["final"]
  if method == "swd":
    assert lines[-2]["swd_penalty"] > lines[0]["swd_penalty"]
    assert "test_accuracy_before_prune" in record
  if method in ("magnitude_ft", "lr_rewinding"):
    # The prune falls at half the steps (1.5 epochs): epoch 2 ends fine-tuning.
    assert [l["phase"] for l in lines[:-1]] == ["dense", "fine-tune", "fine-tune"]
    assert lines[0]["sparsity"] == 0.0 and lines[1]["sparsity"] == expected / n


# --- SWD variants (issue 7): form, ramp and the selection options of every method ---

def _quadratic_params():
  w = np.linspace(-1.0, 1.0, 60, dtype=np.float32).reshape(6, 10)
  return {"dense": {"kernel": jnp.asarray(w), "bias": jnp.zeros(10)}}


def _run_chain(tx, params, steps, grad_fn=None):
  """``steps`` updates of ``tx`` on ``params`` (zero gradients by default), jitted."""
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    grads = (jax.tree.map(jnp.zeros_like, params) if grad_fn is None else grad_fn(params))
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  for _ in range(steps):
    params, state = step(params, state)
  return params, state


def test_swd_forms_sit_before_or_after_the_optimizer():
  params = _quadratic_params()
  for optimizer in ("sgd", "adam"):
    gradient = methods.plan(_config("swd", 0.5, optimizer=optimizer), 10).phases[0]
    proximal = methods.plan(_config("swd", 0.5, optimizer=optimizer, swd_form="proximal"),
                            10).phases[0]
    # chain state: (add_decayed_weights, swd, optimizer) vs (..., optimizer, swd).
    assert isinstance(gradient.optimizer.init(params)[1], optax_swd.SWDState)
    assert isinstance(proximal.optimizer.init(params)[-1], optax_swd.SWDState)
    assert not isinstance(proximal.optimizer.init(params)[1], optax_swd.SWDState)


def test_proximal_form_is_the_implicit_step_with_the_optimizers_schedule():
  # SGD with the step schedule: after one update the selected weights must be exactly
  # (w + u) / (1 + lr(0) a(0) mu), with u the plain SGD step of the same gradient.
  config = _config("swd", 0.5, lr=0.3, momentum=0.0, weight_decay=0.0,
                   swd_weight_decay=0.01, a_min=50.0, a_max=50.0, swd_form="proximal")
  plan = methods.plan(config, 10)
  params = _quadratic_params()
  grads = jax.tree.map(lambda p: 0.1 * jnp.ones_like(p), params)
  tx = plan.phases[0].optimizer
  updates, state = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  w = np.asarray(params["dense"]["kernel"])
  selected = np.asarray(state[-1].masks["dense"]["kernel"])
  assert selected.sum() == 30
  expected = np.where(selected, (w - 0.3 * 0.1) / (1 + 0.3 * 50 * 0.01), w - 0.3 * 0.1)
  np.testing.assert_allclose(np.asarray(new["dense"]["kernel"]), expected, rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_proximal_form_stays_finite_where_the_paper_form_diverges(optimizer):
  # SGD lr 1.0 (momentum 0.9), a_max 1e5, mu 5e-4: lr * a * mu = 50 >> 2 (1 + 0.9).
  # A loss 0.005 (w - 1)^2 pulls every weight towards 1, so the optimizer keeps pushing
  # the selected ones away from 0; the paper's form oscillates without bound, the
  # proximal form holds them near the fixed point lr |g| / (1 - beta) / (lr a mu) = 2e-3.
  # Adam's step is ~lr whatever |g|, so its fixed point is ~1 / (a mu): a_max 1e7 there.
  steps = 200
  lr = 1.0 if optimizer == "sgd" else 0.01
  a_max = 1e5 if optimizer == "sgd" else 1e7
  grad_fn = lambda p: jax.tree.map(lambda w: 0.01 * (w - 1.0), p)
  out = {}
  for form in ("gradient", "proximal"):
    config = _config("swd", 0.5, optimizer=optimizer, lr=lr, schedule="constant",
                     a_max=a_max, swd_form=form)
    tx = methods.swd_optimizer(config, methods.learning_rate(config, steps), steps)
    params, state = _run_chain(tx, _quadratic_params(), steps, grad_fn)
    swd_state = state[1] if form == "gradient" else state[-1]
    kernel = np.asarray(params["dense"]["kernel"])
    out[form] = kernel, np.asarray(swd_state.masks["dense"]["kernel"])
  kernel, selected = out["proximal"]
  assert np.all(np.isfinite(kernel))
  assert selected.sum() == 30
  assert np.abs(kernel[selected]).max() < 3e-3
  assert np.abs(kernel[~selected]).min() > 0.5  # the kept ones moved towards 1
  kernel, _ = out["gradient"]
  if optimizer == "sgd":  # explicit step beyond its stability limit
    assert not np.all(np.isfinite(kernel)) or np.abs(kernel).max() > 1e3


def test_swd_ramp_reaches_a_max_at_its_fraction_of_the_steps():
  total = 40
  config = _config("swd", 0.5, a_min=1.0, a_max=1e4, swd_ramp=0.25)
  tx = methods.swd_optimizer(config, methods.learning_rate(config, total), total)
  params = _quadratic_params()
  update = jax.jit(lambda state: tx.update(jax.tree.map(jnp.zeros_like, params), state,
                                           params)[1])
  penalties, state = [], tx.init(params)
  for _ in range(total):
    state = update(state)
    penalties.append(float(state[1].penalty) / config.swd_weight_decay)
  np.testing.assert_allclose(penalties[0], 1.0, rtol=1e-5)
  np.testing.assert_allclose(penalties[5], 100.0, rtol=1e-4)  # a_min * (1e4)^(5/10)
  np.testing.assert_allclose(penalties[10:], 1e4, rtol=1e-5)
  assert all(a < b for a, b in zip(penalties[:10], penalties[1:11]))


def test_selection_options_reach_every_methods_plan():
  for method in ("swd", "gmp", "magnitude_ft", "lr_rewinding"):
    plan = methods.plan(_config(method, 0.9, epochs=4, scope="layer",
                                score="layer_normalized", min_kept=3), 10)
    assert plan.selection == methods.Selection("layer", "layer_normalized", 3)
  assert methods.plan(_config("gmp", 0.9), 10).selection == methods.Selection()


@pytest.mark.parametrize("field, value, message", [
    ("swd_form", "implicit", "SWD form must be one of"),
    ("swd_ramp", 0.0, "SWD ramp must be in"),
    ("swd_ramp", 1.5, "SWD ramp must be in"),
    ("scope", "row", "scope must be one of"),
    ("score", "gradient", "score must be one of"),
    ("min_kept", -1, "min kept must be an integer"),
    ("min_kept", 2.5, "min kept must be an integer"),
])
def test_bad_variant_fields_raise(field, value, message):
  with pytest.raises(ValueError, match=message):
    _config("swd", **{field: value})


@pytest.mark.parametrize("method", ["swd", "gmp"])
def test_min_kept_survives_an_extreme_sparsity_in_every_layer(method, digits_data):
  # 99.9% of 50,200 kernel weights (50 kept): min_kept=5 must leave >= 5 nonzero
  # weights in each of the three kernels, and the cut must stay exact otherwise.
  from benchmarks import models  # pylint: disable=import-outside-toplevel
  from benchmarks import train as train_lib  # pylint: disable=import-outside-toplevel
  config = _config(method, 0.999, epochs=1, gmp_updates=2, min_kept=5,
                   swd_form="proximal")
  plan = methods.plan(config, digits_data.steps_per_epoch(64))
  result = train_lib.train(models.create(config.model, digits_data.num_classes),
                           digits_data, plan, batch_size=64)
  kernels = [np.asarray(p) for p in jax.tree.leaves(result.params) if p.ndim >= 2]
  assert len(kernels) == 3
  assert all(np.count_nonzero(k) >= 5 for k in kernels)
  assert result.metrics["num_zeros"] == math.floor(0.999 * result.metrics["num_prunable"])
  if method == "swd":  # (min_kept may keep weights smaller than some it cuts)
    assert result.metrics["params_finite"]
    assert 0.0 < result.metrics["selected_max_abs"] < np.inf


def test_prune_stats_report_what_the_cut_removes():
  from benchmarks import train as train_lib  # pylint: disable=import-outside-toplevel
  params = {"a": {"kernel": jnp.array([[0.1, -0.2], [3.0, 0.05]]), "bias": jnp.zeros(2)},
            "b": {"kernel": jnp.array([[-0.3, 2.0, 1.0]])}}
  stats = train_lib._prune_stats(params, 0.5, methods.Selection())  # pylint: disable=protected-access
  # 7 kernel weights, floor(3.5) = 3 cut: 0.05, 0.1, 0.2; smallest kept 0.3.
  assert stats == {"selected_max_abs": pytest.approx(0.2), "kept_min_abs": pytest.approx(0.3),
                   "params_finite": True}
  stats = train_lib._prune_stats(params, 0.5, methods.Selection(scope="layer"))  # pylint: disable=protected-access
  assert stats["selected_max_abs"] == pytest.approx(0.3)  # b: floor(1.5) = 1, i.e. 0.3
  bad = jax.tree.map(lambda p: p * jnp.nan, params)
  assert train_lib._prune_stats(bad, 0.5, methods.Selection()) == {  # pylint: disable=protected-access
      "selected_max_abs": None, "kept_min_abs": None, "params_finite": False}


def test_a_diverged_swd_run_still_ends_with_a_record(digits_data):
  # The paper's form far past its stability limit (lr * a_max * mu = 2500): the params
  # go NaN; the run must still finish and say so instead of failing at the final cut.
  config = _config("swd", 0.9, epochs=1, lr=50.0, schedule="constant", a_max=1e5)
  record = run_lib.run(config, data=digits_data)
  assert record["params_finite"] is False and record["selected_max_abs"] is None
  assert 0.0 <= record["test_accuracy"] <= 0.2


def test_swd_freeze_prunes_before_the_end_and_keeps_the_optimizer():
  plan = methods.plan(_config("swd", 0.8, epochs=4, swd_freeze=0.25, swd_form="proximal"),
                      steps_per_epoch=10)
  assert plan.mask_updates == (methods.MaskUpdate(30, 0.8, True),)
  assert len(plan.phases) == 1 and isinstance(plan.phases[0].optimizer.init(
      _quadratic_params())[-1], optax_swd.SWDState)
  assert plan.final_prune == 0.8
  assert not methods.plan(_config("swd", 0.8, epochs=4), 10).masked


def test_short_digits_run_with_freeze_is_sparse_from_the_freeze_on(digits_data, tmp_path):
  config = _config("swd", 0.7, epochs=2, swd_freeze=0.5, swd_form="proximal")
  record = run_lib.run(config, data=digits_data, log_path=tmp_path / "log.jsonl")
  n = record["num_prunable"]
  assert record["num_zeros"] == math.floor(0.7 * n)
  lines = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
  # The freeze falls at the end of epoch 1; epoch 2 trains with the mask fixed.
  assert lines[0]["sparsity"] < 0.7 and lines[1]["sparsity"] == math.floor(0.7 * n) / n
  assert record["selected_max_abs"] == 0.0  # nothing left to cut at the end

"""Tests of the pruning methods' plans and of one short digits run per method."""

import json
import math

import numpy as np
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

"""The selection benchmark's pass counter sees the search's passes."""

import pytest

from benchmarks import selection as bench


def test_pass_counts_reach_every_warm_update():
  res = bench.pass_counts(20_000, 0.9, steps=4)
  assert res["steps"] == 4
  # Every update reads the weights at least once (its first probe), and the kinds add up.
  assert res["min"] >= 1
  assert sum(res["histogram"].values()) == 4
  assert res["mean"] == pytest.approx(sum(res["by_kind_mean"].values()))
  assert set(res["by_kind_mean"]) <= set(bench._PASSES)


def test_pass_counter_names_exist_in_the_selection_module():
  # A renamed pass function would silently drop out of the count.
  for attr in bench._PASSES.values():
    assert callable(getattr(bench.selection_lib, attr))

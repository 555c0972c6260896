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


def test_side_by_side_benchmark_against_a_git_revision(capsys):
  # The A/B benchmark loads the selection module from git and checks both versions pick
  # the same masks before timing; against HEAD, both sides are this code.
  from benchmarks import selection_ab  # pylint: disable=import-outside-toplevel
  selection_ab.main(["--rev", "HEAD", "--size", "3000", "--leaves", "1", "3", "--steps",
                     "2", "--rounds", "1", "--burn-in", "1"])
  out = capsys.readouterr().out
  assert "in 1 leaf(s)" in out and "in 3 leaf(s)" in out
  report = __import__("json").loads(out.strip().splitlines()[-1])
  assert [r["leaves"] for r in report["results"]] == [1, 3]
  for r in report["results"]:
    assert r["new_over_old"]["pairs"] == 2
    assert r["old"]["ratio"] > 0 and r["new"]["ratio"] > 0


def test_pass_counts_of_the_tracked_selection(monkeypatch):
  # With the candidate list (here from 1 weight on), a warm update on the benchmark's
  # chain mostly costs one checking count: two on a tie, more only when it misses.
  from optax_swd._src import tracking  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(tracking, "_MIN_SIZE", 1)
  res = bench.pass_counts(20_000, 0.9, steps=6, selection="auto", burn_in=70)
  assert res["min"] >= 1
  assert res["mean"] <= 2.5
  plain = bench.pass_counts(20_000, 0.9, steps=6, selection="search")
  assert res["mean"] < plain["mean"]


def test_tracking_sizes_benchmark_reports_passes_and_paired_times(monkeypatch, capsys):
  from benchmarks import tracking_sizes  # pylint: disable=import-outside-toplevel
  from optax_swd._src import tracking  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(tracking, "_MIN_SIZE", 1)
  tracking_sizes.main(["--size", "20000", "--burn-in", "3", "--rounds", "1", "--configs",
                       "64/48"])
  report = __import__("json").loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert set(report["configs"]) == {"search", "64/48"}
  assert report["configs"]["search"]["over_search"] == 1.0
  assert 1 <= report["configs"]["64/48"]["passes_mean"] < report["configs"]["search"][
      "passes_mean"]
  # The configuration patches are undone afterwards.
  assert tracking._SLICES == 64 and tracking._SLOTS_PER_ENTRY == 1 / 48  # pylint: disable=protected-access

"""Tests of ``python -m benchmarks.sweep``: a tiny resumable grid and the summaries."""

import csv
import json

import pytest

from benchmarks import configs
from benchmarks import run as run_lib
from benchmarks import sweep


def test_tiny_sweep_writes_reports_and_resumes(tmp_path, monkeypatch, capsys):
  out = tmp_path / "sweep"
  argv = ["digits", "--methods", "dense", "gmp", "--sparsities", "0.6", "--seeds", "0",
          "--out", str(out), "--epochs", "1", "--no-progress"]
  assert sweep.main(argv) == 0
  summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert summary["runs"] == 2
  records = sweep.read_records(out / "results.jsonl")
  assert sorted((r["method"], r["sparsity_target"]) for r in records) == [
      ("dense", 0.0), ("gmp", 0.6)]
  assert all(r["epochs"] == 1 and r["key"] for r in records)
  for name in ("results.csv", "results.md", "accuracy.png"):
    assert (out / name).stat().st_size > 0
  with open(out / "results.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2 and rows[0]["dataset"] == "digits"
  markdown = (out / "results.md").read_text()
  assert "| gmp | 0.6 | 0.4 | 1 |" in markdown and "±" in markdown
  assert len(list((out / "logs").glob("*.jsonl"))) == 2

  # A rerun skips the finished runs; a new configuration runs.
  calls = []
  real_run = run_lib.run
  monkeypatch.setattr(run_lib, "run", lambda config, **kw: calls.append(config) or real_run(
      config, **kw))
  assert sweep.main(argv) == 0
  assert calls == []
  assert len(sweep.read_records(out / "results.jsonl")) == 2
  assert sweep.main(argv[:-3] + ["--epochs", "1", "--lr", "0.01", "--no-progress"]) == 0
  assert [c.method for c in calls] == ["dense", "gmp"]
  assert len(sweep.read_records(out / "results.jsonl")) == 4


def test_config_key_depends_on_every_hyper_parameter():
  a = configs.run_config("digits", "swd", 0.9, 0)
  assert sweep.config_key(a) == sweep.config_key(configs.run_config("digits", "swd", 0.9, 0))
  assert sweep.config_key(a) != sweep.config_key(configs.run_config("digits", "swd", 0.9, 1))
  assert sweep.config_key(a) != sweep.config_key(
      configs.run_config("digits", "swd", 0.9, 0, a_max=1e3))


def test_summarise_mean_and_sample_std():
  records = [{"method": "swd", "sparsity_target": 0.9, "test_accuracy": acc,
              "val_accuracy": 0.5, "sparsity_measured": 0.9, "seconds": 1.0}
             for acc in (0.7, 0.8, 0.9)]
  (row,) = sweep.summarise(records)
  assert row["runs"] == 3 and row["kept"] == pytest.approx(0.1)
  assert row["test_mean"] == pytest.approx(0.8) and row["test_std"] == pytest.approx(0.1)


def test_read_records_skips_a_truncated_line(tmp_path):
  path = tmp_path / "results.jsonl"
  path.write_text('{"method": "swd"}\n{"method": "gm')
  assert sweep.read_records(path) == [{"method": "swd"}]


def test_sweep_rejects_flags_it_sets(tmp_path, capsys):
  with pytest.raises(SystemExit) as e:
    sweep.main(["digits", "--methods", "swd", "--sparsities", "0.5", "--out",
                str(tmp_path), "--seed", "3"])
  assert e.value.code == 2
  assert "--seed is set by the sweep" in capsys.readouterr().err

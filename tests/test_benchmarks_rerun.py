"""Tests of ``python -m benchmarks.rerun``: records rerun from their own configuration."""

import json

import pytest

from benchmarks import configs
from benchmarks import rerun
from benchmarks import sweep


def test_rerun_reproduces_a_sweep_and_flags_a_changed_record(tmp_path):
  out = tmp_path / "sweep"
  assert sweep.main(["digits", "--methods", "swd", "--sparsities", "0.6", "--seeds", "2",
                     "--out", str(out), "--epochs", "1", "--a-max", "1e3",
                     "--no-progress"]) == 0
  (record,) = sweep.read_records(out / "results.jsonl")
  # Pretend the record came from other code: its accuracy differs from what runs now.
  (out / "results.jsonl").write_text(json.dumps({**record, "test_accuracy": -1.0}) + "\n")
  summary = tmp_path / "summary.md"
  assert rerun.main([str(out), "--replace", "--summary", str(summary)]) == 0
  text = summary.read_text()
  assert text.startswith("1 runs rerun, 0 identical, 1 changed.")
  assert f"| -1.0000 | {record['test_accuracy']:.4f} |" in text and "changed |" in text
  (new,) = sweep.read_records(out / "results.jsonl")
  assert new["key"] == record["key"] and new["a_max"] == 1e3 and new["seed"] == 2
  assert new["test_accuracy"] == record["test_accuracy"]  # deterministic on CPU
  assert sweep.read_records(out / rerun.RERUN) == [new]

  # Without --replace the records stay; an identical rerun is reported as such.
  assert rerun.main([str(out), "--summary", str(summary)]) == 0
  assert summary.read_text().startswith("1 runs rerun, 1 identical, 0 changed.")


def test_config_of_rebuilds_the_key_and_fills_later_fields():
  config = configs.run_config("digits", "swd", 0.9, 3, a_max=1e4)
  record = {"dataset": config.benchmark, "sparsity_target": config.sparsity,
            **{k: v for k, v in config.to_dict().items()
               if k not in ("benchmark", "sparsity", "swd_form", "min_kept")},
            "key": sweep.config_key(config)}
  assert rerun.config_of(record) == config  # swd_form, min_kept: the old defaults

  with pytest.raises(ValueError, match="key"):
    rerun.config_of({**record, "seed": 4})
  with pytest.raises(ValueError, match="no field 'lr'"):
    rerun.config_of({k: v for k, v in record.items() if k != "lr"})


def test_a_folder_without_records_is_an_error(tmp_path, capsys):
  assert rerun.main([str(tmp_path)]) == 2
  assert "has no results.jsonl" in capsys.readouterr().err

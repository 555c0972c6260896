"""Tests of ``python -m benchmarks.run``: the last-line JSON and one-line error exits."""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(*args, timeout=120):
  env = {k: v for k, v in os.environ.items() if k != "OPTAX_SWD_DATA_DIR"}
  return subprocess.run([sys.executable, "-m", "benchmarks.run", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=timeout, check=False)


def test_digits_run_prints_json_as_last_stdout_line(tmp_path):
  proc = _run("digits", "--method", "swd", "--sparsity", "0.5", "--seed", "1",
              "--epochs", "2", "--log-dir", str(tmp_path))
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.strip().splitlines()
  assert len(lines) == 1  # the progress bar goes to stderr
  record = json.loads(lines[-1])
  for key in ("dataset", "method", "sparsity_target", "sparsity_measured", "test_accuracy",
              "val_accuracy", "epochs", "seconds", "seed", "model", "lr", "optimizer",
              "a_min", "a_max", "weight_decay", "batch_size"):
    assert key in record, key
  assert (record["dataset"], record["method"], record["epochs"], record["seed"]) == (
      "digits", "swd", 2, 1)
  assert record["sparsity_target"] == 0.5
  n = record["num_prunable"]
  assert record["sparsity_measured"] == math.floor(0.5 * n) / n
  assert "Traceback" not in proc.stderr
  log = pathlib.Path(record["log"])
  assert log.parent == tmp_path
  assert len(log.read_text().splitlines()) == 3  # 2 epochs + the final evaluation


@pytest.mark.parametrize("args, message", [
    (("imagenet",), "invalid choice: 'imagenet'"),
    (("digits", "--sparsity", "1.5"), "sparsity must be in [0, 1)"),
    (("digits", "--method", "prune-everything"), "invalid choice"),
    (("cora", "--data-dir", "/definitely/not/here"), "does not exist"),
])
def test_bad_input_is_a_one_line_error(args, message):
  proc = _run(*args, "--no-progress")
  assert proc.returncode != 0
  assert proc.stdout == ""
  err_lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert len(err_lines) == 1, proc.stderr
  assert "error" in err_lines[0] and message in err_lines[0]
  assert "Traceback" not in proc.stderr

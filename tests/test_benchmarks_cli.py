"""Tests of ``python -m benchmarks.run``: the last-line JSON and one-line error exits."""

import json
import math
import os
import pathlib
import re
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
  # The commit the run's code came from, or None outside a git checkout.
  head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=pathlib.Path(__file__).parent,
                        capture_output=True, text=True, check=False)
  if head.returncode == 0:
    assert re.fullmatch(head.stdout.strip() + r"(-dirty)?", record["code_version"])
  else:
    assert record["code_version"] is None
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


def test_swd_variant_flags_reach_the_config():
  from benchmarks import run as run_lib  # pylint: disable=import-outside-toplevel
  args = run_lib.build_parser().parse_args(
      ["cora", "--method", "swd", "--swd-form", "proximal", "--swd-scope", "layer",
       "--swd-score", "layer_normalized", "--swd-min-kept", "4", "--swd-ramp", "0.5",
       "--swd-gradual"])
  config = run_lib.config_from_args(args)
  assert (config.swd_form, config.scope, config.score, config.min_kept,
          config.swd_ramp, config.swd_gradual) == (
              "proximal", "layer", "layer_normalized", 4, 0.5, True)
  # The short aliases set the same fields; the defaults are the paper's.
  args = run_lib.build_parser().parse_args(["cora", "--scope", "erk", "--min-kept", "2"])
  config = run_lib.config_from_args(args)
  assert (config.scope, config.min_kept) == ("erk", 2)
  config = run_lib.config_from_args(run_lib.build_parser().parse_args(["cora"]))
  assert (config.swd_form, config.scope, config.score, config.min_kept,
          config.swd_ramp, config.swd_gradual) == (
              "gradient", "global", "magnitude", 0, 1.0, False)


def test_sweep_keys_and_variants_of_the_new_fields():
  import dataclasses  # pylint: disable=import-outside-toplevel
  import hashlib  # pylint: disable=import-outside-toplevel
  from benchmarks import configs, sweep  # pylint: disable=import-outside-toplevel
  plain = configs.run_config("cora", "swd", 0.99, 0)
  # Default values of the later fields leave the key as it was before they existed.
  old_fields = {k: v for k, v in dataclasses.asdict(plain).items()
                if k not in configs.LATER_FIELD_DEFAULTS}
  old_key = hashlib.sha256(json.dumps(old_fields, sort_keys=True).encode()).hexdigest()[:16]
  assert sweep.config_key(plain) == old_key
  keys = {sweep.config_key(configs.run_config("cora", "swd", 0.99, 0, **{k: v}))
          for k, v in [("swd_form", "proximal"), ("swd_ramp", 0.5), ("scope", "layer"),
                       ("score", "layer_normalized"), ("min_kept", 3),
                       ("swd_gradual", True)]}
  assert len(keys) == 6 and old_key not in keys
  record = {"method": "swd", **dataclasses.asdict(configs.run_config(
      "cora", "swd", 0.99, 0, swd_form="proximal", score="layer_normalized", min_kept=3))}
  assert sweep.variant(record) == "swd[proximal,layer_normalized,min_kept3]"
  assert sweep.variant({**record, "swd_gradual": True}) == (
      "swd[proximal,gradual,layer_normalized,min_kept3]")
  assert sweep.variant({"method": "gmp", "scope": "global", "score": "magnitude",
                        "min_kept": 0}) == "gmp"
  assert sweep.variant({"method": "gmp"}) == "gmp"  # records from before the fields
  rows = sweep.summarise([
      {**record, "sparsity_target": 0.99, "test_accuracy": 0.5, "val_accuracy": 0.5,
       "sparsity_measured": 0.99, "seconds": 1.0},
      {"method": "swd", "sparsity_target": 0.99, "test_accuracy": 0.7,
       "val_accuracy": 0.7, "sparsity_measured": 0.99, "seconds": 1.0}])
  assert [(r["method"], r["runs"]) for r in rows] == [
      ("swd", 1), ("swd[proximal,layer_normalized,min_kept3]", 1)]


@pytest.mark.parametrize("args, message", [
    (("cora", "--swd-ramp", "0"), "SWD ramp must be in (0, 1]"),
    (("cora", "--swd-form", "implicit"), "invalid choice: 'implicit'"),
    (("cora", "--swd-min-kept", "-2"), "min kept must be an integer >= 0"),
])
def test_bad_variant_flags_are_one_line_errors(args, message):
  proc = _run(*args, "--no-progress")
  assert proc.returncode == 2 and proc.stdout == ""
  err_lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert len(err_lines) == 1 and message in err_lines[0], proc.stderr

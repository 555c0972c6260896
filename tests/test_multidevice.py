"""SWD on 8 simulated CPU devices: mesh shardings and pmap against one device.

The device count of the CPU backend is fixed when JAX starts, so these tests run
``tests/multidevice_check.py`` and ``benchmarks/data_parallel.py`` in subprocesses with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (the three processes run at once).
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

STEPS = 12


def _start(args, devices):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  flags = [f for f in env.get("XLA_FLAGS", "").split()
           if not f.startswith("--xla_force_host_platform_device_count")]
  flags.append(f"--xla_force_host_platform_device_count={devices}")
  env["XLA_FLAGS"] = " ".join(flags)
  return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc):
  out, err = proc.communicate(timeout=300)
  return proc.returncode, out, err


@pytest.fixture(scope="module")
def runs():
  procs = {
      "check": _start(["tests/multidevice_check.py"], 8),
      "dp1": _start(["-m", "benchmarks.data_parallel", f"--steps={STEPS}",
                     "--batch-size=64"], 1),
      "dp8": _start(["-m", "benchmarks.data_parallel", f"--steps={STEPS}",
                     "--batch-size=64"], 8),
      "bad_batch": _start(["-m", "benchmarks.data_parallel", "--steps=1",
                           "--batch-size=12"], 8),
  }
  return {name: _finish(p) for name, p in procs.items()}


def _record(result):
  rc, out, err = result
  assert rc == 0, f"exit {rc}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
  return json.loads(out.strip().splitlines()[-1])


def test_swd_on_mesh_and_pmap_matches_one_device(runs):
  report = _record(runs["check"])
  assert report["devices"] == 8
  assert report["ok"]
  assert set(report["selected_per_step"]) == {report["expected_selected"]}
  assert report["per_shard_rule_would_differ"]
  for layout in ("data_parallel", "model_parallel", "pmap"):
    assert report[layout]["masks_bitwise_equal"], layout
    assert report[layout]["params_max_abs_diff"] <= 1e-5, layout
  # The model-parallel run really had its kernels (and their masks) split.
  mp = report["layouts"]["model_parallel"]
  assert "model" in mp["params"]["w1"] and "model" in mp["masks"]["w2"]
  assert report["model_parallel_mesh"] == {"data": 2, "model": 4}


def test_data_parallel_example_same_on_1_and_8_devices(runs):
  one, eight = _record(runs["dp1"]), _record(runs["dp8"])
  assert (one["devices"], eight["devices"]) == (1, 8)
  assert one["params_sharding"] == eight["params_sharding"] == "P()"
  assert one["losses"].keys() == eight["losses"].keys()
  assert str(STEPS - 1) in one["losses"]
  for k, loss in one["losses"].items():
    assert abs(loss - eight["losses"][k]) <= 1e-4 * max(1.0, abs(loss)), k
  assert one["losses"]["0"] > one["losses"][str(STEPS - 1)]  # it trains
  assert abs(one["sparsity_measured"] - 0.9) < 1e-3
  assert abs(eight["sparsity_measured"] - 0.9) < 1e-3


def test_data_parallel_rejects_indivisible_batch(runs):
  rc, _, err = runs["bad_batch"]
  assert rc == 2
  assert "--batch-size must be a positive multiple of the 8 devices" in err

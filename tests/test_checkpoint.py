"""Checkpoint and resume: the SWD state through orbax, and the harness CLI end to end."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import optax_swd
from benchmarks import checkpointing
from benchmarks import run as run_lib
from tests.conftest import REPO


def test_swd_chain_state_round_trips_through_orbax(tmp_path):
  params = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(6, 5)), jnp.float32),
            "v": jnp.asarray(np.random.default_rng(1).normal(size=(4, 4)), jnp.bfloat16),
            "b": jnp.zeros(5)}
  tx = optax.chain(optax.add_decayed_weights(5e-4), optax_swd.swd(0.5, total_steps=10),
                   optax.sgd(0.1, momentum=0.9))
  state = tx.init(params)
  for _ in range(3):
    updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    params = optax.apply_updates(params, updates)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(tmp_path / "state", {"params": params, "opt_state": state})
  checkpointer.wait_until_finished()
  fresh = tx.init(params)  # the target: same structure, other values
  target = jax.tree.map(ocp.utils.to_shape_dtype_struct, {"params": params, "opt_state": fresh})
  restored = checkpointer.restore(tmp_path / "state", target)
  swd_state = restored["opt_state"][1]
  assert isinstance(swd_state, optax_swd.SWDState)
  assert int(swd_state.count) == 3 and int(state[1].count) == 3
  assert jax.tree.structure(restored["opt_state"]) == jax.tree.structure(state)
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves({"params": params,
                                                              "opt_state": state})):
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert np.asarray(swd_state.masks["w"]).sum() + np.asarray(
      swd_state.masks["v"]).sum() == 23  # floor(0.5 * 46), masks restored
  # The restored state continues exactly like the original.
  grads = jax.tree.map(jnp.ones_like, params)
  u1, s1 = tx.update(grads, state, params)
  u2, s2 = tx.update(grads, restored["opt_state"], restored["params"])
  for a, b in zip(jax.tree.leaves((u1, s1)), jax.tree.leaves((u2, s2))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# The CLI: digits, LeNet-300-100, 18 steps per epoch. magnitude_ft with 2 epochs prunes
# at step 18, so its resume after epoch 1 lands on its phase boundary and mask update.
EPOCHS, STOP = 2, 1
CASES = {
    "swd": ["--method", "swd", "--sparsity", "0.8"],
    "magnitude_ft": ["--method", "magnitude_ft", "--sparsity", "0.8"],
}


def _cli(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.Popen(
      [sys.executable, "-m", "benchmarks.run", "digits", "--epochs", str(EPOCHS),
       "--no-progress", *args], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE)


def _result(proc):
  out, err = proc.communicate(timeout=400)
  assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err[-3000:]}"
  return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("checkpoints")
  dirs = {m: (root / f"{m}_full", root / f"{m}_split") for m in CASES}
  # Every full run and every first half at once; then each second half in a new process.
  full = {m: _cli(*a, "--checkpoint-dir", str(dirs[m][0])) for m, a in CASES.items()}
  first = {m: _cli(*a, "--checkpoint-dir", str(dirs[m][1]), "--stop-after-epochs",
                   str(STOP)) for m, a in CASES.items()}
  first = {m: _result(p) for m, p in first.items()}
  second = {m: _cli(*a, "--checkpoint-dir", str(dirs[m][1]), "--resume")
            for m, a in CASES.items()}
  return {m: {"dirs": dirs[m], "full": _result(full[m]), "first": first[m],
              "second": _result(second[m])} for m in CASES}


@pytest.mark.parametrize("method", sorted(CASES))
def test_cli_stop_and_resume_equals_uninterrupted_run(cli_runs, method):
  r = cli_runs[method]
  assert r["first"]["stopped_after_epoch"] == STOP
  assert r["first"]["steps"] == STOP * r["full"]["steps"] // EPOCHS
  assert "test_accuracy" not in r["first"]
  for key in ("test_accuracy", "val_accuracy", "sparsity_measured", "num_zeros",
              "steps", "test_loss"):
    assert r["second"][key] == r["full"][key], key
  assert r["full"]["sparsity_measured"] == pytest.approx(0.8, abs=1e-4)
  full_state, full_meta = checkpointing.load_state(r["dirs"][0])
  split_state, split_meta = checkpointing.load_state(r["dirs"][1])
  assert full_meta["epoch"] == split_meta["epoch"] == EPOCHS
  assert full_meta["shuffle_rng"] == split_meta["shuffle_rng"]
  paths_a = jax.tree_util.tree_leaves_with_path(full_state)
  paths_b = jax.tree_util.tree_leaves_with_path(split_state)
  assert [p for p, _ in paths_a] == [p for p, _ in paths_b]
  names = [jax.tree_util.keystr(p) for p, _ in paths_a]
  if method == "swd":
    assert any("masks" in n for n in names)  # SWD's masks are in the compared state
  else:
    assert any(n.startswith("['keep']") for n in names)
  for (path, a), (_, b) in zip(paths_a, paths_b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b),
                                  err_msg=jax.tree_util.keystr(path))


def test_cli_checkpoint_errors(cli_runs, tmp_path, capsys):
  used = str(cli_runs["swd"]["dirs"][0])
  base = ["digits", "--method", "swd", "--sparsity", "0.8", "--epochs", str(EPOCHS),
          "--no-progress"]
  # An occupied directory without --resume is refused, not overwritten.
  assert run_lib.main(base + ["--checkpoint-dir", used]) == 1
  assert "already holds checkpoints" in capsys.readouterr().err
  # Another configuration cannot resume this run.
  assert run_lib.main(["digits", "--method", "swd", "--sparsity", "0.5", "--epochs",
                       str(EPOCHS), "--no-progress", "--checkpoint-dir", used,
                       "--resume"]) == 1
  assert "another run configuration" in capsys.readouterr().err
  with pytest.raises(SystemExit) as e:
    run_lib.main(base + ["--resume"])
  assert e.value.code == 2
  assert "need --checkpoint-dir" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    run_lib.main(base + ["--checkpoint-dir", str(tmp_path), "--checkpoint-every", "0"])
  assert "--checkpoint-every must be >= 1" in capsys.readouterr().err


def test_options_validate():
  with pytest.raises(ValueError, match="every_epochs"):
    checkpointing.Options("x", every_epochs=0)
  with pytest.raises(ValueError, match="stop_after_epochs"):
    checkpointing.Options("x", stop_after_epochs=0)

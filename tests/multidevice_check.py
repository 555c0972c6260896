"""Checks ``optax_swd.swd`` on several devices against the single-device run.

Run by ``tests/test_multidevice.py`` in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (it must be set before JAX starts,
so it cannot be done inside the pytest process). It can also be run by hand on a real
multi-device host::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/multidevice_check.py

Four layouts train the same small model (two kernels and a bias) for ``STEPS`` updates
of ``add_decayed_weights -> swd -> sgd``, from the same data:

* ``single``: plain ``jax.jit`` on one device (the reference);
* ``data_parallel``: a 1-D mesh ``("data",)`` of all devices, the batch sharded over it,
  params and optimizer state replicated (``NamedSharding(mesh, P())``);
* ``model_parallel``: a 2-D mesh ``("data", "model")``, the batch sharded over
  ``"data"`` and the kernels sharded over ``"model"`` (the first kernel by columns, the
  second by rows), the masks in the optimizer state sharded like their kernels;
* ``pmap``: ``jax.pmap`` with ``axis_name="data"``, per-device batch shards, gradients
  averaged with ``lax.pmean``, params replicated.

The SWD masks after every step must equal the reference bit for bit (for ``pmap``: on
every device), and the final params must match to float tolerance. The global threshold
is one number for the whole parameter set: a per-shard selection would select
``floor(s * N_shard)`` per shard, which changes the masks, and this check would fail.
Prints one JSON line and exits 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import optax_swd

STEPS = 6
SPARSITY = 0.7
BATCH = 64
IN, HIDDEN, OUT = 24, 32, 8


def make_problem(seed: int = 0):
  rng = np.random.default_rng(seed)
  params = {
      "w1": jnp.asarray(rng.normal(size=(IN, HIDDEN)) / np.sqrt(IN), jnp.float32),
      "b1": jnp.zeros((HIDDEN,), jnp.float32),
      "w2": jnp.asarray(rng.normal(size=(HIDDEN, OUT)) / np.sqrt(HIDDEN), jnp.float32),
  }
  batches = [(jnp.asarray(rng.normal(size=(BATCH, IN)), jnp.float32),
              jnp.asarray(rng.normal(size=(BATCH, OUT)), jnp.float32))
             for _ in range(STEPS)]
  return params, batches


def loss_fn(params, x, y):
  h = jnp.tanh(x @ params["w1"] + params["b1"])
  return jnp.mean(jnp.square(h @ params["w2"] - y))


def optimizer():
  return optax.chain(optax.add_decayed_weights(5e-4),
                     optax_swd.swd(SPARSITY, total_steps=STEPS, a_min=10.0, a_max=1e3),
                     optax.sgd(0.05, momentum=0.9))


def step(params, opt_state, x, y, tx):
  grads = jax.grad(loss_fn)(params, x, y)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def masks_of(opt_state):
  return jax.tree.map(np.asarray, opt_state[1].masks)


def run_single(params, batches):
  tx = optimizer()
  opt_state = tx.init(params)
  fn = jax.jit(lambda p, s, x, y: step(p, s, x, y, tx))
  history = []
  for x, y in batches:
    params, opt_state = fn(params, opt_state, x, y)
    history.append(masks_of(opt_state))
  return params, history


def run_mesh(params, batches, mesh, param_specs):
  """jit with NamedSharding: batch over "data", params (and masks) per ``param_specs``."""
  tx = optimizer()
  param_sh = {k: NamedSharding(mesh, spec) for k, spec in param_specs.items()}
  params = {k: jax.device_put(v, param_sh[k]) for k, v in params.items()}
  opt_state = tx.init(params)
  # The masks in the state follow their kernels' layout; everything else is replicated.
  state_sh = jax.tree.map(lambda _: NamedSharding(mesh, P()), opt_state)
  state_sh = (state_sh[0], state_sh[1]._replace(masks=param_sh), state_sh[2])
  opt_state = jax.device_put(opt_state, state_sh)
  batch_sh = NamedSharding(mesh, P("data"))
  fn = jax.jit(lambda p, s, x, y: step(p, s, x, y, tx),
               in_shardings=(param_sh, state_sh, batch_sh, batch_sh),
               out_shardings=(param_sh, state_sh))
  history = []
  for x, y in batches:
    params, opt_state = fn(params, opt_state, jax.device_put(x, batch_sh),
                           jax.device_put(y, batch_sh))
    history.append(masks_of(opt_state))
  layouts = {k: str(v.sharding.spec) for k, v in params.items()}
  mask_layouts = {k: str(v.sharding.spec) for k, v in opt_state[1].masks.items()}
  return params, history, {"params": layouts, "masks": mask_layouts}


def run_pmap(params, batches, n):
  tx = optimizer()

  def pstep(p, s, x, y):
    grads = lax.pmean(jax.grad(loss_fn)(p, x, y), axis_name="data")
    updates, s = tx.update(grads, s, p)
    return optax.apply_updates(p, updates), s

  fn = jax.pmap(pstep, axis_name="data")
  replicate = lambda tree: jax.tree.map(lambda a: jnp.stack([a] * n), tree)
  params_r = replicate(params)
  opt_state = replicate(tx.init(params))
  history = []
  for x, y in batches:
    params_r, opt_state = fn(params_r, opt_state, x.reshape(n, -1, IN),
                             y.reshape(n, -1, OUT))
    per_device = masks_of(opt_state)
    history.append(per_device)
  return params_r, history


def main() -> int:
  n = jax.device_count()
  params, batches = make_problem()
  ref_params, ref_masks = run_single(params, batches)
  n_selected = [int(sum(m.sum() for m in h.values())) for h in ref_masks]
  n_prunable = params["w1"].size + params["w2"].size
  report = {"devices": n, "platform": jax.devices()[0].platform,
            "selected_per_step": n_selected,
            "expected_selected": int(np.floor(SPARSITY * n_prunable)), "layouts": {}}
  ok = all(c == report["expected_selected"] for c in n_selected)
  # The check can tell a global threshold from a per-shard one: with w1 split into 4
  # column blocks, a per-shard rule would select floor(s * block) in each block, and the
  # global masks do not (else this check would be blind to that bug).
  blocks = np.split(ref_masks[-1]["w1"], 4, axis=1)
  per_block = [int(b.sum()) for b in blocks]
  report["w1_selected_per_column_block"] = per_block
  report["per_shard_rule_would_differ"] = any(
      c != int(np.floor(SPARSITY * blocks[0].size)) for c in per_block)
  ok = ok and report["per_shard_rule_would_differ"]

  def compare(name, got_params, got_masks, per_device=False):
    nonlocal ok
    masks_equal = True
    for step_i, (ref, got) in enumerate(zip(ref_masks, got_masks)):
      for k in ref:
        g = got[k]
        rows = g if per_device else [g]
        for r in rows:
          if r.shape != ref[k].shape or not np.array_equal(r, ref[k]):
            masks_equal = False
    err = 0.0
    for k in ref_params:
      g = np.asarray(got_params[k])
      rows = g if per_device else [g]
      for r in rows:
        err = max(err, float(np.max(np.abs(r - np.asarray(ref_params[k])))))
    params_close = err <= 1e-5
    report[name] = {"masks_bitwise_equal": masks_equal, "params_max_abs_diff": err,
                    "params_close": params_close}
    ok = ok and masks_equal and params_close

  data_mesh = Mesh(np.array(jax.devices()), ("data",))
  dp_params, dp_masks, layouts = run_mesh(
      params, batches, data_mesh, {"w1": P(), "b1": P(), "w2": P()})
  report["layouts"]["data_parallel"] = layouts
  compare("data_parallel", dp_params, dp_masks)

  model = 4 if n % 4 == 0 else (2 if n % 2 == 0 else 1)
  mp_mesh = Mesh(np.array(jax.devices()).reshape(n // model, model), ("data", "model"))
  mp_params, mp_masks, layouts = run_mesh(
      params, batches, mp_mesh, {"w1": P(None, "model"), "b1": P("model"),
                                 "w2": P("model", None)})
  report["layouts"]["model_parallel"] = layouts
  report["model_parallel_mesh"] = dict(mp_mesh.shape)
  compare("model_parallel", mp_params, mp_masks)

  pm_params, pm_masks = run_pmap(params, batches, n)
  compare("pmap", pm_params, pm_masks, per_device=True)

  report["ok"] = bool(ok)
  print(json.dumps(report))
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())

"""Data-parallel SWD training with JAX's own SPMD: the same code on 1 or many devices.

Usage::

    python -m benchmarks.data_parallel [--steps 200] [--batch-size 64] [--sparsity 0.9]
        [--seed 0] [--data digits] [--data-dir D]

    # 8 simulated CPU devices:
    XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m benchmarks.data_parallel

The batch is sharded over a 1-D mesh ``("data",)`` of *all* visible devices (one CPU, 8
simulated CPU devices, the GPUs of a host, or the cores of a TPU) with
``NamedSharding(mesh, P("data"))``; params, BatchNorm statistics and the optimizer state
(including SWD's masks) are replicated (``P()``). ``jax.jit`` partitions the step: each
device computes the gradient of its batch shard and XLA inserts the all-reduce, so the
gradient, the SWD selection (one *global* threshold over every kernel) and the update
are those of the single-device run; the only difference is the order of float sums.

The model is LeNet-300-100 from :mod:`benchmarks.models` on any image data source of
:mod:`benchmarks.data` (default: scikit-learn's bundled digits, no download). The chain
is ``add_decayed_weights(5e-4) -> swd -> sgd(momentum 0.9)`` with ``a`` growing over
all steps; at the end the params are hard-pruned and evaluated. The batch size must be
a multiple of the number of devices. The last stdout line is one JSON object:
``devices, platform, steps, batch_size, losses`` (the training loss of every 10th step and
of the last), ``test_accuracy``, ``sparsity_measured``, ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import optax_swd
from benchmarks import data as data_lib
from benchmarks import models


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.data_parallel",
                                   description=__doc__.split("\n")[0], allow_abbrev=False)
  parser.add_argument("--steps", type=int, default=200, help="updates (default 200)")
  parser.add_argument("--batch-size", type=int, default=64,
                      help="global batch, a multiple of the device count (default 64)")
  parser.add_argument("--sparsity", type=float, default=0.9)
  parser.add_argument("--lr", type=float, default=0.05)
  parser.add_argument("--a-max", type=float, default=1e4)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--data", default="digits", help="image data source (default digits)")
  parser.add_argument("--data-dir", help="local data root (see benchmarks.data)")
  return parser


def train(args: argparse.Namespace) -> dict:
  start = time.perf_counter()
  devices = jax.devices()
  n = len(devices)
  if args.steps < 1:
    raise ValueError(f"--steps must be >= 1, got {args.steps}")
  if args.batch_size < n or args.batch_size % n:
    raise ValueError(f"--batch-size must be a positive multiple of the {n} devices, "
                     f"got {args.batch_size}")
  if not 0.0 <= args.sparsity < 1.0:
    raise ValueError(f"--sparsity must be in [0, 1), got {args.sparsity}")
  data = data_lib.load(args.data, args.data_dir)
  x_train, y_train = data.split("train")
  x_test, y_test = data.split("test")
  if len(y_train) < args.batch_size:
    raise ValueError(f"--batch-size {args.batch_size} exceeds the {len(y_train)} "
                     "training examples")

  mesh = Mesh(np.array(devices), ("data",))
  replicated = NamedSharding(mesh, P())
  sharded = NamedSharding(mesh, P("data"))

  model = models.create("lenet300100", data.num_classes)
  params = model.init(jax.random.PRNGKey(args.seed), jnp.asarray(x_train[:1]),
                      train=False)["params"]
  tx = optax.chain(optax.add_decayed_weights(5e-4),
                   optax_swd.swd(args.sparsity, total_steps=args.steps, a_max=args.a_max),
                   optax.sgd(args.lr, momentum=0.9))
  params = jax.device_put(params, replicated)
  opt_state = jax.device_put(tx.init(params), replicated)

  def loss_fn(p, x, y):
    logits = model.apply({"params": p}, x, train=True)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

  @jax.jit
  def step(p, s, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
    updates, s = tx.update(grads, s, p)
    return optax.apply_updates(p, updates), s, loss

  # Replicated in, replicated out: the layout is fixed by the inputs' shardings.
  rng = np.random.default_rng(args.seed)
  per_epoch = len(y_train) // args.batch_size
  losses = {}
  order = rng.permutation(len(y_train))
  for i in range(args.steps):
    if i and i % per_epoch == 0:
      order = rng.permutation(len(y_train))
    index = order[(i % per_epoch) * args.batch_size:(i % per_epoch + 1) * args.batch_size]
    x = jax.device_put(x_train[index], sharded)
    y = jax.device_put(y_train[index], sharded)
    params, opt_state, loss = step(params, opt_state, x, y)
    if i % 10 == 0 or i == args.steps - 1:
      losses[i] = float(loss)

  pruned = jax.jit(lambda p: optax_swd.prune(p, args.sparsity))(params)
  logits = jax.jit(lambda p, x: model.apply({"params": p}, x, train=False))(
      pruned, jnp.asarray(x_test))
  accuracy = float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(y_test)))
  return {
      "devices": n, "platform": devices[0].platform, "steps": args.steps,
      "batch_size": args.batch_size,
      "params_sharding": str(jax.tree.leaves(params)[0].sharding.spec),
      "losses": losses, "test_accuracy": accuracy,
      "sparsity_measured": optax_swd.sparsity_report(pruned).sparsity,
      "seconds": round(time.perf_counter() - start, 3),
  }


def main(argv: Sequence[str] | None = None) -> int:
  parser = build_parser()
  args = parser.parse_args(argv)
  try:
    record = train(args)
  except ValueError as e:
    parser.error(str(e))
  print(json.dumps(record), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())

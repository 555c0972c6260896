"""Images per second of the harness's CIFAR-10 train step, with and without augmentation.

Usage::

    python -m benchmarks.cifar10_throughput --models resnet20 cnn --batch-sizes 128 \
        --steps 10 --repeats 5 [--data-dir D] [--bf16] [--json OUT]

Times :func:`benchmarks.train.train_step` itself (the jitted step the training loop runs:
on-device crop/flip/normalise of a ``uint8`` batch, forward, backward, SGD with weight
decay), on real CIFAR-10 batches when ``--data-dir`` (or ``$OPTAX_SWD_DATA_DIR``) holds
them, else on random ``uint8`` images. For each model and batch size the variants
(``augment`` = crop + flip + normalise, ``normalise`` = normalise only, ``swd`` = the
augmented step with ``optax_swd.swd`` in the chain) are timed *interleaved*: each repeat
runs ``--steps`` steps of every variant in turn, so load from other processes hits all
alike (the order rotates from one repeat to the next). ``transform_only`` is the augmentation alone (jitted, no model) in images/s. Reported: median and min/max over repeats of images/s, and the median ratio of
each variant to ``augment``. XLA flags (``XLA_FLAGS``) must be set in the environment
before the process starts; the script records them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax_swd

from benchmarks import models
from benchmarks import train as train_lib
from benchmarks.data import augment
from benchmarks.data import cifar10
from benchmarks.data import locate


def _images(data_dir, n: int) -> tuple[np.ndarray, np.ndarray, str]:
  try:
    root = locate.local_root(data_dir)
    if root is not None:
      data = cifar10.load(root)
      return data.x_train[:n], data.y_train[:n], "cifar10"
  except locate.DataUnavailableError:
    pass
  rng = np.random.default_rng(0)
  return (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
          rng.integers(0, 10, n).astype(np.int32), "random")


def _use_bfloat16() -> None:
  """Makes the models' convolutions and dense layers compute in bfloat16 (params f32)."""
  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  models._conv3x3 = functools.partial(models._conv3x3, dtype=jnp.bfloat16)  # pylint: disable=protected-access
  for cls in (nn.Conv, nn.Dense):
    original = cls.__init__
    def init(self, *args, _original=original, **kwargs):
      kwargs.setdefault("dtype", jnp.bfloat16)
      _original(self, *args, **kwargs)
    cls.__init__ = init


def transform_rate(transform, batches, repeats: int, calls: int = 50) -> dict:
  """Images/s of the jitted crop + flip + normalise alone (no model), median of repeats."""
  fn = jax.jit(lambda key, images: transform(key, (images,), True)[0])
  key = jax.random.PRNGKey(0)
  jax.block_until_ready(fn(key, batches[0]["inputs"][0]))
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for i in range(calls):
      out = fn(jax.random.fold_in(key, i), batches[i % len(batches)]["inputs"][0])
    jax.block_until_ready(out)
    rates.append(calls * out.shape[0] / (time.perf_counter() - start))
  return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def measure(model_name: str, batch_size: int, steps: int, repeats: int, x, y) -> dict:
  model = models.create(model_name, 10)
  full = augment.ImageTransform(cifar10.MEAN, cifar10.STD)
  plain = augment.ImageTransform(cifar10.MEAN, cifar10.STD, padding=0, flip=False)
  batches = [{"inputs": (jnp.asarray(x[i * batch_size:(i + 1) * batch_size]),),
              "labels": jnp.asarray(y[i * batch_size:(i + 1) * batch_size]),
              "weights": jnp.ones(batch_size, jnp.float32)}
             for i in range(len(y) // batch_size)]
  if not batches:
    raise ValueError(f"need at least {batch_size} images")
  variables = model.init(jax.random.PRNGKey(0), plain(None, batches[0]["inputs"], False)[0],
                         train=False)
  params, stats = variables["params"], variables.get("batch_stats", {})
  sgd = optax.chain(optax.add_decayed_weights(5e-4), optax.sgd(0.01, momentum=0.9))
  with_swd = optax.chain(optax.add_decayed_weights(5e-4),
                         optax_swd.swd(0.99, total_steps=10_000),
                         optax.sgd(0.01, momentum=0.9))
  variants = {"augment": (full, sgd), "normalise": (plain, sgd), "swd": (full, with_swd)}
  fns, states = {}, {}
  rng = jax.random.PRNGKey(1)
  for name, (transform, tx) in variants.items():
    fns[name] = jax.jit(functools.partial(train_lib.train_step, model=model, tx=tx,
                                          transform=transform))
    states[name] = train_lib.TrainState(step=jnp.zeros([], jnp.int32), params=params,
                                        batch_stats=stats, opt_state=tx.init(params))
    states[name], _ = fns[name](states[name], batches[0], rng)  # compile
    jax.block_until_ready(states[name].params)
  rates = {name: [] for name in variants}
  names = list(variants)
  for repeat in range(repeats):
    # Rotate the order each repeat, so that no variant always runs first.
    for name in names[repeat % len(names):] + names[:repeat % len(names)]:
      state = states[name]
      start = time.perf_counter()
      for i in range(steps):
        state, _ = fns[name](state, batches[i % len(batches)], rng)
      jax.block_until_ready(state.params)
      rates[name].append(steps * batch_size / (time.perf_counter() - start))
      states[name] = state
  out = {"model": model_name, "batch_size": batch_size, "steps": steps, "repeats": repeats,
         "transform_only": transform_rate(full, batches, repeats)}
  for name, r in rates.items():
    out[name] = {"median": statistics.median(r), "min": min(r), "max": max(r)}
    out[f"{name}_vs_augment"] = statistics.median(
        a / b for a, b in zip(r, rates["augment"]))
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.cifar10_throughput",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("--models", nargs="+", default=["resnet20", "cnn"],
                      choices=["resnet20", "resnet20-w64", "cnn"])
  parser.add_argument("--batch-sizes", nargs="+", type=int, default=[128])
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--bf16", action="store_true", help="compute in bfloat16")
  parser.add_argument("--data-dir")
  parser.add_argument("--json", help="append the results here as JSON lines")
  args = parser.parse_args(argv)
  if args.steps < 1 or args.repeats < 1 or min(args.batch_sizes) < 1:
    parser.error("--steps, --repeats and --batch-sizes must be >= 1")
  if args.bf16:
    _use_bfloat16()
  x, y, source = _images(args.data_dir, 4 * max(args.batch_sizes))
  header = {"xla_flags": os.environ.get("XLA_FLAGS", ""), "bf16": args.bf16,
            "source": source, "backend": jax.default_backend(),
            "devices": str(jax.devices())}
  for model_name in args.models:
    for batch_size in args.batch_sizes:
      result = {**header, **measure(model_name, batch_size, args.steps, args.repeats, x, y)}
      line = json.dumps(result)
      print(line, flush=True)
      if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
          f.write(line + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())

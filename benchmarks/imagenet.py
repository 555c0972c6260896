"""ResNet-50 on ImageNet (ILSVRC-2012) with SWD: the configuration and its training script.

Usage (on a GPU/TPU host; it does not fit this project's CPU machines)::

    python -m benchmarks.imagenet --manual-dir ~/imagenet_tars --data-dir ~/tfds \
        [--sparsity 0.975] [--epochs 90] [--batch-size 256] [--checkpoint-dir C --resume]

    # The same code on generated data (what the tests run; no download):
    python -m benchmarks.imagenet --fake-data --image-size 64 --batch-size 16 \
        --epochs 1 --steps-per-epoch 2

What it needs for real data: ``pip install tensorflow tensorflow-datasets`` and the
ILSVRC-2012 archives, which cannot be downloaded automatically: put
``ILSVRC2012_img_train.tar`` and ``ILSVRC2012_img_val.tar`` (from image-net.org) in
``--manual-dir``; tfds ``imagenet2012`` prepares them once into ``--data-dir`` (~150 GB,
hours). 90 epochs of ResNet-50 are a multi-GPU or TPU-pod job (not measured here).

The recipe (:data:`PAPER`): the SWD paper's ImageNet experiments use the ResNet-50
family with RandomResizedCrop 224 + horizontal flip; their per-experiment table was not
available, so the schedule is the standard ResNet-50 one with the paper's step rule:
90 epochs, SGD momentum 0.9, batch 256, learning rate ``0.1 * batch / 256`` divided by
10 at 1/3 and 2/3 of training (epochs 30 and 60), weight decay 1e-4 on every parameter,
SWD on every conv/dense kernel (global magnitude ranking) at the paper's headline
sparsity 0.975 (2.5% of the weights kept) with ``a`` from 0.1 to 1e5 over all steps, and
a hard prune at the end. Evaluation: top-1 and top-5 on the 50,000 validation images
(resize 256, centre crop 224).

The training is data parallel with JAX's SPMD, as :mod:`benchmarks.data_parallel`: the
batch is sharded over a 1-D mesh of all devices, params, BatchNorm statistics and the
optimizer state (SWD's masks included) are replicated. With ``--checkpoint-dir`` the
state is saved (orbax, :mod:`benchmarks.checkpointing`) after every epoch and
``--resume`` continues from the last one (the data order of the resumed epochs is not
that of an uninterrupted run: tf.data reshuffles).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from typing import Any, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import optax_swd
from benchmarks import checkpointing
from benchmarks import methods
from benchmarks import models

NUM_CLASSES = 1000
NUM_TRAIN = 1_281_167
NUM_VAL = 50_000
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class Config:
  """The hyper-parameters of one ImageNet run (defaults: :data:`PAPER`)."""
  sparsity: float = 0.975
  epochs: int = 90
  batch_size: int = 256
  base_lr: float = 0.1  # at batch 256; scaled linearly with the batch size
  momentum: float = 0.9
  weight_decay: float = 1e-4
  a_min: float = 0.1
  a_max: float = 1e5
  image_size: int = 224
  stage_sizes: tuple[int, ...] = (3, 4, 6, 3)
  width: int = 64
  steps_per_epoch: int | None = None  # None: NUM_TRAIN // batch_size
  seed: int = 0

  @property
  def lr(self) -> float:
    return self.base_lr * self.batch_size / 256

  def total_steps(self) -> int:
    return self.epochs * (self.steps_per_epoch or NUM_TRAIN // self.batch_size)

  def validate(self, devices: int) -> None:
    checks = [
        (0.0 <= self.sparsity < 1.0, f"sparsity must be in [0, 1), got {self.sparsity}"),
        (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
        (self.batch_size >= devices and self.batch_size % devices == 0,
         f"batch size must be a positive multiple of the {devices} devices, got "
         f"{self.batch_size}"),
        (self.image_size >= 32, f"image size must be >= 32, got {self.image_size}"),
        (self.steps_per_epoch is None or self.steps_per_epoch >= 1,
         f"steps per epoch must be >= 1, got {self.steps_per_epoch}"),
        (0 < self.a_min <= self.a_max, "need 0 < a_min <= a_max"),
    ]
    for ok, message in checks:
      if not ok:
        raise ValueError(message)


PAPER = Config()


def optimizer(config: Config) -> optax.GradientTransformation:
  """weight decay -> SWD -> SGD with the step schedule (x0.1 at 1/3 and 2/3)."""
  total = config.total_steps()
  schedule = methods.step_schedule(config.lr, total, (1 / 3, 2 / 3))
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay),
      optax_swd.swd(config.sparsity, weight_decay=config.weight_decay, a_min=config.a_min,
                    a_max=config.a_max, total_steps=total),
      optax.sgd(schedule, momentum=config.momentum))


def _normalise(images: jax.Array) -> jax.Array:
  x = images.astype(jnp.float32)
  if images.dtype == jnp.uint8:
    x = x / 255.0
  return (x - jnp.asarray(MEAN)) / jnp.asarray(STD)


# ---------------------------------------------------------------------------- data
def fake_batches(config: Config, *, train: bool, num_batches: int | None = None,
                 seed: int = 0) -> Iterator[dict]:
  """Generated uint8 images and labels of the real data's layout (no download)."""
  rng = np.random.default_rng(seed + (0 if train else 1))
  n = num_batches if num_batches is not None else (config.steps_per_epoch or 1)
  for _ in range(n):
    yield {"images": rng.integers(0, 256, (config.batch_size, config.image_size,
                                           config.image_size, 3), dtype=np.uint8),
           "labels": rng.integers(0, NUM_CLASSES, config.batch_size).astype(np.int32)}


def tfds_batches(config: Config, *, train: bool, manual_dir: str,
                 data_dir: str | None) -> Iterator[dict]:
  """ILSVRC-2012 through tfds ``imagenet2012`` (see the module docstring for the setup).

  Training: RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) to ``image_size`` + flip,
  shuffled, repeated; evaluation: resize the short side to ``image_size / 0.875``,
  centre crop. uint8 batches (normalised on device).
  """
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise RuntimeError("real ImageNet needs `pip install tensorflow tensorflow-datasets`"
                       ) from e
  tf.config.set_visible_devices([], "GPU")  # tf.data only; JAX owns the accelerators
  size = config.image_size
  builder = tfds.builder("imagenet2012", data_dir=data_dir)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir))
  split = "train" if train else "validation"
  ds = builder.as_dataset(split=split, shuffle_files=train,
                          decoders={"image": tfds.decode.SkipDecoding()})

  def train_map(example):
    shape = tf.io.extract_jpeg_shape(example["image"])
    begin, crop, _ = tf.image.sample_distorted_bounding_box(
        shape, tf.zeros([0, 0, 4], tf.float32), area_range=(0.08, 1.0),
        aspect_ratio_range=(3 / 4, 4 / 3), max_attempts=10, use_image_if_no_bounding_boxes=True)
    y, x, _ = tf.unstack(begin)
    h, w, _ = tf.unstack(crop)
    image = tf.image.decode_and_crop_jpeg(example["image"], tf.stack([y, x, h, w]), channels=3)
    image = tf.image.resize(image, [size, size], "bicubic")
    image = tf.image.random_flip_left_right(image)
    return {"images": tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8),
            "labels": tf.cast(example["label"], tf.int32)}

  def eval_map(example):
    image = tf.io.decode_jpeg(example["image"], channels=3)
    resize = int(round(size / 0.875))
    shape = tf.shape(image)[:2]
    scale = resize / tf.cast(tf.reduce_min(shape), tf.float32)
    new = tf.cast(tf.round(tf.cast(shape, tf.float32) * scale), tf.int32)
    image = tf.image.resize(image, new, "bicubic")
    top, left = (new[0] - size) // 2, (new[1] - size) // 2
    image = image[top:top + size, left:left + size]
    return {"images": tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8),
            "labels": tf.cast(example["label"], tf.int32)}

  if train:
    ds = ds.shuffle(16 * config.batch_size, seed=config.seed).repeat()
  ds = ds.map(train_map if train else eval_map, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.batch(config.batch_size, drop_remainder=train).prefetch(tf.data.AUTOTUNE)
  yield from tfds.as_numpy(ds)


# ------------------------------------------------------------------------ training
class State(struct.PyTreeNode):
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any


def train_step(state: State, batch: dict, *, model, tx) -> tuple[State, jax.Array]:
  def loss_fn(params):
    logits, updates = model.apply({"params": params, "batch_stats": state.batch_stats},
                                  _normalise(batch["images"]), train=True,
                                  mutable=["batch_stats"])
    loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"]))
    return loss, updates["batch_stats"]

  (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                       batch_stats=batch_stats, opt_state=opt_state), loss


def eval_step(params, batch_stats, batch, *, model) -> dict:
  logits = model.apply({"params": params, "batch_stats": batch_stats},
                       _normalise(batch["images"]), train=False)
  top5 = jax.lax.top_k(logits, 5)[1]
  labels = batch["labels"][:, None]
  return {"top1": jnp.sum(top5[:, :1] == labels), "top5": jnp.sum(top5 == labels),
          "count": jnp.sum(labels >= 0)}  # padding rows carry label -1


def train(config: Config, *, train_data, eval_data_fn,
          checkpoint: checkpointing.Options | None = None) -> dict:
  """Trains ResNet-50 with SWD data-parallel over all devices; returns the record.

  ``train_data`` is an iterator of batches (repeated as needed); ``eval_data_fn()``
  returns an iterator over the validation set.
  """
  start = time.perf_counter()
  devices = jax.devices()
  config.validate(len(devices))
  mesh = Mesh(np.array(devices), ("data",))
  replicated, sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
  model = models.ResNet50(num_classes=NUM_CLASSES, stage_sizes=tuple(config.stage_sizes),
                          width=config.width)
  variables = jax.jit(functools.partial(model.init, train=False))(
      jax.random.PRNGKey(config.seed),
      jnp.zeros((1, config.image_size, config.image_size, 3), jnp.float32))
  tx = optimizer(config)
  state = State(step=jnp.zeros([], jnp.int32), params=variables["params"],
                batch_stats=variables["batch_stats"],
                opt_state=tx.init(variables["params"]))
  per_epoch = config.steps_per_epoch or NUM_TRAIN // config.batch_size
  store = None if checkpoint is None else checkpointing.Store(checkpoint)
  first_epoch, shuffle_rng = 1, np.random.default_rng(config.seed)
  if store is not None and store.latest_epoch() is not None:
    restored = store.restore(state)
    state, first_epoch = restored.state, restored.epoch + 1
  state = jax.device_put(state, replicated)
  step_fn = jax.jit(functools.partial(train_step, model=model, tx=tx))
  eval_fn = jax.jit(functools.partial(eval_step, model=model))
  put = lambda batch: jax.device_put(batch, sharded)
  history = []
  for epoch in range(first_epoch, config.epochs + 1):
    losses = []
    for _ in range(per_epoch):
      state, loss = step_fn(state, put(next(train_data)))
      losses.append(loss)
    history.append({"epoch": epoch, "train_loss": float(jnp.mean(jnp.stack(losses)))})
    if store is not None and store.due(epoch, config.epochs):
      store.save(epoch, state, shuffle_rng)
  if store is not None:
    store.close()
  params = jax.jit(lambda p: optax_swd.prune(p, config.sparsity))(state.params)
  sums = {"top1": 0, "top5": 0, "count": 0}
  for batch in eval_data_fn():
    pad = config.batch_size - len(batch["labels"])
    if pad:  # the last validation batch: pad to the (device-divisible) batch size
      batch = {"images": np.concatenate([batch["images"], np.zeros(
                   (pad,) + batch["images"].shape[1:], batch["images"].dtype)]),
               "labels": np.concatenate([batch["labels"], np.full(pad, -1, np.int32)])}
    out = eval_fn(params, state.batch_stats, put(batch))
    sums = {k: sums[k] + int(out[k]) for k in sums}
  report = optax_swd.sparsity_report(params)
  return {
      "config": dataclasses.asdict(config), "devices": len(devices),
      "platform": devices[0].platform, "steps": int(state.step),
      "num_params": sum(int(np.size(x)) for x in jax.tree.leaves(params)),
      "history": history,
      "top1": sums["top1"] / max(sums["count"], 1),
      "top5": sums["top5"] / max(sums["count"], 1),
      "sparsity_measured": report.sparsity,
      "params_finite": all(bool(np.isfinite(np.asarray(x)).all())
                           for x in jax.tree.leaves(params)),
      "seconds": round(time.perf_counter() - start, 3),
  }


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m benchmarks.imagenet", allow_abbrev=False,
                              description="ResNet-50 on ImageNet with SWD (data parallel).")
  d = PAPER
  p.add_argument("--manual-dir", help="folder with the ILSVRC2012 train/val tar files")
  p.add_argument("--data-dir", help="tfds data_dir (the prepared imagenet2012)")
  p.add_argument("--fake-data", action="store_true",
                 help="generated images instead of ImageNet (smoke test)")
  p.add_argument("--sparsity", type=float, default=d.sparsity)
  p.add_argument("--epochs", type=int, default=d.epochs)
  p.add_argument("--batch-size", type=int, default=d.batch_size)
  p.add_argument("--base-lr", type=float, default=d.base_lr, help="lr at batch 256")
  p.add_argument("--a-max", type=float, default=d.a_max)
  p.add_argument("--image-size", type=int, default=d.image_size)
  p.add_argument("--steps-per-epoch", type=int, help="default: the whole training set")
  p.add_argument("--eval-batches", type=int, default=2, help="with --fake-data")
  p.add_argument("--stage-sizes", default="3,4,6,3",
                 help="blocks per stage (ResNet-50: 3,4,6,3)")
  p.add_argument("--width", type=int, default=d.width, help="first stage width (64)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--checkpoint-dir")
  p.add_argument("--resume", action="store_true")
  return p


def main(argv: Sequence[str] | None = None) -> int:
  parser = build_parser()
  args = parser.parse_args(argv)
  try:
    stages = tuple(int(s) for s in args.stage_sizes.split(","))
  except ValueError:
    parser.error(f"--stage-sizes must be comma-separated ints, got {args.stage_sizes!r}")
  config = Config(sparsity=args.sparsity, epochs=args.epochs, batch_size=args.batch_size,
                  base_lr=args.base_lr, a_max=args.a_max, image_size=args.image_size,
                  stage_sizes=stages, width=args.width,
                  steps_per_epoch=args.steps_per_epoch, seed=args.seed)
  if not args.fake_data and args.manual_dir is None:
    parser.error("give --manual-dir (the ILSVRC2012 tars) or --fake-data")
  try:
    config.validate(jax.device_count())
  except ValueError as e:
    parser.error(str(e))
  if args.fake_data:
    train_data = fake_batches(config, train=True, num_batches=config.total_steps())
    eval_fn = lambda: fake_batches(config, train=False, num_batches=args.eval_batches)
  else:
    train_data = tfds_batches(config, train=True, manual_dir=args.manual_dir,
                              data_dir=args.data_dir)
    eval_fn = lambda: tfds_batches(config, train=False, manual_dir=args.manual_dir,
                                   data_dir=args.data_dir)
  checkpoint = None if args.checkpoint_dir is None else checkpointing.Options(
      args.checkpoint_dir, resume=args.resume,
      identity=json.loads(json.dumps(dataclasses.asdict(config))))
  record = train(config, train_data=train_data, eval_data_fn=eval_fn, checkpoint=checkpoint)
  print(json.dumps(record), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())

"""MNIST (LeCun et al.): 60,000 train and 10,000 test 28x28 grey images.

Sources, in order:

* a local data root (``--data-dir`` or ``$OPTAX_SWD_DATA_DIR``) whose ``mnist/`` folder
  (or the root itself) holds ``train.npz`` and ``test.npz``, each with ``x`` (uint8
  ``[N, 28, 28]``) and ``y`` (uint8 ``[N]``);
* otherwise ``tensorflow_datasets.load("mnist")`` (imported only then; install
  ``tensorflow-datasets`` for it), which downloads into its own cache.

The last :data:`NUM_VAL` (5,000) training images are held out for validation. Pixels are
scaled to [0, 1] and standardised with the usual mean 0.1307 and std 0.3081.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks.data import datasets
from benchmarks.data import locate

MEAN = 0.1307
STD = 0.3081
NUM_VAL = 5000


def _read_npz(path) -> tuple[np.ndarray, np.ndarray]:
  with np.load(path) as f:
    return f["x"], f["y"]


def _from_tfds() -> dict[str, tuple[np.ndarray, np.ndarray]]:
  try:
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise locate.DataUnavailableError(
        "MNIST needs either --data-dir DIR (or OPTAX_SWD_DATA_DIR) with mnist/train.npz "
        "and mnist/test.npz, or the tensorflow-datasets package (pip install "
        "tensorflow-datasets)") from None
  try:
    splits = tfds.as_numpy(tfds.load("mnist", split=["train", "test"], batch_size=-1))
  except Exception as e:  # pylint: disable=broad-except
    raise locate.DataUnavailableError(
        f"tensorflow_datasets could not load mnist ({type(e).__name__}: {e}); pass "
        "--data-dir DIR holding mnist/train.npz and mnist/test.npz") from None
  return {name: (s["image"][..., 0], s["label"]) for name, s in zip(("train", "test"), splits)}


def _normalize(x: np.ndarray) -> np.ndarray:
  return ((x.astype(np.float32) / 255.0 - MEAN) / STD)[..., None]


def load(data_dir: str | os.PathLike | None = None) -> datasets.ImageData:
  """MNIST with a 55,000 / 5,000 / 10,000 train / val / test split."""
  root = locate.local_root(data_dir)
  if root is not None:
    folder = locate.source_dir(root, "mnist")
    paths = {s: folder / f"{s}.npz" for s in ("train", "test")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
      raise locate.DataUnavailableError(
          f"MNIST file(s) {', '.join(missing)} not found; point --data-dir (or "
          "OPTAX_SWD_DATA_DIR) at a folder holding mnist/train.npz and mnist/test.npz")
    arrays = {s: _read_npz(p) for s, p in paths.items()}
  else:
    arrays = _from_tfds()
  (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
  if len(y_train) <= NUM_VAL:
    raise ValueError(f"MNIST train split has {len(y_train)} images, need > {NUM_VAL}")
  labels = lambda y: np.asarray(y, np.int32)
  return datasets.ImageData(
      name="mnist",
      x_train=_normalize(x_train[:-NUM_VAL]), y_train=labels(y_train[:-NUM_VAL]),
      x_val=_normalize(x_train[-NUM_VAL:]), y_val=labels(y_train[-NUM_VAL:]),
      x_test=_normalize(x_test), y_test=labels(y_test),
      num_classes=10,
  )

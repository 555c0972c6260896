"""CIFAR-10 (Krizhevsky 2009): 50,000 train and 10,000 test 32x32 colour images, 10 classes.

Sources, in order:

* a local data root (``--data-dir`` or ``$OPTAX_SWD_DATA_DIR``) holding the images in the
  image-folder layout, ``cifar10-jpeg/{train,test}/<class>/*.jpg`` (or the root itself
  laid out as ``{train,test}/<class>/``): decoded once with Pillow and cached as ``.npz``
  (see :mod:`benchmarks.data.image_folder`; classes = sorted folder names, which for
  CIFAR-10 is airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck:
  *not* the label order of the original binary release);
* otherwise ``tensorflow_datasets.load("cifar10")`` (imported only then; ``pip install
  tensorflow-datasets tensorflow``), read once into host arrays with ``tfds.as_numpy``;
  its ``data_dir`` is the local data root when one was given without image folders, else
  ``$TFDS_DATA_DIR`` (tfds' own default otherwise, ``~/tensorflow_datasets``, where it
  downloads the data the first time).

:data:`NUM_VAL` (5,000) training images, 500 per class picked with a fixed seed, are held
out as the validation split. The images stay ``uint8``; normalisation (the usual
per-channel mean/std) and, for training batches, the standard augmentation (random crop
of the image zero-padded by 4 pixels, random horizontal flip) run on device inside the
jitted steps (:class:`~benchmarks.data.augment.ImageTransform`).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from benchmarks.data import augment
from benchmarks.data import datasets
from benchmarks.data import image_folder
from benchmarks.data import locate

FOLDER = "cifar10-jpeg"
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
NUM_VAL = 5000
VAL_SEED = 0
NUM_CLASSES = 10
# Data sources: the full training split, or a fixed stratified subset of it (CPU budgets).
SOURCES = {"cifar10": None, "cifar10-10k": 10_000}


def stratified_split(labels: np.ndarray, num_val: int,
                     seed: int = VAL_SEED) -> tuple[np.ndarray, np.ndarray]:
  """``(train_index, val_index)``: ``num_val`` examples held out in class proportions.

  Each class gives ``num_val * n_c / n`` examples (rounded down, the remainder going to
  the classes with the largest fractional parts, lowest label first), chosen uniformly
  with ``seed``. Both index arrays are sorted.

  Raises:
    ValueError: ``num_val`` not in ``[0, len(labels))``.
  """
  labels = np.asarray(labels)
  n = len(labels)
  if not isinstance(num_val, (int, np.integer)) or not 0 <= num_val < n:
    raise ValueError(f"num_val must be an integer in [0, {n}), got {num_val!r}")
  classes, counts = np.unique(labels, return_counts=True)
  exact = num_val * counts / n
  quota = np.floor(exact).astype(int)
  order = np.lexsort((classes, -(exact - quota)))  # largest remainder, then lowest label
  quota[order[:num_val - quota.sum()]] += 1
  rng = np.random.default_rng(seed)
  val = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:q]
                        for c, q in zip(classes, quota)])
  val = np.sort(val)
  train = np.setdiff1d(np.arange(n), val)
  return train, val


def find_folder(root: pathlib.Path) -> pathlib.Path | None:
  """``root/cifar10-jpeg`` or ``root`` if it holds ``train/`` and ``test/``, else ``None``."""
  for folder in (root / FOLDER, root):
    if (folder / "train").is_dir() and (folder / "test").is_dir():
      return folder
  return None


def _from_tfds(data_dir: str | os.PathLike | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  try:
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise locate.DataUnavailableError(
        "CIFAR-10 needs either --data-dir DIR (or OPTAX_SWD_DATA_DIR) holding "
        f"{FOLDER}/{{train,test}}/<class>/*.jpg, or tensorflow-datasets (pip install "
        "tensorflow-datasets tensorflow)") from None
  if data_dir is None:
    data_dir = os.environ.get("TFDS_DATA_DIR") or None
  try:
    splits = tfds.as_numpy(tfds.load("cifar10", split=["train", "test"], batch_size=-1,
                                     data_dir=None if data_dir is None else os.fspath(data_dir)))
  except Exception as e:  # pylint: disable=broad-except
    raise locate.DataUnavailableError(
        f"tensorflow_datasets could not load cifar10 ({type(e).__name__}: {e}); pass "
        f"--data-dir DIR holding {FOLDER}/{{train,test}}/<class>/*.jpg") from None
  return {name: (np.asarray(s["image"], np.uint8), np.asarray(s["label"], np.int32))
          for name, s in zip(("train", "test"), splits)}


def from_arrays(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                y_test: np.ndarray, *, num_val: int = NUM_VAL, num_train: int | None = None,
                augmentation: bool = True, name: str = "cifar10") -> datasets.ImageData:
  """The :class:`~benchmarks.data.datasets.ImageData` of ``uint8`` train/test arrays.

  Holds out ``num_val`` training images (:func:`stratified_split`) and attaches the
  on-device :class:`~benchmarks.data.augment.ImageTransform` (CIFAR-10 mean/std; crop
  and flip only if ``augmentation``). With ``num_train``, only that many of the remaining
  training images are kept (a stratified subset, fixed seed); validation and test are
  unchanged.

  Raises:
    ValueError: arrays that are not ``uint8 [n, H, W, 3]`` with ``n`` labels.
  """
  for what, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3 or len(x) != len(y):
      raise ValueError(f"{what} images must be uint8 [n, H, W, 3] with n labels, got "
                       f"{x.dtype} {x.shape} and {len(y)} labels")
  train, val = stratified_split(y_train, num_val)
  if num_train is not None:
    if not isinstance(num_train, int) or not 0 < num_train <= len(train):
      raise ValueError(f"num_train must be an integer in [1, {len(train)}], got "
                       f"{num_train!r}")
    if num_train < len(train):
      keep, _ = stratified_split(y_train[train], len(train) - num_train, seed=VAL_SEED + 1)
      train = train[keep]
  y_train = np.asarray(y_train, np.int32)
  transform = augment.ImageTransform(MEAN, STD, padding=4 if augmentation else 0,
                                     flip=augmentation)
  return datasets.ImageData(
      name=name,
      x_train=x_train[train], y_train=y_train[train],
      x_val=x_train[val], y_val=y_train[val],
      x_test=x_test, y_test=np.asarray(y_test, np.int32),
      num_classes=NUM_CLASSES, transform=transform)


def load(data_dir: str | os.PathLike | None = None, *,
         cache_dir: str | os.PathLike | None = None, num_val: int = NUM_VAL,
         num_train: int | None = None, augmentation: bool = True) -> datasets.ImageData:
  """CIFAR-10 with a 45,000 / 5,000 / 10,000 train / val / test split (see module doc).

  Args:
    data_dir: the local data root (default ``$OPTAX_SWD_DATA_DIR``; neither: tfds).
    cache_dir: the decoded-array cache of the image-folder source.
    num_val: training images held out for validation.
    num_train: keep only this many training images (stratified, fixed seed); ``None``:
      all the others (45,000).
    augmentation: random crop and flip of the training batches.

  Raises:
    DataUnavailableError: no image folders and tfds could not provide the data.
  """
  root = locate.local_root(data_dir)
  folder = None if root is None else find_folder(root)
  if folder is not None:
    classes = image_folder.class_names(folder, "train")
    if len(classes) != NUM_CLASSES:
      raise locate.DataUnavailableError(
          f"{folder / 'train'} has {len(classes)} class folders, CIFAR-10 needs "
          f"{NUM_CLASSES}")
    arrays = {s: image_folder.load_split(folder, s, classes=classes, cache_dir=cache_dir)
              for s in ("train", "test")}
  else:
    arrays = _from_tfds(root)
  (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
  return from_arrays(x_train, y_train, x_test, y_test, num_val=num_val,
                     num_train=num_train, augmentation=augmentation)

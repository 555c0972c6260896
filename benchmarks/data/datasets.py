"""The two kinds of data set the training loop knows: a graph and a set of images.

Both expose the same small batching interface, which is all :mod:`benchmarks.train`
uses:

* ``num_classes``;
* ``steps_per_epoch(batch_size)``;
* ``train_batches(rng, batch_size)``: the batches of one training epoch;
* ``eval_batches(split, batch_size)``: the batches covering ``"train"``, ``"val"`` or
  ``"test"`` once.

A batch is a dict with ``inputs`` (a tuple of the model's positional inputs),
``labels`` (int32 ``[B]``) and ``weights`` (float32 ``[B]``: 1 for examples that count,
0 for padding or for nodes outside the split). Losses and accuracies are weighted means,
so padded batches keep a fixed shape (one compilation) without biasing the metrics.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterator, Optional, Protocol

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.experimental import sparse

SPLITS = ("train", "val", "test")

Batch = dict


class Dataset(Protocol):
  """What the training loop needs from a data set."""

  name: str
  num_classes: int

  def steps_per_epoch(self, batch_size: int | None) -> int:
    ...

  def train_batches(self, rng: np.random.Generator, batch_size: int | None) -> Iterator[Batch]:
    ...

  def eval_batches(self, split: str, batch_size: int | None) -> Iterator[Batch]:
    ...

  def example_inputs(self) -> tuple:
    ...


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


@dataclasses.dataclass(frozen=True, eq=False)
class GraphData:
  """A node-classification graph, trained full-batch (one step per epoch).

  Attributes:
    name: the data set's name.
    features: float32 ``[N, F]`` ``scipy.sparse`` CSR matrix, row-normalised features.
    adjacency: float32 ``[N, N]`` ``scipy.sparse`` CSR matrix, the normalised adjacency
      ``D^-1/2 (A + I) D^-1/2``.
    labels: int32 ``[N]``.
    train_index, val_index, test_index: int ``[n_split]`` node indices of each split.
    num_classes: the number of classes.
  """
  name: str
  features: sp.csr_matrix
  adjacency: sp.csr_matrix
  labels: np.ndarray
  train_index: np.ndarray
  val_index: np.ndarray
  test_index: np.ndarray
  num_classes: int

  @property
  def num_nodes(self) -> int:
    return int(self.features.shape[0])

  def split_index(self, split: str) -> np.ndarray:
    _check_split(split)
    return {"train": self.train_index, "val": self.val_index, "test": self.test_index}[split]

  @functools.cached_property
  def _device_arrays(self) -> tuple:
    # Put on the device once (as BCOO sparse matrices); every step reuses the buffers.
    return (sparse.BCOO.from_scipy_sparse(self.features),
            sparse.BCOO.from_scipy_sparse(self.adjacency),
            jnp.asarray(self.labels, jnp.int32))

  def _full_batch(self, split: str) -> Batch:
    features, adjacency, labels = self._device_arrays
    weights = np.zeros(self.num_nodes, np.float32)
    weights[self.split_index(split)] = 1.0
    return {"inputs": (features, adjacency), "labels": labels,
            "weights": jnp.asarray(weights)}

  def steps_per_epoch(self, batch_size: int | None) -> int:
    del batch_size  # always full batch
    return 1

  def train_batches(self, rng: np.random.Generator, batch_size: int | None) -> Iterator[Batch]:
    del rng, batch_size
    yield self._full_batch("train")

  def eval_batches(self, split: str, batch_size: int | None) -> Iterator[Batch]:
    del batch_size
    yield self._full_batch(split)

  def example_inputs(self) -> tuple:
    return self._full_batch("train")["inputs"]


@dataclasses.dataclass(frozen=True, eq=False)
class ImageData:
  """An image classification set with fixed train/val/test splits, in memory.

  Attributes:
    name: the data set's name.
    x_train, x_val, x_test: ``[n, H, W, C]``: float32 already normalised, or raw (e.g.
      ``uint8``) when ``transform`` prepares them.
    y_train, y_val, y_test: int32 ``[n]``.
    num_classes: the number of classes.
    transform: ``None``, or a pure JAX function ``(rng, inputs, train) -> inputs`` that
      the training loop applies to every batch's ``inputs`` *inside* its jitted steps
      (normalisation; augmentation when ``train``, drawn from ``rng``), e.g.
      :class:`~benchmarks.data.augment.ImageTransform`.
  """
  name: str
  x_train: np.ndarray
  y_train: np.ndarray
  x_val: np.ndarray
  y_val: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int
  transform: Optional[Callable] = None

  def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
    _check_split(split)
    return {"train": (self.x_train, self.y_train), "val": (self.x_val, self.y_val),
            "test": (self.x_test, self.y_test)}[split]

  def steps_per_epoch(self, batch_size: int | None) -> int:
    """Full batches per epoch (the last partial batch is dropped when training)."""
    n = len(self.y_train)
    if batch_size is None or batch_size >= n:
      return 1
    return n // batch_size

  def train_batches(self, rng: np.random.Generator, batch_size: int | None) -> Iterator[Batch]:
    """One epoch of shuffled batches of exactly ``batch_size`` examples."""
    n = len(self.y_train)
    size = n if batch_size is None else min(batch_size, n)
    order = rng.permutation(n)
    ones = np.ones(size, np.float32)
    for b in range(self.steps_per_epoch(batch_size)):
      index = order[b * size:(b + 1) * size]
      yield {"inputs": (self.x_train[index],), "labels": self.y_train[index],
             "weights": ones}

  def eval_batches(self, split: str, batch_size: int | None) -> Iterator[Batch]:
    """The whole split in order, in batches of ``batch_size``; the last one zero-padded."""
    x, y = self.split(split)
    n = len(y)
    size = n if batch_size is None else min(batch_size, n)
    for start in range(0, n, size):
      xb, yb = x[start:start + size], y[start:start + size]
      weights = np.ones(size, np.float32)
      if len(yb) < size:
        pad = size - len(yb)
        weights[len(yb):] = 0.0
        xb = np.concatenate([xb, np.zeros((pad,) + xb.shape[1:], xb.dtype)])
        yb = np.concatenate([yb, np.zeros(pad, yb.dtype)])
      yield {"inputs": (xb,), "labels": yb, "weights": weights}

  def example_inputs(self) -> tuple:
    return (self.x_train[:1],)

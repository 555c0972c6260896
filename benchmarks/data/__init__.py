"""Data loaders, one module per source, and :func:`load` to get one by name.

Sources:

* :mod:`~benchmarks.data.planetoid`: ``cora`` and ``citeseer`` (graphs, full batch);
* :mod:`~benchmarks.data.digits`: ``digits``, scikit-learn's bundled 8x8 digits (offline);
* :mod:`~benchmarks.data.mnist`: ``mnist``;
* :mod:`~benchmarks.data.cifar10`: ``cifar10``, from image folders
  (``cifar10-jpeg/{train,test}/<class>/``, read by :mod:`~benchmarks.data.image_folder`)
  or tensorflow-datasets; augmented on device by :mod:`~benchmarks.data.augment`;
  ``cifar10-10k`` keeps a fixed stratified 10,000 of its 45,000 training images.

Local files are found through :mod:`~benchmarks.data.locate` (``--data-dir`` >
``$OPTAX_SWD_DATA_DIR`` > download cache).
"""

from __future__ import annotations

import os

from benchmarks.data import cifar10
from benchmarks.data import digits
from benchmarks.data import mnist
from benchmarks.data import planetoid
from benchmarks.data.datasets import Dataset, GraphData, ImageData
from benchmarks.data.locate import DataUnavailableError

SOURCES = ("digits", "cora", "citeseer", "mnist") + tuple(cifar10.SOURCES)


def load(source: str, data_dir: str | os.PathLike | None = None) -> Dataset:
  """Loads a data set by source name (one of :data:`SOURCES`).

  Raises:
    ValueError: unknown source.
    DataUnavailableError: the files are not available (message says how to fix it).
  """
  if source == "digits":
    return digits.load()
  if source in planetoid.NAMES:
    return planetoid.load(source, data_dir)
  if source == "mnist":
    return mnist.load(data_dir)
  if source in cifar10.SOURCES:
    return cifar10.load(data_dir, num_train=cifar10.SOURCES[source])
  raise ValueError(f"unknown data source {source!r}; choose from {SOURCES}")


__all__ = ("DataUnavailableError", "Dataset", "GraphData", "ImageData", "SOURCES", "load")

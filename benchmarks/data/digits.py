"""scikit-learn's bundled handwritten digits: 1,797 8x8 images, no download needed.

A fixed split (the same for every run, independent of the training seed): after a
permutation seeded with :data:`SPLIT_SEED`, 1,197 train, 300 validation and 300 test
images. Pixels (0..16) are scaled to [0, 1]; images are ``[n, 8, 8, 1]``.
"""

from __future__ import annotations

import numpy as np

from benchmarks.data import datasets

SPLIT_SEED = 0
NUM_VAL = 300
NUM_TEST = 300


def load() -> datasets.ImageData:
  """The digits data set with its fixed train/val/test split."""
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel

  bunch = load_digits()
  images = (bunch.images / 16.0).astype(np.float32)[..., None]
  labels = bunch.target.astype(np.int32)
  order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
  test, val, train = np.split(order, [NUM_TEST, NUM_TEST + NUM_VAL])
  return datasets.ImageData(
      name="digits",
      x_train=images[train], y_train=labels[train],
      x_val=images[val], y_val=labels[val],
      x_test=images[test], y_test=labels[test],
      num_classes=10,
  )

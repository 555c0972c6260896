"""CIFAR-10 path of the harness: image folders, cache, tfds (mocked), augmentation, runs.

The tensorflow-datasets path is exercised with a *mock* ``tensorflow_datasets`` module
(injected into ``sys.modules``): a real tfds dataset cannot be built offline here, since
``tfds.load(..., batch_size=-1)`` needs TensorFlow, which is not installed (and cannot be
downloaded data). The mock checks what the loader asks tfds for and how it converts the
answer.
"""

import dataclasses
import os
import pathlib
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import configs
from benchmarks import data as data_lib
from benchmarks import methods
from benchmarks import models
from benchmarks import train as train_lib
from benchmarks.data import augment
from benchmarks.data import cifar10
from benchmarks.data import image_folder
from benchmarks.data import locate

PIL = pytest.importorskip("PIL.Image")

REPO = pathlib.Path(__file__).resolve().parents[1]
# Read at import: the autouse fixture below hides the variable from the loaders.
SHARED_DATA = pathlib.Path(os.environ.get(locate.ENV_VAR) or REPO.parent / "shared" / "data")
CLASS_COLOURS = {"cat": (200, 30, 30), "ant": (30, 200, 30), "bee": (30, 30, 200)}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
  """No test sees the user's data root, image cache or tfds folder."""
  monkeypatch.delenv(locate.ENV_VAR, raising=False)
  monkeypatch.delenv(image_folder.CACHE_ENV_VAR, raising=False)
  monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
  monkeypatch.setattr(locate, "CACHE_ROOT", tmp_path / "default-cache")


def write_folder(root: pathlib.Path, per_split: dict, colours=CLASS_COLOURS, size=(32, 32),
                 seed=0) -> None:
  """JPEGs of one solid colour per class (plus a little noise) in the folder layout."""
  rng = np.random.default_rng(seed)
  for split, count in per_split.items():
    for name, colour in colours.items():
      folder = root / split / name
      folder.mkdir(parents=True, exist_ok=True)
      for i in range(count):
        pixels = np.clip(np.array(colour) + rng.integers(-8, 9, size + (3,)), 0, 255)
        PIL.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:04d}.jpg", quality=95)


def test_folder_loader_counts_shapes_labels(tmp_path):
  write_folder(tmp_path / "imgs", {"train": 4, "test": 2})
  x, y = image_folder.load_split(tmp_path / "imgs", "train", cache_dir=tmp_path / "c")
  assert x.shape == (12, 32, 32, 3) and x.dtype == np.uint8
  assert y.dtype == np.int32
  # Sorted folder names: ant=0, bee=1, cat=2; files of a class are contiguous.
  np.testing.assert_array_equal(y, np.repeat([0, 1, 2], 4))
  for label, name in enumerate(sorted(CLASS_COLOURS)):
    mean = x[y == label].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(mean, CLASS_COLOURS[name], atol=6)  # JPEG is lossy
  x_test, y_test = image_folder.load_split(tmp_path / "imgs", "test", cache_dir=tmp_path / "c")
  assert x_test.shape == (6, 32, 32, 3)
  np.testing.assert_array_equal(y_test, np.repeat([0, 1, 2], 2))
  assert image_folder.class_names(tmp_path / "imgs") == ("ant", "bee", "cat")


def test_folder_loader_caches_outside_the_data_and_notices_changes(tmp_path, monkeypatch):
  root, cache = tmp_path / "imgs", tmp_path / "cache"
  write_folder(root, {"train": 3, "test": 1})
  x, y = image_folder.load_split(root, "train", cache_dir=cache)
  cached = list(cache.glob("*.npz"))
  assert len(cached) == 1
  assert not list(root.rglob("*.npz"))

  def no_decode(*args, **kwargs):
    raise AssertionError("decoded again instead of reading the cache")

  monkeypatch.setattr(image_folder, "decode", no_decode)
  x2, y2 = image_folder.load_split(root, "train", cache_dir=cache)
  np.testing.assert_array_equal(x, x2)
  np.testing.assert_array_equal(y, y2)
  monkeypatch.undo()
  # A new image makes a new cache entry with one more image.
  PIL.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "train" / "ant" / "9999.jpg")
  x3, y3 = image_folder.load_split(root, "train", cache_dir=cache)
  assert len(x3) == len(x) + 1 and int(np.sum(y3 == 0)) == 4
  assert len(list(cache.glob("*.npz"))) == 2
  # use_cache=False decodes and writes nothing.
  x4, _ = image_folder.load_split(root, "train", cache_dir=tmp_path / "c2", use_cache=False)
  np.testing.assert_array_equal(x3, x4)
  assert not (tmp_path / "c2").exists()


def test_folder_loader_default_cache_dir_and_env(tmp_path, monkeypatch):
  write_folder(tmp_path / "imgs", {"train": 1, "test": 1})
  image_folder.load_split(tmp_path / "imgs", "test")
  assert len(list((tmp_path / "default-cache" / "image_folder").glob("*.npz"))) == 1
  monkeypatch.setenv(image_folder.CACHE_ENV_VAR, str(tmp_path / "env-cache"))
  image_folder.load_split(tmp_path / "imgs", "test")
  assert len(list((tmp_path / "env-cache" / "image_folder").glob("*.npz"))) == 1


def test_folder_loader_errors(tmp_path):
  write_folder(tmp_path / "imgs", {"train": 1})
  with pytest.raises(locate.DataUnavailableError, match="does not exist"):
    image_folder.load_split(tmp_path / "imgs", "test", use_cache=False)
  write_folder(tmp_path / "imgs", {"test": 1}, colours={"ant": (0, 0, 0), "dog": (1, 1, 1)})
  with pytest.raises(locate.DataUnavailableError, match="class folders"):
    image_folder.load_split(tmp_path / "imgs", "test", use_cache=False)
  # Images of different sizes need image_size.
  write_folder(tmp_path / "mixed", {"train": 1}, colours={"a": (9, 9, 9)})
  write_folder(tmp_path / "mixed", {"train": 1}, colours={"b": (9, 9, 9)}, size=(16, 20))
  with pytest.raises(ValueError, match="image_size"):
    image_folder.load_split(tmp_path / "mixed", "train", use_cache=False)
  x, _ = image_folder.load_split(tmp_path / "mixed", "train", use_cache=False,
                                 image_size=(8, 8))
  assert x.shape == (2, 8, 8, 3)


def test_stratified_split():
  labels = np.repeat(np.arange(4), [10, 20, 30, 40])
  train, val = cifar10.stratified_split(labels, 10, seed=3)
  assert len(val) == 10 and len(train) == 90
  assert not set(train) & set(val)
  np.testing.assert_array_equal(np.bincount(labels[val], minlength=4), [1, 2, 3, 4])
  again, val_again = cifar10.stratified_split(labels, 10, seed=3)
  np.testing.assert_array_equal(val, val_again)
  _, other = cifar10.stratified_split(labels, 10, seed=4)
  assert not np.array_equal(val, other)
  for bad in (-1, 100, 2.5):
    with pytest.raises(ValueError, match="num_val"):
      cifar10.stratified_split(labels, bad)


def _cifar_like_folder(root: pathlib.Path, per_class: int = 3) -> dict:
  colours = {f"class{c}": (25 * c, 255 - 25 * c, 128) for c in range(10)}
  write_folder(root, {"train": per_class, "test": 1}, colours=colours)
  return colours


def test_cifar10_is_a_registered_source(monkeypatch):
  calls = []
  monkeypatch.setattr(cifar10, "load",
                      lambda data_dir, num_train: calls.append(data_dir) or "d")
  assert "cifar10" in data_lib.SOURCES
  assert data_lib.load("cifar10", "/some/dir") == "d" and calls == ["/some/dir"]


def test_cifar10_load_from_folder_layout(tmp_path):
  _cifar_like_folder(tmp_path / "data" / "cifar10-jpeg")
  d = cifar10.load(tmp_path / "data", num_val=10, cache_dir=tmp_path / "c")
  assert isinstance(d.transform, augment.ImageTransform)
  assert d.num_classes == 10 and d.x_train.dtype == np.uint8
  assert d.x_train.shape == (20, 32, 32, 3) and d.x_val.shape == (10, 32, 32, 3)
  assert d.x_test.shape == (10, 32, 32, 3)
  np.testing.assert_array_equal(np.bincount(d.y_val), np.ones(10))
  np.testing.assert_array_equal(d.y_test, np.arange(10))
  # The root itself may be the image folder; and 9 classes are not CIFAR-10.
  assert len(cifar10.load(tmp_path / "data" / "cifar10-jpeg", num_val=10).y_train) == 20
  write_folder(tmp_path / "nine", {"train": 1, "test": 1},
               colours={f"c{i}": (0, 0, 0) for i in range(9)})
  with pytest.raises(locate.DataUnavailableError, match="10"):
    cifar10.load(tmp_path / "nine")


class _FakeTfds(types.ModuleType):
  """Records ``tfds.load`` calls and returns tiny numpy splits (as ``as_numpy`` would)."""

  def __init__(self):
    super().__init__("tensorflow_datasets")
    self.calls = []

  def load(self, name, *, split, batch_size, data_dir=None):
    self.calls.append({"name": name, "split": split, "batch_size": batch_size,
                       "data_dir": data_dir})
    rng = np.random.default_rng(0)
    return [{"image": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
             "label": np.arange(n) % 10} for n in (60, 20)]

  def as_numpy(self, tree):
    return tree


def test_tfds_path_with_mock_module(tmp_path, monkeypatch):
  fake = _FakeTfds()
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
  d = cifar10.load(num_val=10)
  assert fake.calls[-1] == {"name": "cifar10", "split": ["train", "test"],
                            "batch_size": -1, "data_dir": None}
  assert d.x_train.shape == (50, 32, 32, 3) and d.x_val.shape == (10, 32, 32, 3)
  assert d.x_test.shape == (20, 32, 32, 3) and d.y_test.dtype == np.int32
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  cifar10.load(num_val=10)
  assert fake.calls[-1]["data_dir"] == str(tmp_path)
  # A data root without image folders is handed to tfds as its data_dir.
  (tmp_path / "root").mkdir()
  cifar10.load(tmp_path / "root", num_val=10)
  assert fake.calls[-1]["data_dir"] == str(tmp_path / "root")

  def failing_load(*args, **kwargs):
    raise OSError("no network")

  monkeypatch.setattr(fake, "load", failing_load)
  with pytest.raises(locate.DataUnavailableError, match="could not load cifar10"):
    cifar10.load(num_val=10)
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
  with pytest.raises(locate.DataUnavailableError, match="tensorflow-datasets"):
    cifar10.load(num_val=10)


def test_training_subset_is_stratified_and_keeps_val_and_test():
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (200, 4, 4, 3), dtype=np.uint8)
  y = np.arange(200) % 10
  full = cifar10.from_arrays(x, y, x[:20], y[:20], num_val=20)
  sub = cifar10.from_arrays(x, y, x[:20], y[:20], num_val=20, num_train=50)
  assert len(full.y_train) == 180 and len(sub.y_train) == 50
  np.testing.assert_array_equal(np.bincount(sub.y_train), [5] * 10)
  np.testing.assert_array_equal(sub.x_val, full.x_val)
  train_rows = {bytes(r) for r in full.x_train}
  assert all(bytes(r) in train_rows for r in sub.x_train)
  for bad in (0, 181, 2.5):
    with pytest.raises(ValueError, match="num_train"):
      cifar10.from_arrays(x, y, x[:20], y[:20], num_val=20, num_train=bad)


def test_cifar10_10k_source_and_benchmark(monkeypatch):
  calls = []
  monkeypatch.setattr(cifar10, "load", lambda d, num_train: calls.append(num_train) or "d")
  assert data_lib.load("cifar10-10k", "/x") == "d" and calls == [10_000]
  c = configs.run_config("cifar10-resnet20-10k", "swd", 0.999)
  assert (c.data, c.model, c.epochs) == ("cifar10-10k", "resnet20", 1)


def test_from_arrays_rejects_bad_arrays():
  x = np.zeros((20, 32, 32, 3), np.uint8)
  y = np.arange(20) % 10
  with pytest.raises(ValueError, match="uint8"):
    cifar10.from_arrays(x.astype(np.float32), y, x, y, num_val=10)
  with pytest.raises(ValueError, match="labels"):
    cifar10.from_arrays(x, y[:5], x, y, num_val=10)


def test_augmentation_shapes_content_and_determinism():
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(1, 256, (16, 32, 32, 3), dtype=np.uint8))
  key = jax.random.PRNGKey(7)
  cropped = np.asarray(augment.random_crop(key, images, 4))
  assert cropped.shape == images.shape and cropped.dtype == np.uint8
  padded = np.pad(np.asarray(images), ((0, 0), (4, 4), (4, 4), (0, 0)))
  offsets = set()
  for i in range(16):  # every output is one 32x32 window of the zero-padded image
    matches = [(dy, dx) for dy in range(9) for dx in range(9)
               if np.array_equal(cropped[i], padded[i, dy:dy + 32, dx:dx + 32])]
    assert matches, f"image {i} is not a window of its padded image"
    offsets.add(matches[0])
  assert len(offsets) > 1
  np.testing.assert_array_equal(cropped, augment.random_crop(key, images, 4))
  assert not np.array_equal(cropped, augment.random_crop(jax.random.PRNGKey(8), images, 4))

  flipped = np.asarray(augment.random_flip(key, images))
  mirrored = [np.array_equal(f, np.asarray(im)[:, ::-1]) for f, im in zip(flipped, images)]
  same = [np.array_equal(f, np.asarray(im)) for f, im in zip(flipped, images)]
  assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)

  transform = augment.ImageTransform(cifar10.MEAN, cifar10.STD)
  (train_out,) = transform(key, (images,), True)
  (again,) = transform(key, (images,), True)
  (eval_out,) = transform(None, (images,), False)
  assert train_out.shape == (16, 32, 32, 3) and train_out.dtype == jnp.float32
  np.testing.assert_array_equal(train_out, again)
  expected = (np.asarray(images, np.float32) / 255 - np.array(cifar10.MEAN)) / np.array(
      cifar10.STD)
  np.testing.assert_allclose(eval_out, expected, rtol=1e-5, atol=1e-5)
  assert not np.allclose(train_out, eval_out)
  jitted = jax.jit(lambda k, x: transform(k, (x,), True)[0])
  np.testing.assert_allclose(jitted(key, images), train_out, rtol=1e-5, atol=1e-6)


def test_augmentation_argument_errors():
  images = jnp.zeros((2, 8, 8, 3), jnp.uint8)
  with pytest.raises(ValueError, match="padding"):
    augment.random_crop(jax.random.PRNGKey(0), images, -1)
  with pytest.raises(ValueError, match="B, H, W, C"):
    augment.random_crop(jax.random.PRNGKey(0), images[0], 2)
  with pytest.raises(ValueError, match="std"):
    augment.ImageTransform((0.5,), (0.0,))
  with pytest.raises(ValueError, match="one value per channel"):
    augment.ImageTransform((0.5, 0.5), (0.2,))
  with pytest.raises(ValueError, match="PRNG key"):
    augment.ImageTransform((0.5,) * 3, (0.2,) * 3)(None, (images,), True)
  no_aug = augment.ImageTransform((0.5,) * 3, (0.2,) * 3, padding=0, flip=False)
  assert not no_aug.augments
  assert no_aug(None, (images,), True)[0].shape == images.shape


def _tiny_cifar(n_train: int = 240, n_test: int = 60, size: int = 8, seed: int = 0):
  """Random small uint8 images whose label shows in the mean colour (learnable)."""
  rng = np.random.default_rng(seed)

  def make(n):
    y = np.arange(n) % 10
    x = rng.integers(0, 60, (n, size, size, 3)) + (y * 20)[:, None, None, None]
    return x.astype(np.uint8), y

  (x_train, y_train), (x_test, y_test) = make(n_train), make(n_test)
  return cifar10.from_arrays(x_train, y_train, x_test, y_test, num_val=40)


# Tiny stand-ins for the CIFAR models (same code, a fraction of the compile time).
TINY_CNN = models.SmallCNN(10, widths=(4, 8))
TINY_RESNET = models.ResNet20(10, width=4, blocks_per_stage=1)


def _run(data, model, method, sparsity=0.9, epochs=2, batch_size=40, seed=0):
  config = configs.run_config("cifar10-cnn", method, sparsity, epochs=epochs,
                              batch_size=batch_size)
  plan = methods.plan(config, data.steps_per_epoch(batch_size))
  return train_lib.train(model, data, plan, batch_size=batch_size, eval_batch_size=64,
                         seed=seed)


@pytest.mark.parametrize("method", methods.METHODS)
def test_tiny_training_run_per_method(method):
  result = _run(_tiny_cifar(), TINY_CNN, method)
  m = result.metrics
  assert m["steps"] == 2 * (200 // 40) and len(result.history) == 2
  assert 0.0 <= m["test_accuracy"] <= 1.0 and np.isfinite(m["test_loss"])
  if method == "dense":
    assert m["num_zeros"] < 0.01 * m["num_prunable"]
  else:
    assert m["num_zeros"] >= int(0.9 * m["num_prunable"])


def test_training_is_deterministic_by_seed_and_augments():
  data = _tiny_cifar(n_train=120, n_test=20)
  first = _run(data, TINY_CNN, "dense", epochs=1, seed=1)
  again = _run(data, TINY_CNN, "dense", epochs=1, seed=1)
  for a, b in zip(jax.tree.leaves(first.params), jax.tree.leaves(again.params)):
    np.testing.assert_array_equal(a, b)
  differs = lambda x, y: any(not np.array_equal(a, b) for a, b in
                             zip(jax.tree.leaves(x.params), jax.tree.leaves(y.params)))
  # Without augmentation (same seed, so the same shuffling) the trained weights differ.
  no_aug = dataclasses.replace(data, transform=augment.ImageTransform(
      cifar10.MEAN, cifar10.STD, padding=0, flip=False))
  assert differs(first, _run(no_aug, TINY_CNN, "dense", epochs=1, seed=1))


def test_resnet_trains_with_batchnorm_state():
  data = _tiny_cifar(n_train=72, n_test=16)
  _, stats = train_lib.init_variables(TINY_RESNET, data, jax.random.PRNGKey(0))
  result = _run(data, TINY_RESNET, "dense", epochs=1, batch_size=16)
  before = np.asarray(stats["bn"]["mean"])
  after = np.asarray(result.batch_stats["bn"]["mean"])
  assert not np.allclose(before, after)  # running statistics were updated by training
  assert np.isfinite(result.metrics["test_loss"])


def test_cifar_models_shapes():
  images = jnp.zeros((2, 32, 32, 3))
  for name, prunable in (("cnn", 432 + 4608 + 18432 + 10240),
                         ("resnet20", None), ("resnet20-w64", None)):
    shapes = jax.eval_shape(lambda n=name: models.create(n, 10).init(
        jax.random.PRNGKey(0), images, train=False))
    kernels = [l for l in jax.tree.leaves(shapes["params"]) if len(l.shape) >= 2]
    if prunable is not None:
      assert sum(int(np.prod(k.shape)) for k in kernels) == prunable
    out = jax.eval_shape(lambda v, n=name: models.create(n, 10).apply(
        v, images, train=False), shapes)
    assert out.shape == (2, 10)


def test_paper_config_is_the_papers_recipe():
  c = configs.run_config("cifar10-paper", "swd", 0.999)
  assert (c.model, c.epochs, c.batch_size, c.optimizer, c.lr, c.momentum) == (
      "resnet20-w64", 300, 128, "sgd", 0.1, 0.9)
  assert (c.weight_decay, c.a_min, c.a_max, c.schedule) == (5e-4, 0.1, 1e5, "thirds")
  schedule = methods.learning_rate(c, 300)
  np.testing.assert_allclose([schedule(i) for i in (0, 99, 100, 199, 200, 299)],
                             [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
  model = models.create(c.model, 10)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                             jnp.zeros((1, 32, 32, 3)), train=False))
  assert shapes["params"]["conv"]["kernel"].shape == (3, 3, 3, 64)
  assert configs.resolve_benchmark("cifar10")[0] == "cifar10-resnet20"
  assert configs.resolve_benchmark("cifar10", "cnn")[0] == "cifar10-cnn"


def _shared_cifar() -> pathlib.Path | None:
  for root in (SHARED_DATA, REPO.parent / "shared" / "data"):
    if (root / "cifar10-jpeg" / "test").is_dir():
      return root / "cifar10-jpeg"
  return None


def test_shared_copy_counts_and_test_split(tmp_path):
  folder = _shared_cifar()
  if folder is None:
    pytest.skip("no cifar10-jpeg folder in ../shared/data")
  classes = image_folder.class_names(folder)
  assert classes == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                     "horse", "ship", "truck")
  for split, per_class in (("train", 5000), ("test", 1000)):
    files = image_folder.list_files(folder, split, classes)
    assert len(files) == 10 * per_class
    np.testing.assert_array_equal(np.bincount([label for _, label in files]),
                                  [per_class] * 10)
  x, y = image_folder.load_split(folder, "test", cache_dir=tmp_path)
  assert x.shape == (10000, 32, 32, 3) and x.dtype == np.uint8
  np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
  # Close to CIFAR-10's usual mean pixel (the JPEG copy differs slightly).
  np.testing.assert_allclose(x.reshape(-1, 3).mean(axis=0) / 255, cifar10.MEAN, atol=0.01)

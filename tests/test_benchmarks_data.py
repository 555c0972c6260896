"""Tests of the benchmark data loaders: Planetoid (tiny generated + real), digits, MNIST."""

import io
import pathlib
import pickle
import sys
import types
import urllib.error

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks import data
from benchmarks.data import digits
from benchmarks.data import locate
from benchmarks.data import mnist
from benchmarks.data import planetoid

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch, tmp_path):
  """No test sees the user's data root or download cache."""
  monkeypatch.delenv(locate.ENV_VAR, raising=False)
  monkeypatch.setattr(locate, "CACHE_ROOT", tmp_path / "cache")


def _dump(path, obj):
  with open(path, "wb") as f:
    pickle.dump(obj, f)


def write_tiny_planetoid(folder: pathlib.Path, name: str = "cora") -> dict:
  """A CiteSeer-like 8-node graph in the Planetoid format; returns what was written.

  Nodes 0-1 train (x, y), 0-3 allx/ally, test nodes 4..7 listed out of order as
  [7, 4, 6]; node 5 is an isolated test node missing from tx (padded with zeros).
  """
  folder.mkdir(parents=True, exist_ok=True)
  num_features, num_classes = 5, 3
  allx = np.array([[1, 0, 1, 0, 0], [0, 2, 0, 0, 2], [0, 0, 0, 3, 0], [1, 1, 1, 1, 0]],
                  float)
  ally = np.eye(num_classes)[[0, 1, 2, 1]]
  test_index = [7, 4, 6]
  tx = np.array([[0, 0, 0, 0, 4], [2, 0, 0, 0, 2], [0, 1, 0, 0, 0]], float)  # nodes 7, 4, 6
  ty = np.eye(num_classes)[[2, 0, 1]]
  graph = {0: [1, 2], 1: [0], 2: [0, 3], 3: [2, 4], 4: [3], 5: [], 6: [7], 7: [6, 6]}
  parts = {"x": sp.csr_matrix(allx[:2]), "y": ally[:2], "allx": sp.csr_matrix(allx),
           "ally": ally, "tx": sp.csr_matrix(tx), "ty": ty, "graph": graph}
  for ext, obj in parts.items():
    _dump(folder / f"ind.{name}.{ext}", obj)
  (folder / f"ind.{name}.test.index").write_text("".join(f"{i}\n" for i in test_index))
  return {"allx": allx, "tx": tx, "test_index": test_index, "graph": graph,
          "num_features": num_features, "num_classes": num_classes}


def test_tiny_planetoid_reorders_pads_and_splits(tmp_path):
  raw = write_tiny_planetoid(tmp_path)
  g = planetoid.read("cora", tmp_path)
  assert g.num_nodes == 8 and g.num_classes == 3
  assert g.features.shape == (8, 5) and g.adjacency.shape == (8, 8)
  features = g.features.toarray()
  expected_rows = {0: raw["allx"][0], 3: raw["allx"][3], 7: raw["tx"][0], 4: raw["tx"][1],
                   6: raw["tx"][2], 5: np.zeros(5)}
  for node, row in expected_rows.items():
    total = row.sum()
    np.testing.assert_allclose(features[node], row / total if total else row, rtol=1e-6)
  np.testing.assert_array_equal(g.labels[[0, 1, 2, 3, 7, 4, 6]], [0, 1, 2, 1, 2, 0, 1])
  np.testing.assert_array_equal(g.train_index, [0, 1])
  np.testing.assert_array_equal(g.val_index, [2, 3])  # clamped to the labelled nodes
  np.testing.assert_array_equal(g.test_index, [4, 6, 7])  # sorted test.index
  assert g.features.dtype == np.float32 and g.adjacency.dtype == np.float32


def test_row_normalize_rows_sum_to_one_and_zero_rows_stay_zero():
  m = sp.csr_matrix(np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 4.0]]))
  out = planetoid.row_normalize(m).toarray()
  np.testing.assert_allclose(out.sum(axis=1), [1.0, 0.0, 1.0])
  np.testing.assert_allclose(out[0], [0.25, 0.75, 0.0])


def test_normalize_adjacency_matches_hand_computed_path_graph():
  # Path 0 - 1 - 2: degrees of A + I are [2, 3, 2].
  a = planetoid.adjacency_from_graph({0: [1], 1: [2], 2: []}, 3)
  np.testing.assert_array_equal(a.toarray(), [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
  out = planetoid.normalize_adjacency(a).toarray()
  r6 = 1 / np.sqrt(6)
  np.testing.assert_allclose(out, [[1 / 2, r6, 0], [r6, 1 / 3, r6], [0, r6, 1 / 2]])


def test_adjacency_is_symmetric_binary_and_normalised(tmp_path):
  raw = write_tiny_planetoid(tmp_path)
  g = planetoid.read("cora", tmp_path)
  a_hat = g.adjacency.toarray()
  np.testing.assert_allclose(a_hat, a_hat.T)
  a = np.zeros((8, 8))
  for u, vs in raw["graph"].items():
    for v in vs:
      a[u, v] = a[v, u] = 1.0  # one-directional and duplicate edges count once
  a += np.eye(8)
  d = 1 / np.sqrt(a.sum(axis=1))
  np.testing.assert_allclose(a_hat, d[:, None] * a * d[None, :], rtol=1e-6)
  assert a_hat[5, 5] == pytest.approx(1.0)  # isolated node: self-loop only


def test_data_dir_argument_uses_its_planetoid_subfolder(tmp_path):
  write_tiny_planetoid(tmp_path / "root" / "planetoid")
  g = data.load("cora", tmp_path / "root")
  assert g.num_nodes == 8


def test_env_var_is_used_and_data_dir_wins_over_it(tmp_path, monkeypatch):
  write_tiny_planetoid(tmp_path / "env" / "planetoid")
  monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "env"))
  assert planetoid.load("cora").num_nodes == 8
  (tmp_path / "flag").mkdir()
  with pytest.raises(data.DataUnavailableError, match="no ind.cora"):
    planetoid.load("cora", tmp_path / "flag")


def test_missing_data_dir_is_a_clear_error(tmp_path):
  with pytest.raises(data.DataUnavailableError, match="does not exist"):
    planetoid.load("cora", tmp_path / "nope")


def test_download_into_cache_then_reuse(tmp_path, monkeypatch):
  source = tmp_path / "source"
  write_tiny_planetoid(source)
  fetched = []

  def fake_urlopen(url, timeout):
    assert url.startswith("https://github.com/kimiyoung/planetoid/raw/master/data/ind.cora.")
    assert timeout > 0
    fetched.append(url)
    return io.BytesIO((source / url.rsplit("/", 1)[1]).read_bytes())

  monkeypatch.setattr(planetoid.urllib.request, "urlopen", fake_urlopen)
  g = planetoid.load("cora", cache=tmp_path / "cache")
  assert g.num_nodes == 8 and len(fetched) == 8
  assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
      planetoid.file_names("cora"))
  planetoid.load("cora", cache=tmp_path / "cache")
  assert len(fetched) == 8  # nothing fetched again


def test_download_failure_says_to_pass_data_dir(tmp_path, monkeypatch):
  def offline(url, timeout):
    raise urllib.error.URLError("no network")

  monkeypatch.setattr(planetoid.urllib.request, "urlopen", offline)
  with pytest.raises(data.DataUnavailableError, match="--data-dir"):
    planetoid.load("citeseer", cache=tmp_path / "cache")
  assert not any((tmp_path / "cache").glob("ind.*"))


@pytest.mark.parametrize("name, nodes, features, classes, train", [
    ("cora", 2708, 1433, 7, 140), ("citeseer", 3327, 3703, 6, 120)])
def test_real_planetoid(name, nodes, features, classes, train):
  if not (SHARED_DATA / "planetoid").is_dir():
    pytest.skip(f"no Planetoid files at {SHARED_DATA / 'planetoid'}")
  g = data.load(name, SHARED_DATA)
  assert g.features.shape == (nodes, features)
  assert g.adjacency.shape == (nodes, nodes)
  assert g.num_classes == classes and g.labels.shape == (nodes,)
  np.testing.assert_array_equal(g.train_index, np.arange(train))
  np.testing.assert_array_equal(g.val_index, np.arange(train, train + 500))
  assert len(g.test_index) == 1000 and np.all(np.diff(g.test_index) > 0)
  # Balanced training set: 20 nodes per class.
  np.testing.assert_array_equal(np.bincount(g.labels[g.train_index]), [20] * classes)
  row_sums = np.asarray(g.features.sum(axis=1)).ravel()
  np.testing.assert_allclose(row_sums[row_sums > 0], 1.0, rtol=1e-5)
  # CiteSeer's 15 isolated test nodes are zero-padded; Cora has no empty row.
  assert (row_sums == 0).sum() == (15 if name == "citeseer" else 0)
  assert abs(g.adjacency - g.adjacency.T).max() < 1e-7
  # Undirected edges (both directions) plus one self-loop per node.
  assert g.adjacency.nnz == {"cora": 10556, "citeseer": 9104}[name] + nodes


def test_digits_fixed_split_scaled_to_unit_interval():
  d = digits.load()
  assert d.x_train.shape == (1197, 8, 8, 1)
  assert d.x_val.shape == (300, 8, 8, 1) and d.x_test.shape == (300, 8, 8, 1)
  assert d.x_train.min() >= 0.0 and d.x_train.max() == 1.0
  assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int32
  np.testing.assert_array_equal(digits.load().y_test, d.y_test)  # deterministic
  # The three splits partition the 1,797 images.
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  everything = np.concatenate([d.x_train, d.x_val, d.x_test])[..., 0] * 16
  key = lambda x: sorted(a.astype(np.int64).tobytes() for a in x)
  assert key(everything.round()) == key(load_digits().images)


def test_image_batches_fixed_size_and_padded_eval():
  d = digits.load()
  batches = list(d.train_batches(np.random.default_rng(0), 100))
  assert len(batches) == d.steps_per_epoch(100) == 11
  assert all(b["inputs"][0].shape == (100, 8, 8, 1) for b in batches)
  seen = np.concatenate([b["labels"] for b in batches])
  assert len(seen) == 1100
  evals = list(d.eval_batches("val", 128))
  assert [b["inputs"][0].shape[0] for b in evals] == [128, 128, 128]
  weights = np.concatenate([b["weights"] for b in evals])
  assert weights.sum() == 300 and np.all(weights[300:] == 0)


def _write_mnist(folder, n_train=30, n_test=10):
  folder.mkdir(parents=True)
  rng = np.random.default_rng(0)
  for split, n in (("train", n_train), ("test", n_test)):
    np.savez(folder / f"{split}.npz", x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
             y=rng.integers(0, 10, n, dtype=np.uint8))


def test_mnist_from_local_npz(tmp_path, monkeypatch):
  monkeypatch.setattr(mnist, "NUM_VAL", 10)
  _write_mnist(tmp_path / "mnist")
  m = data.load("mnist", tmp_path)
  assert m.x_train.shape == (20, 28, 28, 1) and m.x_val.shape == (10, 28, 28, 1)
  assert m.x_test.shape == (10, 28, 28, 1) and m.y_train.dtype == np.int32
  with np.load(tmp_path / "mnist" / "train.npz") as f:
    raw_val = f["x"][-10:]
  np.testing.assert_allclose(m.x_val[..., 0], (raw_val / 255.0 - 0.1307) / 0.3081,
                             rtol=1e-5, atol=1e-6)


def test_mnist_missing_files_and_missing_tfds_are_clear_errors(tmp_path, monkeypatch):
  (tmp_path / "mnist").mkdir()
  with pytest.raises(data.DataUnavailableError, match="train.npz"):
    mnist.load(tmp_path)
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
  with pytest.raises(data.DataUnavailableError, match="tensorflow-datasets"):
    mnist.load()


def test_mnist_through_tensorflow_datasets_when_no_local_root(monkeypatch):
  monkeypatch.setattr(mnist, "NUM_VAL", 2)
  rng = np.random.default_rng(0)
  fake_split = lambda n: {"image": rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
                          "label": rng.integers(0, 10, n)}
  fake_tfds = types.SimpleNamespace(
      load=lambda name, split, batch_size: [fake_split(6), fake_split(3)]
      if (name, split, batch_size) == ("mnist", ["train", "test"], -1) else None,
      as_numpy=lambda tree: tree)
  monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds)
  m = mnist.load()
  assert (len(m.y_train), len(m.y_val), len(m.y_test)) == (4, 2, 3)
  assert m.x_test.shape == (3, 28, 28, 1) and m.y_test.dtype == np.int32


def test_real_mnist_split():
  if not (SHARED_DATA / "mnist" / "train.npz").is_file():
    pytest.skip("no shared MNIST")
  m = mnist.load(SHARED_DATA)
  assert (len(m.y_train), len(m.y_val), len(m.y_test)) == (55000, 5000, 10000)
  assert abs(float(m.x_train.mean())) < 0.01 and abs(float(m.x_train.std()) - 1) < 0.01

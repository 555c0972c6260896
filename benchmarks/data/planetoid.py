"""Cora and CiteSeer from the standard Planetoid split files, preprocessed as in GCN.

The files are those of Yang, Cohen & Salakhutdinov (ICML 2016), published in the public
repository kimiyoung/planetoid: ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}``.
``x``, ``tx``, ``allx`` are pickled ``scipy.sparse`` matrices of features, ``y``, ``ty``,
``ally`` pickled one-hot label arrays, ``graph`` a pickled dict node -> neighbours, and
``test.index`` the test node ids, one per line.

The preprocessing is that of Kipf & Welling's GCN (ICLR 2017):

* the test nodes are stored out of order: their rows are moved to their sorted ids;
* CiteSeer has isolated test nodes missing from ``tx``: they get zero features and no
  label (label 0, in no split);
* features are row-normalised (each non-empty row sums to 1);
* the adjacency is made symmetric and binary, self-loops are added and it is normalised
  symmetrically: ``D^-1/2 (A + I) D^-1/2`` with ``D`` the degrees of ``A + I``;
* the split is the standard one: train = the first ``len(y)`` nodes (140 for Cora, 120 for
  CiteSeer), val = the next 500, test = the 1,000 nodes of ``test.index``.

Files come from a local data root (``--data-dir`` or ``$OPTAX_SWD_DATA_DIR``, whose
``planetoid/`` sub-folder is used), or are downloaded once into
``~/.cache/optax_swd/planetoid``.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import shutil
import tempfile
import urllib.request
import warnings

import numpy as np
import scipy.sparse as sp

from benchmarks.data import datasets
from benchmarks.data import locate

NAMES = ("cora", "citeseer")
EXTENSIONS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
URL = "https://github.com/kimiyoung/planetoid/raw/master/data/{file}"
NUM_VAL = 500
DOWNLOAD_TIMEOUT_S = 30


def file_names(name: str) -> list[str]:
  return [f"ind.{name}.{ext}" for ext in EXTENSIONS]


def _download(url: str, target: pathlib.Path) -> None:
  target.parent.mkdir(parents=True, exist_ok=True)
  with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
      shutil.copyfileobj(response, tmp)
  os.replace(tmp.name, target)


def find_files(name: str, data_dir: str | os.PathLike | None = None,
               cache: str | os.PathLike | None = None) -> pathlib.Path:
  """The folder holding the eight files of ``name``, downloading them if needed.

  Args:
    name: ``"cora"`` or ``"citeseer"``.
    data_dir: a local data root (its ``planetoid/`` sub-folder, or the folder itself, must
      hold the files; nothing is downloaded then). ``None``: ``$OPTAX_SWD_DATA_DIR``, else
      the download cache.
    cache: the download cache (default ``~/.cache/optax_swd/planetoid``).

  Raises:
    DataUnavailableError: files missing locally, or the download failed.
  """
  root = locate.local_root(data_dir)
  if root is not None:
    folder = locate.source_dir(root, "planetoid")
    missing = [f for f in file_names(name) if not (folder / f).is_file()]
    if missing:
      what = (f"no ind.{name}.* files" if len(missing) == len(EXTENSIONS) else
              f"file(s) {', '.join(missing)} missing")
      raise locate.DataUnavailableError(
          f"Planetoid {name}: {what} in {folder}; point --data-dir (or "
          "OPTAX_SWD_DATA_DIR) at a folder holding planetoid/ind.<name>.*")
    return folder
  folder = pathlib.Path(cache).expanduser() if cache else locate.cache_dir("planetoid")
  for file in file_names(name):
    if (folder / file).is_file():
      continue
    url = URL.format(file=file)
    try:
      _download(url, folder / file)
    except OSError as e:  # URLError, HTTPError and timeouts are all OSErrors
      raise locate.DataUnavailableError(
          f"could not download {url} ({e}); pass --data-dir DIR (or set "
          "OPTAX_SWD_DATA_DIR) to a folder holding planetoid/ind.<name>.* files") from None
  return folder


def _unpickle(path: pathlib.Path):
  with open(path, "rb") as f, warnings.catch_warnings():
    # The pickles name scipy.sparse.csr, which newer SciPy marks as deprecated.
    warnings.simplefilter("ignore", DeprecationWarning)
    return pickle.load(f, encoding="latin1")


def row_normalize(matrix: sp.spmatrix) -> sp.csr_matrix:
  """Divides each row by its sum; all-zero rows stay zero."""
  matrix = sp.csr_matrix(matrix, dtype=np.float64)
  sums = np.asarray(matrix.sum(axis=1)).ravel()
  inverse = np.zeros_like(sums)
  np.divide(1.0, sums, out=inverse, where=sums != 0)
  return sp.csr_matrix(sp.diags(inverse) @ matrix)


def adjacency_from_graph(graph: dict, num_nodes: int) -> sp.csr_matrix:
  """The symmetric binary adjacency of ``graph`` (node -> neighbours), node id = index."""
  rows = [int(u) for u, vs in graph.items() for _ in vs]
  cols = [int(v) for vs in graph.values() for v in vs]
  a = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(num_nodes, num_nodes))
  a = (a + a.T).tocsr()
  a.data[:] = 1.0  # binary: duplicate edges and both directions count once
  return a


def normalize_adjacency(adjacency: sp.spmatrix) -> sp.csr_matrix:
  """``D^-1/2 (A + I) D^-1/2`` with ``D`` the row sums (degrees) of ``A + I``."""
  a = sp.csr_matrix(adjacency, dtype=np.float64) + sp.eye(adjacency.shape[0])
  degrees = np.asarray(a.sum(axis=1)).ravel()
  inv_sqrt = np.zeros_like(degrees)
  np.power(degrees, -0.5, out=inv_sqrt, where=degrees > 0)
  d = sp.diags(inv_sqrt)
  return sp.csr_matrix(d @ a @ d)


def read(name: str, folder: str | os.PathLike) -> datasets.GraphData:
  """Reads and preprocesses ``ind.<name>.*`` from ``folder`` (see the module docstring)."""
  folder = pathlib.Path(folder)
  parts = {ext: _unpickle(folder / f"ind.{name}.{ext}") for ext in EXTENSIONS[:-1]}
  test_index = np.array(
      [int(line) for line in (folder / f"ind.{name}.test.index").read_text().split()])
  x, y, tx, ty, allx, ally = (parts[k] for k in ("x", "y", "tx", "ty", "allx", "ally"))
  graph = parts["graph"]
  test_sorted = np.sort(test_index)

  # Test nodes with no row in tx (isolated CiteSeer nodes): zero features, zero label.
  span = int(test_sorted[-1] - test_sorted[0] + 1)
  if span != tx.shape[0]:
    tx_full = sp.lil_matrix((span, tx.shape[1]))
    tx_full[test_sorted - test_sorted[0], :] = tx
    ty_full = np.zeros((span, ty.shape[1]))
    ty_full[test_sorted - test_sorted[0], :] = ty
    tx, ty = tx_full, ty_full

  features = sp.vstack((allx, tx)).tolil()
  features[test_index, :] = features[test_sorted, :]
  onehot = np.vstack((ally, ty))
  onehot[test_index, :] = onehot[test_sorted, :]
  num_nodes = features.shape[0]
  if len(graph) > num_nodes:
    raise ValueError(f"{name}: the graph has {len(graph)} nodes but the features "
                     f"{num_nodes} rows")

  adjacency = normalize_adjacency(adjacency_from_graph(graph, num_nodes))
  num_train = int(y.shape[0])
  # The 500 nodes after the training ones (clamped to the labelled nodes of allx, which
  # only matters for graphs smaller than the real ones).
  num_val = min(NUM_VAL, int(allx.shape[0]) - num_train)
  return datasets.GraphData(
      name=name,
      features=row_normalize(features).astype(np.float32),
      adjacency=adjacency.astype(np.float32),
      labels=onehot.argmax(axis=1).astype(np.int32),
      train_index=np.arange(num_train),
      val_index=np.arange(num_train, num_train + num_val),
      test_index=test_sorted,
      num_classes=int(onehot.shape[1]),
  )


def load(name: str, data_dir: str | os.PathLike | None = None,
         cache: str | os.PathLike | None = None) -> datasets.GraphData:
  """Loads ``"cora"`` or ``"citeseer"``: finds (or downloads) the files, then :func:`read`."""
  if name not in NAMES:
    raise ValueError(f"Planetoid data set must be one of {NAMES}, got {name!r}")
  return read(name, find_files(name, data_dir, cache))

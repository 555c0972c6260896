"""Where a data set's files are: a local data root, or a download cache.

The local data root is found, in order of precedence, from

1. an explicit ``data_dir`` argument (the ``--data-dir`` flag of the command lines);
2. the environment variable ``OPTAX_SWD_DATA_DIR``;
3. otherwise there is none, and loaders download into (or, for MNIST, use the
   ``tensorflow_datasets`` cache) ``~/.cache/optax_swd/<source>``.

A data root holds one sub-folder per source (``planetoid/``, ``mnist/``, later
``cifar10-jpeg/``); for convenience a folder that directly holds a source's files is
accepted as well.
"""

from __future__ import annotations

import os
import pathlib

ENV_VAR = "OPTAX_SWD_DATA_DIR"
CACHE_ROOT = pathlib.Path("~/.cache/optax_swd")


class DataUnavailableError(RuntimeError):
  """A data set is neither available locally nor could be fetched.

  The message is a single line that says what is missing and how to provide it.
  """


def local_root(data_dir: str | os.PathLike | None = None) -> pathlib.Path | None:
  """The local data root: ``data_dir``, else ``$OPTAX_SWD_DATA_DIR``, else ``None``.

  Raises:
    DataUnavailableError: the chosen folder does not exist.
  """
  if data_dir is not None:
    origin, value = "--data-dir", os.fspath(data_dir)
  elif os.environ.get(ENV_VAR):
    origin, value = ENV_VAR, os.environ[ENV_VAR]
  else:
    return None
  root = pathlib.Path(value).expanduser()
  if not root.is_dir():
    raise DataUnavailableError(f"data directory {root} (from {origin}) does not exist")
  return root


def source_dir(root: pathlib.Path, source: str) -> pathlib.Path:
  """``root/source`` when that folder exists, else ``root`` itself."""
  sub = root / source
  return sub if sub.is_dir() else root


def cache_dir(source: str) -> pathlib.Path:
  """The download cache of one source, ``~/.cache/optax_swd/<source>``."""
  return CACHE_ROOT.expanduser() / source

"""Images laid out in class folders (``root/<split>/<class>/*.jpg``), decoded once, cached.

The "image folder" layout is how many image sets are shipped (and how torchvision's
``ImageFolder`` reads them)::

    root/train/airplane/0001.jpg
    root/train/automobile/0001.jpg
    ...
    root/test/truck/0999.jpg

The classes are the sorted sub-folder names of the first split; label ``i`` is the
``i``-th of them, and every split must have exactly those class folders. Files of a class
are read in sorted name order, so the arrays are the same on every machine.

Decoding tens of thousands of small JPEGs with Pillow takes tens of seconds, so the decoded
``uint8`` arrays of a split are cached as an ``.npz`` in a cache folder (by default
``~/.cache/optax_swd/image_folder``, or ``$OPTAX_SWD_CACHE_DIR/image_folder``; never inside
the data folder or the repository). The cache file's name is a hash of the folder's
absolute path, the split, the image size and the list of files with their sizes and
modification times: any change to the files makes a new cache entry.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile

import numpy as np

from benchmarks.data import locate

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
CACHE_ENV_VAR = "OPTAX_SWD_CACHE_DIR"
CACHE_VERSION = "1"


def default_cache_dir() -> pathlib.Path:
  """``$OPTAX_SWD_CACHE_DIR/image_folder``, else ``~/.cache/optax_swd/image_folder``."""
  if os.environ.get(CACHE_ENV_VAR):
    return pathlib.Path(os.environ[CACHE_ENV_VAR]).expanduser() / "image_folder"
  return locate.cache_dir("image_folder")


def class_names(root: str | os.PathLike, split: str = "train") -> tuple[str, ...]:
  """The sorted class folder names of ``root/split``.

  Raises:
    DataUnavailableError: ``root/split`` is missing or has no class folders.
  """
  folder = pathlib.Path(root) / split
  if not folder.is_dir():
    raise locate.DataUnavailableError(f"image folder {folder} does not exist")
  names = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir()))
  if not names:
    raise locate.DataUnavailableError(f"image folder {folder} has no class sub-folders")
  return names


def list_files(root: str | os.PathLike, split: str,
               classes: tuple[str, ...]) -> list[tuple[pathlib.Path, int]]:
  """``(path, label)`` of every image of ``root/split``, by class then file name.

  Raises:
    DataUnavailableError: a class folder is missing, or the split has other class folders.
  """
  folder = pathlib.Path(root) / split
  found = class_names(root, split)
  if found != tuple(classes):
    raise locate.DataUnavailableError(
        f"{folder} has class folders {list(found)}, expected {list(classes)} (the classes "
        "of the first split)")
  files = []
  for label, name in enumerate(classes):
    paths = sorted(p for p in (folder / name).iterdir()
                   if p.is_file() and p.suffix.lower() in EXTENSIONS)
    files.extend((p, label) for p in paths)
  return files


def _cache_key(root: pathlib.Path, split: str, files, image_size) -> str:
  digest = hashlib.sha256()
  digest.update(f"{CACHE_VERSION}|{root.resolve()}|{split}|{image_size}".encode())
  for path, label in files:
    stat = path.stat()
    digest.update(f"|{path.name}|{label}|{stat.st_size}|{stat.st_mtime_ns}".encode())
  return digest.hexdigest()[:20]


def decode(files, image_size: tuple[int, int] | None = None) -> np.ndarray:
  """Decodes ``files`` (paths) with Pillow into one ``uint8 [n, H, W, 3]`` array.

  Every image is converted to RGB. With ``image_size=(H, W)`` images of another size are
  resized (bilinear); without it they must all have the first image's size.

  Raises:
    ValueError: images of different sizes and no ``image_size``.
  """
  from PIL import Image  # pylint: disable=import-outside-toplevel
  images = None
  for i, path in enumerate(files):
    with Image.open(path) as image:
      image = image.convert("RGB")
      if image_size is not None and image.size != (image_size[1], image_size[0]):
        image = image.resize((image_size[1], image_size[0]), Image.BILINEAR)
      array = np.asarray(image, dtype=np.uint8)
    if images is None:
      images = np.empty((len(files),) + array.shape, np.uint8)
    if array.shape != images.shape[1:]:
      raise ValueError(f"{path} is {array.shape[1]}x{array.shape[0]}, the first image "
                       f"{images.shape[2]}x{images.shape[1]}; pass image_size=(H, W)")
    images[i] = array
  if images is None:
    return np.zeros((0, 0, 0, 3), np.uint8)
  return images


def load_split(root: str | os.PathLike, split: str, *, classes: tuple[str, ...] | None = None,
               cache_dir: str | os.PathLike | None = None, use_cache: bool = True,
               image_size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
  """``(images uint8 [n, H, W, 3], labels int32 [n])`` of ``root/split``, cached.

  Args:
    root: the data set's folder (holding ``train/``, ``test/``, ...).
    split: the split's sub-folder name.
    classes: the class folder names in label order (default: those of ``root/train``
      if it exists, else of ``root/split``).
    cache_dir: where the decoded arrays are cached (default :func:`default_cache_dir`).
    use_cache: read and write the cache; ``False`` always decodes.
    image_size: ``(H, W)`` to resize to; ``None``: all images must have one size.

  Raises:
    DataUnavailableError: missing folders, or a split with no images.
    ValueError: images of different sizes (without ``image_size``).
  """
  root = pathlib.Path(root).expanduser()
  if classes is None:
    classes = class_names(root, "train" if (root / "train").is_dir() else split)
  files = list_files(root, split, tuple(classes))
  if not files:
    raise locate.DataUnavailableError(f"no images in {root / split}")
  cache_path = None
  if use_cache:
    folder = pathlib.Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    cache_path = folder / f"{root.name}-{split}-{_cache_key(root, split, files, image_size)}.npz"
    if cache_path.is_file():
      with np.load(cache_path) as cached:
        return cached["x"], cached["y"]
  images = decode([p for p, _ in files], image_size)
  labels = np.array([label for _, label in files], np.int32)
  if cache_path is not None:
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a concurrent reader never sees a half-written file.
    with tempfile.NamedTemporaryFile(dir=cache_path.parent, suffix=".npz",
                                     delete=False) as tmp:
      np.savez(tmp, x=images, y=labels)
    os.replace(tmp.name, cache_path)
  return images, labels

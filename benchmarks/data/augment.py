"""On-device image preprocessing: normalisation and the standard CIFAR augmentation.

The images stay ``uint8`` on the host (4x less memory and transfer than float32); these
pure JAX functions run *inside* the jitted train and eval steps (see
:class:`~benchmarks.data.datasets.ImageData`'s ``transform``), vectorised over the batch:

* :func:`normalize`: ``(x / 255 - mean) / std`` per channel;
* :func:`random_crop`: pad by ``padding`` pixels of zeros (black, as torchvision's
  ``RandomCrop(32, padding=4)``) and cut a random window of the original size per image;
* :func:`random_flip`: mirror each image left-right with probability 1/2;
* :class:`ImageTransform`: the three together, deterministic in the given PRNG key.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


def normalize(images: jax.Array, mean, std) -> jax.Array:
  """``(images / 255 - mean) / std`` as float32; ``mean``/``std`` per channel in [0, 1]."""
  x = images.astype(jnp.float32) / 255.0
  return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def random_crop(rng: jax.Array, images: jax.Array, padding: int) -> jax.Array:
  """A random ``H x W`` window of each image zero-padded by ``padding`` on every side.

  Args:
    rng: a PRNG key; the offsets are uniform in ``[0, 2 * padding]`` per image and axis.
    images: ``[B, H, W, C]``.
    padding: pixels of zeros added on each side (``>= 0``).

  Raises:
    ValueError: negative ``padding`` or images that are not ``[B, H, W, C]``.
  """
  if not isinstance(padding, int) or padding < 0:
    raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
  if images.ndim != 4:
    raise ValueError(f"images must be [B, H, W, C], got shape {images.shape}")
  if padding == 0:
    return images
  batch, height, width, channels = images.shape
  padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  offsets = jax.random.randint(rng, (batch, 2), 0, 2 * padding + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                 (height, width, channels))

  return jax.vmap(crop)(padded, offsets)


def random_flip(rng: jax.Array, images: jax.Array) -> jax.Array:
  """Mirrors each ``[B, H, W, C]`` image left-right with probability 1/2."""
  flip = jax.random.bernoulli(rng, 0.5, (images.shape[0],))
  return jnp.where(flip[:, None, None, None], images[:, :, ::-1, :], images)


@dataclasses.dataclass(frozen=True)
class ImageTransform:
  """Normalisation (always) and augmentation (training only) of ``uint8`` images.

  Called as ``transform(rng, inputs, train)`` on a batch's ``inputs`` tuple
  ``(images,)``; returns the tuple with float32 images. Training batches get
  :func:`random_crop` (if ``padding > 0``) and :func:`random_flip` (if ``flip``), drawn
  from ``rng`` (the same key gives the same batch); evaluation only normalises.

  Attributes:
    mean, std: per-channel statistics in [0, 1] units.
    padding: the crop padding (CIFAR: 4; 0 = no crop).
    flip: random horizontal flips.
  """
  mean: tuple[float, ...]
  std: tuple[float, ...]
  padding: int = 4
  flip: bool = True

  def __post_init__(self):
    if len(self.mean) != len(self.std):
      raise ValueError(f"mean and std need one value per channel, got {self.mean} and "
                       f"{self.std}")
    if any(s <= 0 for s in self.std):
      raise ValueError(f"std must be > 0, got {self.std}")
    if not isinstance(self.padding, int) or self.padding < 0:
      raise ValueError(f"padding must be an integer >= 0, got {self.padding!r}")

  @property
  def augments(self) -> bool:
    return self.padding > 0 or self.flip

  def __call__(self, rng: jax.Array | None, inputs: tuple, train: bool) -> tuple:
    (images,) = inputs
    if train and self.augments:
      if rng is None:
        raise ValueError("a PRNG key is needed to augment training images")
      crop_rng, flip_rng = jax.random.split(rng)
      images = random_crop(crop_rng, images, self.padding)
      if self.flip:
        images = random_flip(flip_rng, images)
    return (normalize(images, self.mean, self.std),)

"""Flax (linen) models of the benchmarks.

Every model is called as ``model.apply(variables, *inputs, train=bool, ...)``, where
``inputs`` is the batch's ``inputs`` tuple: ``(images,)`` for the image models (NHWC
float32) and ``(features, adjacency)`` for :class:`GCN`. The models are pure functions of
their variables: ``params``, plus ``batch_stats`` for :class:`ResNet20` (BatchNorm), and
draw dropout noise from the ``"dropout"`` RNG stream.

Prunable weights are the kernels (the leaves with ``ndim >= 2``), which is
:mod:`optax_swd`'s default rule; biases and BatchNorm scales are not pruned.

* :class:`GCN`: the two-layer graph convolutional network of Kipf & Welling (ICLR 2017).
* :class:`LeNet300100`: the fully connected 300-100 network (LeCun et al. 1998).
* :class:`LeNet5`: conv 6 -> conv 16 (5x5) -> dense 120 -> 84, for 28x28 or 8x8 inputs.
* :class:`ResNet20`: the CIFAR ResNet of He et al. (CVPR 2016), with option-A shortcuts;
  ``resnet20`` is the standard width 16 (0.27M parameters), ``resnet20-w64`` width 64
  (4.3M, the official SWD code's CIFAR-10 model).
* :class:`ResNet50` (``resnet50``): the ImageNet bottleneck ResNet-50 (v1.5), for
  :mod:`benchmarks.imagenet`.
* :class:`SmallCNN` (``cnn``): a cheap CIFAR CNN (conv 16-32-64 with pooling, 34k
  parameters, 2.8M multiply-adds per 32x32 image against ResNet-20's 41M) for budgets
  where ResNet-20 is too slow.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.experimental import sparse

MODELS = ("gcn", "lenet300100", "lenet5", "resnet20", "resnet20-w64", "cnn", "resnet50")


Matrix = Union[jax.Array, sparse.BCOO]


class GraphConv(nn.Module):
  """One graph convolution ``A_hat (X W)``, with ``A_hat`` given (already normalised).

  ``x`` and ``adjacency`` may be dense arrays or ``jax.experimental.sparse.BCOO``
  matrices (the Planetoid loaders give sparse ones: both are >98% zeros).
  """
  features: int
  use_bias: bool = False

  @nn.compact
  def __call__(self, x: Matrix, adjacency: Matrix) -> jax.Array:
    kernel = self.param("kernel", nn.initializers.glorot_uniform(),
                        (x.shape[-1], self.features))
    h = adjacency @ (x @ kernel)
    if self.use_bias:
      h = h + self.param("bias", nn.initializers.zeros, (self.features,))
    return h


class GCN(nn.Module):
  """Two-layer GCN: dropout -> GraphConv(hidden) -> ReLU -> dropout -> GraphConv(classes).

  As in Kipf & Welling's code, the layers have no bias, and dropout on sparse input
  features drops stored entries only (the same distribution as dense dropout, since
  dropping a zero changes nothing, at a fraction of the cost).

  Attributes:
    num_classes: the number of output logits.
    hidden: hidden width (Kipf & Welling: 16).
    dropout_rate: dropout on the input features and the hidden layer (0.5).
  """
  num_classes: int
  hidden: int = 16
  dropout_rate: float = 0.5

  @nn.compact
  def __call__(self, features: Matrix, adjacency: Matrix, *, train: bool) -> jax.Array:
    dropout = nn.Dropout(self.dropout_rate, deterministic=not train)
    if isinstance(features, sparse.BCOO):
      x = sparse.BCOO((dropout(features.data), features.indices), shape=features.shape)
    else:
      x = dropout(features)
    x = nn.relu(GraphConv(self.hidden, name="conv1")(x, adjacency))
    x = dropout(x)
    return GraphConv(self.num_classes, name="conv2")(x, adjacency)


class LeNet300100(nn.Module):
  """Flatten -> Dense 300 -> ReLU -> Dense 100 -> ReLU -> Dense ``num_classes``."""
  num_classes: int = 10

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
    del train
    x = images.reshape((images.shape[0], -1))
    x = nn.relu(nn.Dense(300, name="fc1")(x))
    x = nn.relu(nn.Dense(100, name="fc2")(x))
    return nn.Dense(self.num_classes, name="fc3")(x)


class LeNet5(nn.Module):
  """conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> dense 120 -> 84 -> classes (ReLU).

  The first convolution is zero-padded ("SAME"). The second is unpadded ("VALID", as in
  LeNet-5: 28x28 -> 14x14 -> 10x10 -> 5x5x16 = 400 features) when its input is at least
  10x10, and padded otherwise, so that 8x8 digits work too (8 -> 4 -> 4 -> 2x2x16).
  """
  num_classes: int = 10

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
    del train
    x = nn.relu(nn.Conv(6, (5, 5), padding="SAME", name="conv1")(images))
    x = nn.max_pool(x, (2, 2), strides=(2, 2))
    padding = "VALID" if min(x.shape[1:3]) >= 10 else "SAME"
    x = nn.relu(nn.Conv(16, (5, 5), padding=padding, name="conv2")(x))
    x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(120, name="fc1")(x))
    x = nn.relu(nn.Dense(84, name="fc2")(x))
    return nn.Dense(self.num_classes, name="fc3")(x)


_he_normal = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
_conv3x3 = functools.partial(nn.Conv, kernel_size=(3, 3), padding=((1, 1), (1, 1)),
                             use_bias=False, kernel_init=_he_normal)


def _conv_impl(name: str):
  """``nn.Conv``'s ``conv_general_dilated`` for a :mod:`benchmarks.convs` name (``None``:
  Flax's default, ``lax.conv_general_dilated``)."""
  from benchmarks import convs  # pylint: disable=import-outside-toplevel
  return None if name == "lax" else convs.get(name)


def _batch_norm(train: bool, name: str) -> nn.BatchNorm:
  # PyTorch's BatchNorm defaults: momentum 0.1 (flax's 0.9), epsilon 1e-5.
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


def option_a_shortcut(x: jax.Array, features: int, stride: int,
                      pad: tuple[int, int] | None = None) -> jax.Array:
  """The parameter-free shortcut of He et al. (option A).

  Subsamples with the block's stride and zero-pads the new channels (half on each side,
  as in the usual CIFAR implementations, or ``pad = (before, after)`` for a shrunk net).
  """
  x = x[:, ::stride, ::stride, :]
  extra = features - x.shape[-1]
  before, after = pad if pad is not None else (extra // 2, extra - extra // 2)
  if before + after != extra:
    raise ValueError(f"shortcut pad {pad} does not take {x.shape[-1]} channels to "
                     f"{features}")
  if extra:
    x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (before, after)))
  return x


class BasicBlock(nn.Module):
  """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the option-A shortcut, then ReLU."""
  features: int
  stride: int = 1
  inner: int | None = None  # conv1's width (default: features)
  pad: tuple[int, int] | None = None  # the shortcut's zero channels (before, after)
  convs: tuple[str, str] | None = None  # conv1's and conv2's benchmarks.convs names

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    inner = self.features if self.inner is None else self.inner
    c1, c2 = (None, None) if self.convs is None else map(_conv_impl, self.convs)
    y = _conv3x3(inner, strides=self.stride, conv_general_dilated=c1, name="conv1")(x)
    y = nn.relu(_batch_norm(train, "bn1")(y))
    y = _conv3x3(self.features, conv_general_dilated=c2, name="conv2")(y)
    y = _batch_norm(train, "bn2")(y)
    return nn.relu(y + option_a_shortcut(x, self.features, self.stride, self.pad))


class ResNetWidths(NamedTuple):
  """Per-layer widths of a (shrunk) :class:`ResNet20`.

  Attributes:
    stages: the residual stream's width in each of the 3 stages.
    pads: the option-A shortcut's zero channels ``(before, after)`` entering each stage
      (``(0, 0)`` for the first).
    inner: the width of each block's first convolution, block by block.
  """
  stages: tuple[int, ...]
  pads: tuple[tuple[int, int], ...]
  inner: tuple[int, ...]


class ResNet20(nn.Module):
  """ResNet-20 for 32x32 images: 3 stages of 3 basic blocks (widths w, 2w, 4w).

  Attributes:
    num_classes: the number of output logits.
    width: the first stage's width: 16 for the standard ResNet-20 (0.27M parameters), 64
      for the wider variant of the official SWD code.
    blocks_per_stage: 3 for ResNet-20 (6n+2 layers with n = 3).
    widths: per-layer widths of a shrunk network (:class:`ResNetWidths`, e.g. from
      ``benchmarks.topologies.resnet20_widths``); ``None`` for the standard widths.
    convs: per-convolution implementation names of :mod:`benchmarks.convs` (the stem,
      then conv1 and conv2 of each block in order); ``None``: XLA's convolution
      everywhere. The function computed is the same (to float rounding).
  """
  num_classes: int = 10
  width: int = 16
  blocks_per_stage: int = 3
  widths: ResNetWidths | None = None
  convs: tuple[str, ...] | None = None

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
    w = self.widths
    c = self.convs
    if c is not None and len(c) != 1 + 6 * self.blocks_per_stage:
      raise ValueError(f"convs must name {1 + 6 * self.blocks_per_stage} conv "
                       f"implementations (stem, then conv1 and conv2 of each block), got "
                       f"{len(c)}")
    x = _conv3x3(self.width if w is None else w.stages[0],
                 conv_general_dilated=None if c is None else _conv_impl(c[0]),
                 name="conv")(images)
    x = nn.relu(_batch_norm(train, "bn")(x))
    for stage in range(3):
      for block in range(self.blocks_per_stage):
        stride = 2 if stage > 0 and block == 0 else 1
        i = stage * self.blocks_per_stage + block
        x = BasicBlock(
            self.width * 2 ** stage if w is None else w.stages[stage], stride,
            inner=None if w is None else w.inner[i],
            pad=None if w is None or block else tuple(w.pads[stage]),
            convs=None if c is None else tuple(c[1 + 2 * i:3 + 2 * i]),
            name=f"stage{stage + 1}_block{block + 1}")(x, train=train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, name="fc")(x)


class SmallCNN(nn.Module):
  """conv 16 -> pool -> conv 32 -> pool -> conv 64 -> pool -> dense ``num_classes``.

  3x3 "SAME" convolutions with ReLU and 2x2 max-pooling; on 32x32 inputs the last
  feature map is 4x4x64 (flattened into the classifier). No BatchNorm, no dropout.
  """
  num_classes: int = 10
  widths: tuple[int, ...] = (16, 32, 64)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
    del train
    x = images
    for i, width in enumerate(self.widths):
      x = nn.relu(nn.Conv(width, (3, 3), padding="SAME", kernel_init=_he_normal,
                          name=f"conv{i + 1}")(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(self.num_classes, name="fc")(x)


class Bottleneck(nn.Module):
  """ResNet v1.5 bottleneck: 1x1 -> 3x3 (stride here) -> 1x1 (x4), BN after each conv,
  projection shortcut (1x1 conv + BN) when the shape changes; the last BN of the
  residual branch starts at zero (Goyal et al. 2017)."""
  features: int
  stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    conv = functools.partial(nn.Conv, use_bias=False, kernel_init=_he_normal)
    bn = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                           epsilon=1e-5)
    y = nn.relu(bn(name="bn1")(conv(self.features, (1, 1), name="conv1")(x)))
    y = conv(self.features, (3, 3), strides=(self.stride, self.stride),
             padding=((1, 1), (1, 1)), name="conv2")(y)
    y = nn.relu(bn(name="bn2")(y))
    y = conv(4 * self.features, (1, 1), name="conv3")(y)
    y = bn(name="bn3", scale_init=nn.initializers.zeros)(y)
    if x.shape[-1] != 4 * self.features or self.stride != 1:
      x = conv(4 * self.features, (1, 1), strides=(self.stride, self.stride),
               name="proj")(x)
      x = bn(name="proj_bn")(x)
    return nn.relu(x + y)


class ResNet50(nn.Module):
  """The ImageNet ResNet-50 (He et al. 2016; v1.5 strides): 7x7/2 conv, 3x3/2 max-pool,
  bottleneck stages of ``stage_sizes`` blocks at widths ``width * (1, 2, 4, 8)``, global
  average pooling, dense classifier. 25.6M parameters at the defaults; smaller
  ``stage_sizes``/``width`` give the same architecture family for tests."""
  num_classes: int = 1000
  stage_sizes: tuple[int, ...] = (3, 4, 6, 3)
  width: int = 64

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
    x = nn.Conv(self.width, (7, 7), strides=(2, 2), padding=((3, 3), (3, 3)),
                use_bias=False, kernel_init=_he_normal, name="conv_init")(images)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                             name="bn_init")(x))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for i, blocks in enumerate(self.stage_sizes):
      for j in range(blocks):
        x = Bottleneck(self.width * 2**i, stride=2 if i > 0 and j == 0 else 1,
                       name=f"stage{i + 1}_block{j + 1}")(x, train=train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, name="fc")(x)


def create(name: str, num_classes: int, **kwargs) -> nn.Module:
  """The model called ``name`` (one of :data:`MODELS`) with ``num_classes`` outputs."""
  classes = {"gcn": GCN, "lenet300100": LeNet300100, "lenet5": LeNet5,
             "resnet20": ResNet20, "resnet20-w64": functools.partial(ResNet20, width=64),
             "cnn": SmallCNN, "resnet50": ResNet50}
  if name not in classes:
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")
  return classes[name](num_classes=num_classes, **kwargs)

"""Alternative 2-D convolutions for narrow (shrunk) layers, and a per-layer choice by timing.

Each implementation has the call signature of ``jax.lax.conv_general_dilated`` as Flax's
``nn.Conv(conv_general_dilated=...)`` calls it, and computes the same function for NHWC
inputs, HWIO kernels, any strides and padding (pairs, ``"SAME"`` or ``"VALID"``), no dilation and one feature
group (anything else falls back to ``lax.conv_general_dilated``):

* ``"lax"``: ``lax.conv_general_dilated`` itself (XLA's convolution).
* ``"im2col"``: the ``kh * kw`` shifted (strided) views of the padded input concatenated
  along channels, then one matrix product with the ``[kh * kw * C_in, C_out]`` kernel.
  One GEMM with ``K = 9 C_in`` instead of a convolution with few channels; it writes the
  ``9 C_in``-channel patch matrix, so it pays when ``C_in`` is small.
* ``"taps"``: one matrix product of the *unpadded* input with the
  ``[C_in, kh * kw * C_out]`` kernel (every tap's output channels at once), then the sum
  of the ``kh * kw`` shifted (strided) slices of that product. It reads the input once
  and writes ``9 C_out`` channels, so it pays when ``C_out`` is small (a shrunk block's
  first convolution reads the wide residual stream and writes a few channels).

:func:`choose` times the implementations on each distinct layer shape (interleaved,
median of a few runs) and returns the fastest per shape; ``benchmarks.models.ResNet20``
takes the per-layer names as ``convs=``.
"""

from __future__ import annotations

import functools
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

IMPLEMENTATIONS = ("lax", "im2col", "taps")


def _plain_nhwc(dimension_numbers, lhs_dilation, rhs_dilation, feature_group_count) -> bool:
  """Whether the call is one this module handles (NHWC/HWIO/NHWC, no dilation, 1 group)."""
  if feature_group_count != 1:
    return False
  if any(d not in (None, 1) for d in (lhs_dilation or ())) or any(
      d not in (None, 1) for d in (rhs_dilation or ())):
    return False
  if dimension_numbers is None:
    return False
  if isinstance(dimension_numbers, tuple) and all(isinstance(s, str)
                                                  for s in dimension_numbers):
    return tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")
  lhs, rhs, out = dimension_numbers
  return tuple(lhs) == (0, 3, 1, 2) and tuple(rhs) == (3, 2, 0, 1) and tuple(out) == (
      0, 3, 1, 2)


def _explicit_padding(padding, in_hw, kernel_hw, strides) -> tuple:
  if isinstance(padding, str):  # "SAME", "SAME_LOWER" or "VALID", as lax resolves them
    return tuple(tuple(p) for p in lax.padtype_to_pads(in_hw, kernel_hw, strides, padding))
  return tuple(tuple(p) for p in padding)


def _out_size(size: int, pad: tuple, k: int, stride: int) -> int:
  return (size + pad[0] + pad[1] - k) // stride + 1


def _views(x, kh, kw, strides, padding, out_h, out_w):
  """The ``kh * kw`` strided views of the padded ``x``, tap-major."""
  xp = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
  sh, sw = strides
  n, c = x.shape[0], x.shape[-1]
  return [lax.slice(xp, (0, i, j, 0), (n, i + (out_h - 1) * sh + 1,
                                      j + (out_w - 1) * sw + 1, c), (1, sh, sw, 1))
          for i in range(kh) for j in range(kw)]


def _as_conv(gemm: Callable) -> Callable:
  """A ``lax.conv_general_dilated``-compatible function from a GEMM formulation.

  Plain NHWC calls (see :func:`_plain_nhwc`) go to ``gemm(lhs, rhs, strides, pad,
  out_hw, precision, preferred_element_type)`` with the padding made explicit and the
  output size worked out; anything else falls back to ``lax.conv_general_dilated``.
  """

  @functools.wraps(gemm)
  def conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
           dimension_numbers=None, feature_group_count=1, precision=None,
           preferred_element_type=None):
    if not _plain_nhwc(dimension_numbers, lhs_dilation, rhs_dilation, feature_group_count):
      return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                      rhs_dilation, dimension_numbers, feature_group_count,
                                      precision=precision,
                                      preferred_element_type=preferred_element_type)
    kernel_hw = rhs.shape[:2]
    pad = _explicit_padding(padding, lhs.shape[1:3], kernel_hw, window_strides)
    out_hw = tuple(_out_size(lhs.shape[1 + a], pad[a], kernel_hw[a], window_strides[a])
                   for a in (0, 1))
    return gemm(lhs, rhs, window_strides, pad, out_hw, precision, preferred_element_type)

  return conv


@_as_conv
def im2col_conv(lhs, rhs, strides, pad, out_hw, precision, preferred_element_type):
  """``lax.conv_general_dilated`` as one GEMM over the concatenated patch views."""
  kh, kw, cin, cout = rhs.shape
  cols = jnp.concatenate(_views(lhs, kh, kw, strides, pad, *out_hw), axis=-1)
  return lax.dot_general(cols, rhs.reshape(kh * kw * cin, cout), (((3,), (0,)), ((), ())),
                         precision=precision, preferred_element_type=preferred_element_type)


@_as_conv
def taps_conv(lhs, rhs, strides, pad, out_hw, precision, preferred_element_type):
  """``lax.conv_general_dilated`` as one GEMM into every tap's outputs, then shifted sums."""
  kh, kw, cin, cout = rhs.shape
  kernel = jnp.transpose(rhs, (2, 0, 1, 3)).reshape(cin, kh * kw * cout)
  z = lax.dot_general(lhs, kernel, (((3,), (0,)), ((), ())), precision=precision,
                      preferred_element_type=preferred_element_type)
  # Every tap's contribution is a shifted view of z: pad z like the input would be.
  views = _views(z, kh, kw, strides, pad, *out_hw)
  out = None
  for t, view in enumerate(views):
    part = view[..., t * cout:(t + 1) * cout]
    out = part if out is None else out + part
  return out


_FNS = {"lax": lax.conv_general_dilated, "im2col": im2col_conv, "taps": taps_conv}


def get(name: str) -> Callable:
  """The implementation called ``name`` (one of :data:`IMPLEMENTATIONS`)."""
  if name not in _FNS:
    raise ValueError(f"conv implementation must be one of {IMPLEMENTATIONS}, got {name!r}")
  return _FNS[name]


def time_shape(shape: tuple, batch: int, names: Sequence[str] = IMPLEMENTATIONS,
               repeats: int = 5, seed: int = 0) -> dict:
  """Median seconds of each implementation on one 3x3 conv ``(h, w, c_in, c_out, stride)``
  at ``batch``, padding 1, interleaved in a shuffled order per repeat."""
  h, w, cin, cout, stride = shape
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal((batch, h, w, cin)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((3, 3, cin, cout)), jnp.float32)
  fns = {}
  for name in names:
    fn = jax.jit(lambda x, k, f=get(name): f(
        x, k, (stride, stride), ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC")))
    fn(x, k).block_until_ready()
    fns[name] = fn
  times = {name: [] for name in names}
  for _ in range(repeats):
    for i in rng.permutation(len(names)):
      name = names[i]
      t = time.perf_counter()
      fns[name](x, k).block_until_ready()
      times[name].append(time.perf_counter() - t)
  return {name: float(np.median(v)) for name, v in times.items()}


def choose(shapes: Sequence[tuple], batch: int, names: Sequence[str] = IMPLEMENTATIONS,
           repeats: int = 5) -> tuple[list[str], dict]:
  """The fastest implementation for each layer shape (timed once per distinct shape).

  Returns:
    ``(per-layer names, {shape: {name: median seconds}})``.
  """
  timings = {}
  for shape in dict.fromkeys(shapes):
    timings[shape] = time_shape(shape, batch, names, repeats)
  return [min(timings[s], key=timings[s].get) for s in shapes], timings

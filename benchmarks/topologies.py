"""Channel topologies (:class:`optax_swd.ChannelGroup` lists) of the benchmark models.

How to write one for another network: make one group per set of channels that must be
kept or removed together, and list in it every module that touches those channels:

* ``bns``: the BatchNorm right after the convolution producing the channels;
* ``producers``: that convolution (its kernel's last axis, and bias if any);
* ``consumers``: every layer reading the channels (its kernel's input axis).

A plain ``conv -> BN -> ReLU -> conv`` chain is one group per BN. A residual addition
``y = f(x) + x`` ties the channels of ``x`` and of ``f``'s last BN: put both BNs, both
producers and all readers of ``x`` and ``y`` into one group. When a layer's channel axis
is shared by several groups, name the slice: ``("path", start, stop)``. A dense layer
reading a flattened NHWC map of ``C`` channels is ``("path", start, stop, C)``.

ResNet-20 with option-A shortcuts (identity, stride-2 subsampling, zero-padded new
channels) needs care: the shortcut carries every channel of the residual stream
unchanged into the next stage, where it sits at an offset (``pad_before``) among the new
zero-padded ones. So a stream channel is *one* channel from where it is created to the
final pooling: a stage-1 channel is tied to the stem BN, to ``bn2`` of all blocks of
stage 1, and to the matching (offset) channels of ``bn2`` of every later block. Pruning
it in one stage only would leave the shortcut's copy alive, and the channel would not be
removable. The stream therefore splits into 5 groups, by the stage that creates the
channels: ``stream1`` (the stem's ``w`` channels), ``stream2_before`` / ``stream2_after``
(the ``w/2`` zero-padded channels on each side in stage 2) and ``stream3_before`` /
``stream3_after`` (``w`` each in stage 3); each block's inner channels (``bn1``) form one
group each. Since channel order is preserved, the shrunk network is again an option-A
ResNet whose shortcuts pad ``(kept before, kept after)`` channels (:func:`resnet20_widths`).
"""

from __future__ import annotations

from optax_swd import ChannelGroup

from benchmarks import models


def _block(stage: int, block: int) -> str:
  return f"stage{stage + 1}_block{block + 1}"


def resnet20_topology(width: int = 16, blocks_per_stage: int = 3) -> tuple[ChannelGroup, ...]:
  """The channel groups of :class:`benchmarks.models.ResNet20` (see the module docstring)."""
  stage_width = [width * 2 ** s for s in range(3)]
  # pads[s] = (before, after) zero channels entering stage s.
  pads = [(0, 0)] + [((stage_width[s] - stage_width[s - 1]) // 2,
                      stage_width[s] - stage_width[s - 1]
                      - (stage_width[s] - stage_width[s - 1]) // 2) for s in (1, 2)]
  # Stream groups: (name, creating stage, offset in that stage, size).
  streams = [("stream1", 0, 0, width)]
  for s in (1, 2):
    before, after = pads[s]
    streams.append((f"stream{s + 1}_before", s, 0, before))
    streams.append((f"stream{s + 1}_after", s, stage_width[s] - after, after))

  def offset_in(stage_of_origin: int, offset: int, stage: int) -> int:
    for s in range(stage_of_origin + 1, stage + 1):
      offset += pads[s][0]
    return offset

  groups = []
  for name, origin, offset, size in streams:
    bns, producers, consumers = [], [], []
    if origin == 0:
      bns.append("bn")
      producers.append("conv")
    for stage in range(origin, 3):
      start = offset_in(origin, offset, stage)
      sl = lambda path: (path, start, start + size)
      for block in range(blocks_per_stage):
        bns.append(sl(f"{_block(stage, block)}/bn2"))
        producers.append(sl(f"{_block(stage, block)}/conv2"))
        # The stream after this block feeds the next block's conv1 (same stage), or
        # the first block of the next stage.
        if block + 1 < blocks_per_stage:
          consumers.append(sl(f"{_block(stage, block + 1)}/conv1"))
        elif stage + 1 < 3:
          consumers.append(sl(f"{_block(stage + 1, 0)}/conv1"))
        else:
          consumers.append(sl("fc"))
    if origin == 0:  # The stem's output feeds the first block.
      consumers.append(("stage1_block1/conv1", 0, width))
    groups.append(ChannelGroup(name, bns=tuple(bns), producers=tuple(producers),
                               consumers=tuple(consumers)))
  for stage in range(3):
    for block in range(blocks_per_stage):
      b = _block(stage, block)
      groups.append(ChannelGroup(f"{b}/inner", bns=(f"{b}/bn1",),
                                 producers=(f"{b}/conv1",), consumers=(f"{b}/conv2",)))
  return tuple(groups)


def resnet20_widths(widths: dict, width: int = 16,
                    blocks_per_stage: int = 3) -> models.ResNetWidths:
  """The :class:`benchmarks.models.ResNetWidths` of a shrunk ResNet-20.

  Args:
    widths: ``optax_swd.shrink(...).widths`` for :func:`resnet20_topology`.
    width, blocks_per_stage: as given to :func:`resnet20_topology`.
  """
  s1 = widths["stream1"]
  s2 = (widths["stream2_before"], widths["stream2_after"])
  s3 = (widths["stream3_before"], widths["stream3_after"])
  stages = (s1, s1 + sum(s2), s1 + sum(s2) + sum(s3))
  inner = tuple(widths[f"{_block(s, b)}/inner"] for s in range(3)
                for b in range(blocks_per_stage))
  return models.ResNetWidths(stages=stages, pads=((0, 0), s2, s3), inner=inner)


def lenet5_topology() -> tuple[ChannelGroup, ...]:
  """The channel groups of :class:`benchmarks.models.LeNet5` (no BatchNorm: use
  ``criterion="filter_norm"``). ``fc1`` reads the flattened ``[h, w, 16]`` map of
  ``conv2``, hence its ``every=16`` slice."""
  return (
      ChannelGroup("conv1", producers=("conv1",), consumers=("conv2",)),
      ChannelGroup("conv2", producers=("conv2",), consumers=(("fc1", 0, 16, 16),)),
      ChannelGroup("fc1", producers=("fc1",), consumers=("fc2",)),
      ChannelGroup("fc2", producers=("fc2",), consumers=("fc3",)),
  )

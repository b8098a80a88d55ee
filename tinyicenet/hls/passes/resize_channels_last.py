"""Resize in channels-last order: permute its ``scales`` from NCHW to NHWC.

qonnx's channels-last conversion moves Conv, MaxPool and BatchNorm only; it leaves a Resize in NCHW
between transposes. hls4ml's io_stream Resize is channels-last and reads ``scales`` as
``[N, H, W, C]``. Used by :class:`~tinyicenet.hls.passes.remove_transposes.RemoveLayoutTransposes`
when it moves a whole NCHW region to NHWC.
"""

from __future__ import annotations

import numpy as np
from onnx import NodeProto
from qonnx.core.modelwrapper import ModelWrapper

from tinyicenet.hls.passes._layout import TO_NHWC

SCALES_INDEX = 2


def can_resize_to_nhwc(model: ModelWrapper, node: NodeProto) -> bool:
    """True if ``node`` is a Resize with constant 4-D scales (the form hls4ml maps)."""
    if len(node.input) <= SCALES_INDEX or node.input[SCALES_INDEX] == "":
        return False
    scales = model.get_initializer(node.input[SCALES_INDEX])
    return scales is not None and np.asarray(scales).shape == (4,)


def resize_to_nhwc(model: ModelWrapper, node: NodeProto) -> None:
    """Rewrite ``node``'s NCHW scales as NHWC (a fresh initializer if the old one is shared)."""
    old = node.input[SCALES_INDEX]
    scales = np.asarray(model.get_initializer(old), dtype=np.float32)[list(TO_NHWC)]
    if len(model.find_consumers(old)) == 1:
        model.set_initializer(old, scales)
        return
    name = f"{node.name or node.output[0]}_scales_nhwc"
    model.set_initializer(name, scales)
    node.input[SCALES_INDEX] = name

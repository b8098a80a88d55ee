"""Concat in channels-last order: join on the last axis instead of axis 1.

A U-Net skip joins two streams along channels. In NCHW that is axis 1; in NHWC it is axis 3, which
hls4ml's ``concatenate3d`` streams pixel by pixel. Used by
:class:`~tinyicenet.hls.passes.remove_transposes.RemoveLayoutTransposes`.
"""

from __future__ import annotations

from onnx import NodeProto, helper
from qonnx.core.modelwrapper import ModelWrapper

NCHW_CHANNEL_AXES = (1, -3)
NHWC_CHANNEL_AXIS = 3


def _axis(node: NodeProto) -> int | None:
    for attr in node.attribute:
        if attr.name == "axis":
            return int(helper.get_attribute_value(attr))
    return None


def can_concat_to_nhwc(model: ModelWrapper, node: NodeProto) -> bool:
    """True if ``node`` concatenates 4-D NCHW tensors along channels."""
    return _axis(node) in NCHW_CHANNEL_AXES


def concat_to_nhwc(model: ModelWrapper, node: NodeProto) -> None:
    """Move ``node``'s axis from NCHW channels to NHWC channels."""
    for attr in node.attribute:
        if attr.name == "axis":
            attr.i = NHWC_CHANNEL_AXIS

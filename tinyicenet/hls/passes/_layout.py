"""Layout facts shared by the graph passes: which Transpose turns NHWC into NCHW and back."""

from __future__ import annotations

from onnx import NodeProto, helper

TO_NCHW = (0, 3, 1, 2)  # NHWC -> NCHW, inserted by qonnx before ops it cannot move to NHWC
TO_NHWC = (0, 2, 3, 1)  # NCHW -> NHWC, inserted by qonnx after them


def transpose_perm(node: NodeProto | None) -> tuple[int, ...] | None:
    """The ``perm`` of a Transpose node, or None for anything else."""
    if node is None or node.op_type != "Transpose":
        return None
    for attr in node.attribute:
        if attr.name == "perm":
            return tuple(helper.get_attribute_value(attr))
    return None

"""Refuse, with the node's name, any op that the verified hls4ml route does not map exactly."""

from __future__ import annotations

from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper

from tinyicenet.errors import ExportError

# The ops of the bit-exact route (the Brevitas/qonnx/hls4ml versions pinned in pyproject.toml,
# checked by tests/test_hls_project.py's C simulation) and what each must look like.
SUPPORTED = ("Quant", "Conv", "Relu", "MaxPool", "Resize", "Concat")
CHANNELS_LAST_DOMAIN = "qonnx.custom_op.channels_last"


def _attr(node, name, default=None):
    for attr in node.attribute:
        if attr.name == name:
            value = helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _problem(model: ModelWrapper, node) -> str | None:
    op = node.op_type
    if op not in SUPPORTED:
        return f"op {op} is not mapped by the hls4ml flow (supported: {', '.join(SUPPORTED)})"
    if op in ("Conv", "MaxPool") and node.domain != CHANNELS_LAST_DOMAIN:
        return f"{op} was not converted to channels-last"
    if op == "Conv" and int(_attr(node, "group", 1)) != 1:
        return "grouped/depthwise Conv is not part of the verified route"
    if op == "Resize":
        if _attr(node, "mode", "nearest") != "nearest":
            return f"Resize mode {_attr(node, 'mode')!r} is not exact in hls4ml (use nearest)"
        if len(node.input) != 3:
            return "Resize must use scales (3 inputs: X, roi, scales), not sizes"
        scales = model.get_initializer(node.input[2])
        if scales is None or len(scales) != 4 or scales[0] != 1 or scales[3] != 1:
            return f"Resize scales {scales} are not a channels-last spatial upsample"
    if op == "Concat" and int(_attr(node, "axis", 0)) not in (3, -1):
        return "Concat is not on the channel axis of an NHWC tensor"
    return None


def check_supported(model: ModelWrapper, source: str = "model") -> None:
    """Raise :class:`ExportError` naming the first node the flow cannot map.

    A leftover layout Transpose is only reported when no other op is at fault (it is usually
    the trace of an op that qonnx could not move to channels-last).
    """
    transposes = []
    for node in model.graph.node:
        if node.op_type == "Transpose":
            transposes.append(node)
            continue
        problem = _problem(model, node)
        if problem:
            raise ExportError(f"{source}: node {node.name or node.output[0]}: {problem}")
    for node in transposes:
        nxt = [c.op_type for c in model.find_consumers(node.output[0])]
        raise ExportError(f"{source}: a layout Transpose is left before {nxt or 'the output'}; "
                          "that op cannot run channels-last in the hls4ml flow")

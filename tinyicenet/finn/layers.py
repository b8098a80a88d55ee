"""The FINN hardware layers a cleaned QONNX TinyIceNet becomes, read from the graph.

FINN lowers each ``Conv`` to an ``MVAU`` (preceded, for k > 1, by ``FMPadding`` and a
``ConvolutionInputGenerator``), each ``MaxPool`` to ``StreamingMaxPool``, each nearest
``Resize`` to ``UpsampleNearestNeighbour``, each ``Concat`` to ``StreamingConcat``, and puts a
``DuplicateStreams`` wherever a tensor feeds two consumers (the U-Net's skips). This module
walks the QONNX graph in node order and lists those layers with the shapes folding needs; an op
FINN cannot map, a non-nearest resize or an activation wider than 8 bits is an ExportError that
names the node.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tinyicenet.errors import ExportError

#: QONNX ops the FINN route maps (Quant becomes thresholds or folds into weights).
SUPPORTED_OPS = ("Quant", "Conv", "Relu", "MaxPool", "Resize", "Concat")
#: FINN converts activation Quant nodes up to this width to MultiThreshold (its default).
MAX_ACT_BITS = 8
MAX_WEIGHT_BITS = 8


@dataclass(frozen=True)
class HwLayer:
    """One predicted FINN hardware layer."""

    op: str  # FINN op type before specialisation (MVAU, ConvolutionInputGenerator, ...)
    source: str  # QONNX node it comes from
    model_layer: str  # the model's layer name (enc0, ..., head) where known
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    channels: int  # input channels (output channels of MVAU in ``out_channels``)
    out_channels: int
    kernel: int = 1
    stream_channels: tuple[int, ...] = field(default=())  # StreamingConcat inputs

    def to_dict(self) -> dict:
        d = asdict(self)
        d["in_hw"], d["out_hw"] = list(self.in_hw), list(self.out_hw)
        d["stream_channels"] = list(self.stream_channels)
        return d


def _shape(model, tensor: str, node) -> list[int]:
    shape = model.get_tensor_shape(tensor)
    if shape is None:
        raise ExportError(f"QONNX node {node.name} ({node.op_type}): no shape for tensor "
                          f"{tensor!r}; run qonnx cleanup first")
    return [int(s) for s in shape]


def _attr(node, name: str, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _quant_bits(model, node) -> int:
    bits = model.get_initializer(node.input[3])
    if bits is None:
        raise ExportError(f"QONNX node {node.name}: bit width is not a constant")
    return int(float(bits))


def hw_layers(model, conv_names: list[str] | None = None, source: str = "model") -> list[HwLayer]:
    """FINN hardware layers of a cleaned QONNX :class:`ModelWrapper` (NCHW), in graph order.

    ``conv_names``: the model's names of the convolutions in order (from the integer
    reference); their count must match the graph's.
    """
    nodes = list(model.graph.node)
    unsupported = sorted({f"{n.op_type} ({n.name})" for n in nodes
                          if n.op_type not in SUPPORTED_OPS})
    if unsupported:
        raise ExportError(f"{source}: FINN cannot map {', '.join(unsupported)}; supported ops: "
                          f"{', '.join(SUPPORTED_OPS)}")
    initializers = {i.name for i in model.graph.initializer}
    convs = [n for n in nodes if n.op_type == "Conv"]
    if conv_names is not None and len(conv_names) != len(convs):
        raise ExportError(f"{source}: the QONNX graph has {len(convs)} convolutions, the integer "
                          f"model {len(conv_names)}")
    names = dict(zip((n.name for n in convs), conv_names or [n.name for n in convs], strict=True))

    layers: list[HwLayer] = []
    for node in nodes:
        op = node.op_type
        if op == "Quant":
            static = node.input[0] in initializers  # a weight or bias quantizer
            bits = _quant_bits(model, node)
            consumers = model.find_consumers(node.output[0]) or []
            feeds_bias = any(c.op_type == "Conv" and len(c.input) > 2
                             and c.input[2] == node.output[0] for c in consumers)
            limit = MAX_WEIGHT_BITS if static else MAX_ACT_BITS
            if bits > limit and not feeds_bias:  # biases fold into thresholds at any width
                kind = "weight" if static else "activation"
                raise ExportError(f"{source}: {kind} quantizer {node.name} is {bits} bits; FINN "
                                  f"maps at most {limit}-bit {kind}s (precision mismatch)")
            if static:
                continue
        elif op == "Conv":
            x, y = _shape(model, node.input[0], node), _shape(model, node.output[0], node)
            w = _shape(model, node.input[1], node)
            group = int(_attr(node, "group", 1))
            strides = list(_attr(node, "strides", [1, 1]))
            if group != 1 or strides != [1, 1] or w[2] != w[3]:
                raise ExportError(f"{source}: Conv {node.name} (group {group}, strides {strides}, "
                                  f"kernel {w[2]}x{w[3]}) is not a square stride-1 convolution")
            k, name = w[2], names[node.name]
            if k > 1:
                padded = (x[2] + k - 1, x[3] + k - 1)
                layers.append(HwLayer("FMPadding", node.name, name, (x[2], x[3]), padded,
                                      x[1], x[1], k))
                layers.append(HwLayer("ConvolutionInputGenerator", node.name, name, padded,
                                      (y[2], y[3]), x[1], x[1], k))
            layers.append(HwLayer("MVAU", node.name, name, (x[2], x[3]), (y[2], y[3]),
                                  x[1], y[1], k))
        elif op == "MaxPool":
            x, y = _shape(model, node.input[0], node), _shape(model, node.output[0], node)
            kernel = list(_attr(node, "kernel_shape", []))
            strides = list(_attr(node, "strides", kernel))
            if kernel != strides or len(set(kernel)) != 1:
                raise ExportError(f"{source}: MaxPool {node.name} (kernel {kernel}, strides "
                                  f"{strides}) is not square with stride = kernel")
            layers.append(HwLayer("StreamingMaxPool", node.name, "", (x[2], x[3]), (y[2], y[3]),
                                  x[1], y[1], kernel[0]))
        elif op == "Resize":
            x, y = _shape(model, node.input[0], node), _shape(model, node.output[0], node)
            mode = _attr(node, "mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else str(mode)
            if mode != "nearest" or y[2] % x[2] or y[2] // x[2] != y[3] // x[3]:
                raise ExportError(f"{source}: Resize {node.name} ({mode}, {x[2:]} -> {y[2:]}) is "
                                  "not a square integer nearest-neighbour upsample")
            layers.append(HwLayer("UpsampleNearestNeighbour", node.name, "", (x[2], x[3]),
                                  (y[2], y[3]), x[1], y[1]))
        elif op == "Concat":
            y = _shape(model, node.output[0], node)
            axis = int(_attr(node, "axis", 1))
            if axis not in (1, -3):
                raise ExportError(f"{source}: Concat {node.name} joins axis {axis}, not channels")
            parts = tuple(_shape(model, t, node)[1] for t in node.input)
            layers.append(HwLayer("StreamingConcat", node.name, "", (y[2], y[3]), (y[2], y[3]),
                                  sum(parts), y[1], stream_channels=parts))
        # a tensor read by two nodes (a skip) needs a DuplicateStreams after its producer
        for out in node.output:
            if len(model.find_consumers(out) or []) >= 2:
                s = _shape(model, out, node)
                layers.append(HwLayer("DuplicateStreams", node.name, "", (s[2], s[3]),
                                      (s[2], s[3]), s[1], s[1]))
    return layers

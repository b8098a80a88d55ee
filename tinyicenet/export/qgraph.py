"""Read the fixed-point formats of a QONNX graph's input and output quantizers.

A Brevitas fixed-point quantizer exports as a QONNX ``Quant`` node with a power-of-two scale, zero
point 0 and an integer bit width; its tensor is ``int * 2**exponent``. The hls4ml config needs the
input format exactly (``fixed<b, b + e, RND_CONV, SAT>``), and the golden files store integers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from tinyicenet_io.fixedpoint import codes as quantize_codes

from tinyicenet.errors import ExportError


@dataclass(frozen=True)
class FixedPoint:
    """A per-tensor fixed-point format: values ``int * 2**exponent``, ``bits`` wide."""

    bits: int
    exponent: int
    signed: bool
    narrow: bool = False

    @property
    def qmin(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2 ** self.bits - 1

    @property
    def integer_bits(self) -> int:
        """ap_fixed's I (includes the sign bit for signed types)."""
        return self.bits + self.exponent

    def hls_type(self, rounding: str = "RND_CONV", overflow: str = "SAT") -> str:
        """The hls4ml precision string of this format (e.g. ``fixed<8,5,RND_CONV,SAT>``)."""
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.bits},{self.integer_bits},{rounding},{overflow}>"

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float -> integers: round half to even, saturate (the Brevitas/QONNX input quantizer)."""
        return quantize_codes(x, self.exponent, self.qmin, self.qmax).astype(np.int32)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, dtype=np.float64) * 2.0 ** self.exponent).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)


def _attr(node, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            value = helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def quant_format(model: ModelWrapper, node, where: str) -> FixedPoint:
    """The :class:`FixedPoint` of a QONNX ``Quant`` node; ExportError if not power-of-two fixed."""
    scale = model.get_initializer(node.input[1])
    zero = model.get_initializer(node.input[2])
    bits = model.get_initializer(node.input[3])
    if scale is None or zero is None or bits is None:
        raise ExportError(f"{where}: quantizer {node.name} has non-constant parameters")
    scale, zero, bits = np.asarray(scale), np.asarray(zero), np.asarray(bits)
    if scale.size != 1 or zero.size != 1 or bits.size != 1:
        raise ExportError(f"{where}: quantizer {node.name} is not per-tensor (scale shape "
                          f"{scale.shape}); the hls4ml route needs per-tensor power-of-two scales")
    s = float(scale.reshape(()))
    e = math.log2(s) if s > 0 else float("nan")
    if not math.isfinite(e) or e != round(e):
        raise ExportError(f"{where}: quantizer {node.name} has scale {s!r}, not a power of two; "
                          "use the project's fixed-point quantizers")
    if float(zero.reshape(())) != 0.0:
        raise ExportError(f"{where}: quantizer {node.name} has a non-zero zero point")
    b = float(bits.reshape(()))
    if b != round(b) or b < 1:
        raise ExportError(f"{where}: quantizer {node.name} has bit width {b!r}")
    mode = _attr(node, "rounding_mode", "ROUND")
    if mode != "ROUND":
        raise ExportError(f"{where}: quantizer {node.name} rounds with {mode}, expected ROUND "
                          "(half to even)")
    return FixedPoint(bits=int(b), exponent=int(round(e)), signed=bool(_attr(node, "signed", 1)),
                      narrow=bool(_attr(node, "narrow", 0)))


def input_format(model: ModelWrapper, where: str = "model") -> FixedPoint:
    """The format of the quantizer applied to the graph input."""
    name = model.graph.input[0].name
    consumers = model.find_consumers(name)
    if len(consumers) != 1 or consumers[0].op_type != "Quant":
        raise ExportError(f"{where}: the graph input is not quantized first (found "
                          f"{[c.op_type for c in consumers]}); the model needs an input quantizer")
    return quant_format(model, consumers[0], where)


def output_format(model: ModelWrapper, where: str = "model") -> FixedPoint:
    """The format of the quantizer that produces the graph output (through layout transposes)."""
    name = model.graph.output[0].name
    node = model.find_producer(name)
    while node is not None and node.op_type in ("Transpose", "Identity"):
        node = model.find_producer(node.input[0])
    if node is None or node.op_type != "Quant":
        raise ExportError(f"{where}: the graph output is not produced by a quantizer; the head "
                          "needs an output quantizer")
    return quant_format(model, node, where)

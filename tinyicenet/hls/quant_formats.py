"""Fixed-point formats of the prepared QONNX graph: per conv, its input, weights, bias and the
narrowest accumulator that can never overflow.

hls4ml infers a conv accumulator from the 32-bit bias quantizer (``fixed<33,...>``), which makes
every adder 33 bits wide. The values are known, so the exact range is too: for output channel o,
``acc = b[o] + sum_i w[o,i] * x_i`` with integer weights and ``x_i`` in the input format's range
``[lo, hi]``, hence ``min = b + sum(min(w*lo, w*hi))`` and ``max = b + sum(max(w*lo, w*hi))``. An
accumulator with that many bits, LSB ``2**(e_in + e_w)``, holds every possible sum exactly, so
narrowing it keeps the design bit-exact (and the C simulation checks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from tinyicenet.errors import ExportError
from tinyicenet.export.qgraph import FixedPoint, quant_format

#: Ops that pass a fixed-point tensor on unchanged in format.
FORMAT_PRESERVING = ("MaxPool", "Resize", "Transpose", "Identity", "Relu")


@dataclass(frozen=True)
class ConvFormats:
    """One conv of the graph: name, role, shapes and formats."""

    name: str
    role: str
    kernel: int
    n_chan: int
    n_filt: int
    input: FixedPoint
    weight: FixedPoint
    acc_min: int
    acc_max: int

    @property
    def acc_exponent(self) -> int:
        return self.input.exponent + self.weight.exponent

    @property
    def acc_bits(self) -> int:
        """Signed bits that hold every value in [acc_min, acc_max]."""
        need = max(-self.acc_min, self.acc_max + 1, 1)
        return int(math.ceil(math.log2(need))) + 1

    def accumulator(self) -> FixedPoint:
        return FixedPoint(bits=self.acc_bits, exponent=self.acc_exponent, signed=True)

    def accumulator_type(self) -> str:
        """hls4ml precision of the accumulator (exact: no rounding, no overflow possible)."""
        return self.accumulator().hls_type("TRN", "WRAP")


def _tensor_format(model: ModelWrapper, tensor: str, where: str) -> FixedPoint:
    node = model.find_producer(tensor)
    while node is not None and node.op_type in FORMAT_PRESERVING:
        node = model.find_producer(node.input[0])
    if node is None:
        raise ExportError(f"{where}: tensor {tensor} reaches the graph input without a quantizer")
    if node.op_type == "Quant":
        return quant_format(model, node, where)
    if node.op_type == "Concat":
        formats = {_tensor_format(model, t, where) for t in node.input}
        exps = {f.exponent for f in formats}
        if len(exps) != 1:
            raise ExportError(f"{where}: Concat {node.name} joins tensors of exponents "
                              f"{sorted(exps)}; both skip branches must share one quantizer")
        signed = any(f.signed for f in formats)
        bits = max(f.bits + (1 if signed and not f.signed else 0) for f in formats)
        return FixedPoint(bits=bits, exponent=exps.pop(), signed=signed)
    raise ExportError(f"{where}: cannot tell the fixed-point format of tensor {tensor} "
                      f"(produced by {node.op_type} {node.name})")


def _int_param(model: ModelWrapper, tensor: str, where: str) -> tuple[np.ndarray, FixedPoint]:
    node = model.find_producer(tensor)
    if node is None or node.op_type != "Quant":
        raise ExportError(f"{where}: conv parameter {tensor} is not quantized")
    fmt = quant_format(model, node, where)
    value = model.get_initializer(node.input[0])
    if value is None:
        raise ExportError(f"{where}: conv parameter {tensor} is not a constant")
    return fmt.quantize(value).astype(np.int64), fmt  # what the Quant node computes


def _kernel(node) -> int:
    for attr in node.attribute:
        if attr.name == "kernel_shape":
            ks = list(attr.ints)
            if len(set(ks)) != 1:
                raise ExportError(f"conv {node.name} has a non-square kernel {ks}")
            return ks[0]
    raise ExportError(f"conv {node.name} has no kernel_shape attribute")


def conv_roles(n: int) -> list[str]:
    """Role names of the ``n`` convs of a TinyIceNet in graph order."""
    if n >= 4 and n % 2 == 0:
        levels = (n - 2) // 2
        return ([f"enc{i}" for i in range(levels)] + ["bottleneck"]
                + [f"dec{i}" for i in reversed(range(levels))] + ["head"])
    return [f"conv{i}" for i in range(n)]


def conv_formats(model: ModelWrapper, where: str = "model") -> list[ConvFormats]:
    """Formats and exact accumulator range of every conv (graph order)."""
    convs = model.get_nodes_by_op_type("Conv")
    roles = conv_roles(len(convs))
    out = []
    for node, role in zip(convs, roles):
        x = _tensor_format(model, node.input[0], where)
        w_int, w_fmt = _int_param(model, node.input[1], where)
        if len(node.input) > 2 and node.input[2]:
            b_int, b_fmt = _int_param(model, node.input[2], where)
            if b_fmt.exponent != x.exponent + w_fmt.exponent:
                raise ExportError(f"{where}: bias of {node.name} has exponent {b_fmt.exponent}, "
                                  f"not the accumulator's {x.exponent + w_fmt.exponent}")
        else:
            b_int = np.zeros(w_int.shape[0], dtype=np.int64)
        flat = w_int.reshape(w_int.shape[0], -1)
        lo, hi = x.qmin, x.qmax
        acc_min = b_int + np.minimum(flat * lo, flat * hi).sum(axis=1)
        acc_max = b_int + np.maximum(flat * lo, flat * hi).sum(axis=1)
        kernel = int(_kernel(node))
        n_chan = int(flat.shape[1] // (kernel * kernel))
        out.append(ConvFormats(name=node.name, role=role, kernel=kernel, n_chan=n_chan,
                               n_filt=int(w_int.shape[0]), input=x, weight=w_fmt,
                               acc_min=int(acc_min.min()), acc_max=int(acc_max.max())))
    return out

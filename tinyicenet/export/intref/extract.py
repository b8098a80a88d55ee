"""Extraction of the integer model from a quantized TinyIceNet (Brevitas twin)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyicenet.errors import ExportError
from tinyicenet.export.intref.arithmetic import IntLayer, IntModel, int_range


def _exp(scale: Any, what: str) -> int:
    s = float(scale.detach().reshape(-1)[0]) if hasattr(scale, "detach") else float(scale)
    if not s > 0:
        raise ExportError(f"{what}: scale {s} is not positive")
    e = math.log2(s)
    if e != round(e):
        raise ExportError(f"{what}: scale {s} is not a power of two; the integer reference "
                          "needs fixed-point (power-of-two) quantizers")
    return int(round(e))


def _acc_bound(in_bits: int, in_signed: bool, w: np.ndarray, b: np.ndarray) -> int:
    lo, hi = int_range(in_bits, in_signed)
    x_max = max(abs(lo), abs(hi))
    per_out = np.abs(w.astype(np.int64)).reshape(w.shape[0], -1).sum(axis=1)
    return int((per_out * x_max + np.abs(b.astype(np.int64))).max())


def from_brevitas(model: Any) -> IntModel:
    """Extract the integer model from a quantized TinyIceNet (Brevitas twin), in eval mode.

    The graph mirrors ``TinyIceNet.forward``; integers and exponents come from Brevitas'
    own quantizers (``quant_weight().int()``, the bias proxy, ``act_quant.scale()``).
    """
    import torch
    from brevitas.quant_tensor import IntQuantTensor

    if not getattr(model, "quantized", False):
        raise ExportError(f"model {getattr(model, 'name', '?')!r} is a float model: the integer "
                          "reference needs a quantized model (tinyicenet_w{W}a{A})")
    was_training = model.training
    model.eval()
    layers: list[IntLayer] = []
    tensors: dict[str, tuple[int, int, bool, int]] = {}

    def add(layer: IntLayer) -> str:
        layers.append(layer)
        tensors[layer.output] = (layer.out_exp, layer.out_bits, layer.out_signed, layer.channels)
        return layer.output

    def add_conv(name: str, conv: Any, act: Any, src: str) -> str:
        in_exp, in_bits, in_signed, _ = tensors[src]
        qw = conv.quant_weight()
        w_exp, w_bits = _exp(qw.scale, f"{name} weight"), int(qw.bit_width)
        w_int = qw.int().to(torch.int64).numpy()
        # a stand-in input carrying only the scale: the bias proxy reads input scale x weight scale
        inp = IntQuantTensor(torch.zeros(1, int(conv.in_channels), 1, 1),
                             torch.tensor(2.0 ** in_exp), torch.tensor(0.0),
                             torch.tensor(float(in_bits)), in_signed, False)
        qb = conv.bias_quant(conv.bias, inp, qw)
        if _exp(qb.scale, f"{name} bias") != in_exp + w_exp:
            raise ExportError(f"{name}: bias scale is not the accumulator scale 2**(e_in + e_w)")
        b_int = qb.int().to(torch.int64).numpy()
        if act is None:  # head: the conv's own output quantizer, signed
            oq = conv.output_quant
            out_exp, out_bits, relu, signed = (_exp(oq.scale(), f"{name} output"),
                                               int(oq.bit_width()), False, True)
        else:
            aq = act.act_quant
            out_exp, out_bits, relu, signed = (_exp(aq.scale(), f"{name} activation"),
                                               int(aq.bit_width()), True, False)
        if np.abs(w_int).max(initial=0) > 127 or np.abs(b_int).max(initial=0) >= 2 ** 31:
            raise ExportError(f"{name}: integer weights or bias out of int8/int32 range")
        bound = _acc_bound(in_bits, in_signed, w_int, b_int)
        k = int(conv.kernel_size[0])
        return add(IntLayer(
            name=name, op="conv", inputs=[src], output=name, out_exp=out_exp, out_bits=out_bits,
            out_signed=signed, channels=int(conv.out_channels), in_exp=in_exp, weight_exp=w_exp,
            weight_bits=w_bits, kernel=k, padding=int(conv.padding[0]), relu=relu,
            shift=out_exp - in_exp - w_exp, acc_bound=bound,
            acc_bits=int(bound).bit_length() + 1,
            weight=w_int.astype(np.int8), bias=b_int.astype(np.int32)))

    def add_same(name: str, op: str, srcs: list[str]) -> str:
        e, b, s, _ = tensors[srcs[0]]
        channels = sum(tensors[t][3] for t in srcs)
        return add(IntLayer(name=name, op=op, inputs=srcs, output=name, out_exp=e, out_bits=b,
                            out_signed=s, channels=channels))

    try:
        with torch.no_grad():
            for node in model.graph():
                if node.op == "quantize":
                    iq = node.act.act_quant
                    add(IntLayer(name=node.name, op="quantize", inputs=list(node.inputs),
                                 output=node.name, out_exp=_exp(iq.scale(), "input quantizer"),
                                 out_bits=int(iq.bit_width()), out_signed=True,
                                 channels=node.channels))
                elif node.op == "conv":
                    add_conv(node.name, node.module, node.act, node.inputs[0])
                else:
                    add_same(node.name, node.op, list(node.inputs))
    finally:
        model.train(was_training)
    facts = {"name": model.name, "in_channels": model.in_channels, "widths": list(model.widths),
             "charts": list(model.charts), "num_classes": list(model.num_classes),
             "skips": model.skips, "stride": model.stride, "bit_widths": model.bit_widths}
    if getattr(model, "precision", None) is not None:
        facts["precision"] = model.precision.to_dict()
    return IntModel(layers=layers, model=facts)

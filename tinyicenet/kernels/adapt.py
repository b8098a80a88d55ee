"""The integer reference model (:class:`tinyicenet.export.intref.IntModel`) -> kernel IntNet.

The kernels implement TinyIceNet's topology (encoder convs with pools, bottleneck, decoder
convs reading ``[upsampled, skip]``, 1x1 head); this reads the reference's layer graph,
checks that it is that topology wiring for wiring, and collects integers and exponents.
Anything else is an ExportError naming the layer, never a silent misreading.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyicenet.errors import ExportError
from tinyicenet.kernels.plan import IntConv, IntNet


def _range(bits: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def from_intref(model: Any) -> IntNet:
    """Describe an ``IntModel`` for the kernels (raises ExportError if its graph differs)."""
    layers = {lay.name: lay for lay in getattr(model, "layers", [])}
    if not layers or "input" not in layers or "head" not in layers:
        raise ExportError("integer model: expected an IntModel with 'input' ... 'head' layers, "
                          f"got {type(model).__name__}")
    facts = model.model
    skips = bool(facts["skips"])
    levels = len(facts["widths"]) - 1

    def layer(name: str, op: str, inputs: list[str]) -> Any:
        lay = layers.get(name)
        if lay is None or lay.op != op or list(lay.inputs) != inputs:
            got = None if lay is None else (lay.op, list(lay.inputs))
            raise ExportError(f"integer model: layer {name!r} should be {op} of {inputs}, "
                              f"got {got}; the GPU kernels implement TinyIceNet's topology only")
        return lay

    def tensor_range(name: str) -> tuple[int, int]:
        t = model.tensors[name]
        return _range(int(t["bits"]), bool(t["signed"]))

    def conv(name: str, src: str, in_range_of: str) -> IntConv:
        lay = layer(name, "conv", [src])
        lo, hi = _range(int(lay.out_bits), bool(lay.out_signed))
        in_lo, in_hi = tensor_range(in_range_of)
        c = IntConv(weight=np.asarray(lay.weight, dtype=np.int64),
                    bias=np.asarray(lay.bias, dtype=np.int64), e_in=int(lay.in_exp),
                    e_w=int(lay.weight_exp), e_out=int(lay.out_exp), lo=lo, hi=hi,
                    in_lo=in_lo, in_hi=in_hi)
        if lay.shift is not None and int(lay.shift) != -c.shift:
            raise ExportError(f"integer model: layer {name!r} shift {lay.shift} disagrees with "
                              "its exponents")
        if lay.kernel != c.kernel or lay.padding != c.kernel // 2:
            raise ExportError(f"integer model: layer {name!r} is not a 'same' {c.kernel}x"
                              f"{c.kernel} conv")
        return c

    inp = layer("input", "quantize", ["x"])
    enc = []
    src = "input"
    for i in range(levels):
        enc.append(conv(f"enc{i}", src, src))
        layer(f"pool{i}", "maxpool", [f"enc{i}"])
        src = f"pool{i}"
    bott = conv("bottleneck", src, src)
    dec: list[IntConv] = [None] * levels  # type: ignore[list-item]
    prev = "bottleneck"
    for i in reversed(range(levels)):
        layer(f"up{i}", "upsample", [prev])
        src = f"up{i}"
        if skips:
            layer(f"cat{i}", "concat", [f"up{i}", f"enc{i}"])
            if model.tensors[f"up{i}"]["exp"] != model.tensors[f"enc{i}"]["exp"] or \
                    tensor_range(f"up{i}") != tensor_range(f"enc{i}"):
                raise ExportError(f"integer model: cat{i} joins tensors of different "
                                  "exponents or ranges")
            src = f"cat{i}"
        dec[i] = conv(f"dec{i}", src, f"up{i}")
        prev = f"dec{i}"
    head = conv("head", "dec0", "dec0")
    expected = 3 + 2 * levels + levels * (3 if skips else 2)
    if len(model.layers) != expected:
        extra = sorted(set(layers) - _expected_names(levels, skips))
        raise ExportError(f"integer model: {len(model.layers)} layers where TinyIceNet has "
                          f"{expected}; unexpected: {extra}")
    lo, hi = _range(int(inp.out_bits), True)
    return IntNet(in_channels=int(facts["in_channels"]), input_exp=int(inp.out_exp),
                  input_lo=lo, input_hi=hi, encoder=tuple(enc), bottleneck=bott,
                  decoder=tuple(dec), head=head, output_exp=int(layers["head"].out_exp),
                  skips=skips, name=str(facts.get("name", "tinyicenet")),
                  num_classes=tuple(int(k) for k in facts.get("num_classes", [head.cout])))


def _expected_names(levels: int, skips: bool) -> set[str]:
    names = {"input", "bottleneck", "head"}
    for i in range(levels):
        names |= {f"enc{i}", f"pool{i}", f"up{i}", f"dec{i}"} | ({f"cat{i}"} if skips else set())
    return names

"""Model summary: parameters, MACs, activation, skip-buffer and weight memory per layer.

Memory is in bits at the model's precision (each tensor at its quantizer's bits, each conv's
weights at its own weight bits, biases 32 bits; the float model counts 32 bits everywhere), for
one tile.
``skip_bits`` is what an encoder output costs while it waits for its concatenation: on the
FPGA that is the FIFO (or buffer) of the skip branch, the main on-chip memory cost of a U-Net.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tinyicenet.errors import ConfigError
from tinyicenet.models.precision import precision_label
from tinyicenet.models.tinyicenet import TinyIceNet

FLOAT_BITS = 32
BIAS_BITS = 32


@dataclass
class LayerSummary:
    name: str
    op: str
    shape: tuple[int, int, int]  # output C, H, W
    params: int
    macs: int
    act_bits: int  # output tensor size in bits
    weight_bits: int  # weights + biases in bits
    skip_bits: int  # bits held for a later concatenation (0 if none)
    bits: int  # bit width of the output tensor's elements


@dataclass
class ModelSummary:
    name: str
    tile: int
    widths: list[int]
    charts: list[str]
    skips: bool
    bit_widths: dict[str, int] | None
    layers: list[LayerSummary] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        return {"params": sum(r.params for r in self.layers),
                "macs": sum(r.macs for r in self.layers),
                "act_bits": sum(r.act_bits for r in self.layers),
                "peak_act_bits": self.peak_act_bits,
                "weight_bits": sum(r.weight_bits for r in self.layers),
                "skip_bits": sum(r.skip_bits for r in self.layers)}

    @property
    def peak_act_bits(self) -> int:
        """Largest live activation set (layer input(s) + output + pending skips), layer by layer."""
        by_name = {r.name: r for r in self.layers}
        pending: list[str] = []
        peak = 0
        for r, inputs in zip(self.layers, self._inputs):
            live = sum(by_name[i].act_bits for i in inputs if i in by_name)
            live += r.act_bits + sum(by_name[s].act_bits for s in pending if s not in inputs)
            peak = max(peak, live)
            pending = [s for s in pending if s not in inputs]
            if r.skip_bits:
                pending.append(r.name)
        return peak

    _inputs: list[list[str]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.name, "tile": [self.tile, self.tile], "widths": self.widths,
                "charts": self.charts, "skips": self.skips, "bit_widths": self.bit_widths,
                "layers": [asdict(r) | {"shape": list(r.shape)} for r in self.layers],
                "totals": self.totals}


def summarize(model: TinyIceNet, tile: int = 256) -> ModelSummary:
    """Per-layer and total costs of ``model`` for one ``tile`` x ``tile`` input."""
    if tile < model.stride or tile % model.stride:
        raise ConfigError(f"tile {tile} is not a positive multiple of the model stride "
                          f"{model.stride}")
    bw = model.bit_widths
    prec = getattr(model, "precision", None)
    tensor_bits: dict[str, int] = {}
    summary = ModelSummary(model.name, tile, list(model.widths), list(model.charts), model.skips,
                           dict(bw) if bw else None)
    skip_sources = {n.inputs[1] for n in model.graph() if n.op == "concat"}
    for node in model.graph():
        side = tile // 2 ** node.level
        if node.op == "quantize":
            bits = prec.input if prec else FLOAT_BITS
        elif node.op == "conv":
            bits = prec.act_bits(node.name) if prec else FLOAT_BITS
        else:
            bits = tensor_bits[node.inputs[0]]
        tensor_bits[node.name] = bits
        params = macs = weight_bits = 0
        if node.op == "conv":
            conv = node.module
            k = conv.kernel_size[0] * conv.kernel_size[1]
            n_w = conv.out_channels * conv.in_channels * k
            params = n_w + conv.out_channels
            macs = n_w * side * side
            w_bits = prec.weight_bits(node.name) if prec else FLOAT_BITS
            weight_bits = n_w * w_bits + conv.out_channels * (BIAS_BITS if prec else FLOAT_BITS)
        act_bits = node.channels * side * side * bits
        summary.layers.append(LayerSummary(
            node.name, node.op, (node.channels, side, side), params, macs, act_bits, weight_bits,
            act_bits if node.name in skip_sources else 0, bits))
        summary._inputs.append(list(node.inputs))
    return summary


def format_bits(bits: int) -> str:
    """Human units: bits -> 'x.xx Mbit' / 'kbit' / 'bit'."""
    for unit, div in (("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3)):
        if bits >= div:
            return f"{bits / div:.2f} {unit}"
    return f"{bits} bit"


def format_count(n: int) -> str:
    """Human count: 18874368 -> '18.87 M'."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return str(n)


def render_table(summary: ModelSummary) -> Any:
    """A rich Table of the summary."""
    from rich.table import Table

    prec = (f"{precision_label(summary.bit_widths)} "
            f"(input {summary.bit_widths['input']}, logits {summary.bit_widths['output']} bit)"
            if summary.bit_widths else "float32")
    table = Table(title=f"{summary.name}: {summary.tile}x{summary.tile} tile, {prec}")
    for col in ("layer", "op", "CxHxW", "bits", "params", "MACs", "act", "skip", "weights"):
        table.add_column(col, justify="left" if col in ("layer", "op") else "right")
    for r in summary.layers:
        table.add_row(r.name, r.op, "x".join(map(str, r.shape)), str(r.bits),
                      f"{r.params:,}" if r.params else "", format_count(r.macs) if r.macs else "",
                      format_bits(r.act_bits), format_bits(r.skip_bits) if r.skip_bits else "",
                      format_bits(r.weight_bits) if r.weight_bits else "")
    t = summary.totals
    table.add_section()
    table.add_row("total", "", "", "", f"{t['params']:,}", format_count(t["macs"]),
                  format_bits(t["act_bits"]), format_bits(t["skip_bits"]),
                  format_bits(t["weight_bits"]))
    table.caption = (f"act = output tensor, skip = held for a concatenation, weights include "
                     f"biases; peak live activations {format_bits(t['peak_act_bits'])}; "
                     f"{t['macs'] / summary.tile ** 2:,.0f} MACs per pixel")
    return table

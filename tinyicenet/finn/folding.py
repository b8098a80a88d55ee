"""Folding (PE/SIMD per FINN layer) from a target frame rate, with FINN's constraints.

FINN's cycle model for a dataflow layer (its ``get_exp_cycles``): an MVAU computing an
``H x W`` output from ``MW = k*k*Cin`` inputs to ``MH = Cout`` outputs takes
``H*W * (MW/SIMD) * (MH/PE)`` cycles; the sliding-window generator and padding stream
``Cin/SIMD`` words per pixel; max-pool, duplicate and concat layers stream ``C/PE`` (or
``C/SIMD``) words per pixel. Constraints: ``PE | MH``; ``SIMD | Cin`` (the window generator
and padding share the MVAU's SIMD and must divide the input channels); a concat's SIMD divides
every input's channels. For each layer the smallest parallelism meeting ``f_clk / fps`` is chosen
(ties: larger SIMD, as FINN's SetFolding raises SIMD first); a layer that cannot reach it even
fully unfolded gets full parallelism and is flagged, and the estimate says what rate follows.
"""

from __future__ import annotations

import math

from tinyicenet.errors import ConfigError
from tinyicenet.finn.layers import HwLayer

#: FINN op -> implementation style pinned in specialize_layers.json (so node names are known)
IMPL_STYLE = {"MVAU": "hls", "ConvolutionInputGenerator": "rtl", "FMPadding": "rtl",
              "StreamingMaxPool": "hls", "UpsampleNearestNeighbour": "hls",
              "StreamingConcat": "hls", "DuplicateStreams": "hls"}


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _pixels(hw) -> int:
    return int(hw[0]) * int(hw[1])


def fold_mvau(layer: HwLayer, target: float) -> tuple[dict, int]:
    """``({"PE", "SIMD"}, cycles)`` for an MVAU: smallest PE*SIMD with cycles <= target."""
    mw, mh, px = layer.kernel ** 2 * layer.channels, layer.out_channels, _pixels(layer.out_hw)
    best = None
    for simd in divisors(layer.channels):
        for pe in divisors(mh):
            cycles = px * (mw // simd) * (mh // pe)
            key = (cycles > target, pe * simd if cycles <= target else -pe * simd, -simd)
            if best is None or key < best[0]:
                best = (key, pe, simd, cycles)
    _, pe, simd, cycles = best
    return {"PE": pe, "SIMD": simd}, cycles


def _fold_stream(channels: int, pixels: int, target: float, key: str) -> tuple[dict, int]:
    for p in divisors(channels):
        cycles = pixels * (channels // p)
        if cycles <= target:
            return {key: p}, cycles
    return {key: channels}, pixels


def plan_folding(layers: list[HwLayer], target_fps: float, clk_ns: float) -> dict:
    """Folding for every layer: config entries, a per-layer table and the estimated rate."""
    if not target_fps > 0 or not clk_ns > 0:
        raise ConfigError(f"FINN folding: target fps ({target_fps}) and clock period ({clk_ns} ns) "
                          "must be positive")
    f_clk = 1e9 / clk_ns
    target = f_clk / target_fps
    counters: dict[str, int] = {}
    simd_of: dict[str, int] = {}
    # the MVAU decides SIMD for its padding and window generator: fold MVAUs first
    for layer in layers:
        if layer.op == "MVAU":
            attrs, _ = fold_mvau(layer, target)
            simd_of[layer.source] = attrs["SIMD"]
    config: dict[str, dict] = {"Defaults": {}}
    table = []
    for layer in layers:
        index = counters.get(layer.op, 0)
        counters[layer.op] = index + 1
        name = f"{layer.op}_{IMPL_STYLE[layer.op]}_{index}"
        if layer.op == "MVAU":
            attrs, cycles = fold_mvau(layer, target)
            attrs.update(ram_style="auto", resType="auto", mem_mode="internal_decoupled")
        elif layer.op in ("FMPadding", "ConvolutionInputGenerator"):
            simd = simd_of[layer.source]
            attrs = {"SIMD": simd}
            cycles = _pixels(layer.out_hw) * layer.kernel ** 2 * (layer.channels // simd) \
                if layer.op == "ConvolutionInputGenerator" else \
                _pixels(layer.out_hw) * (layer.channels // simd)
        elif layer.op == "StreamingMaxPool":
            attrs, cycles = _fold_stream(layer.channels, _pixels(layer.in_hw), target, "PE")
        elif layer.op == "DuplicateStreams":
            attrs, cycles = _fold_stream(layer.channels, _pixels(layer.in_hw), target, "PE")
        elif layer.op == "StreamingConcat":
            common = math.gcd(*layer.stream_channels)
            attrs, cycles = None, None
            for simd in divisors(common):
                cycles = _pixels(layer.out_hw) * (layer.channels // simd)
                attrs = {"SIMD": simd}
                if cycles <= target:
                    break
        else:  # UpsampleNearestNeighbour: one pixel (all channels) per cycle, nothing to fold
            attrs, cycles = {}, _pixels(layer.out_hw)
        if attrs:
            config[name] = dict(attrs)
        table.append({"finn_name": name, **layer.to_dict(), "folding": attrs, "cycles": int(cycles),
                      "meets_target": bool(cycles <= target)})
    slowest = max(table, key=lambda row: row["cycles"])
    return {
        "config": config,
        "layers": table,
        "target_fps": target_fps,
        "clk_ns": clk_ns,
        "target_cycles": target,
        "max_cycles": slowest["cycles"],
        "bottleneck": slowest["finn_name"],
        "estimated_fps": f_clk / slowest["cycles"],
        "meets_target": all(row["meets_target"] for row in table),
    }

"""LUT, FF, DSP and BRAM of an hls4ml io_stream design, per layer and per FIFO (modelled).

A first-order model of what Vitis HLS builds from hls4ml 1.3.0's ``nnet_utils`` for the layers of
this project; every rule is in :data:`ASSUMPTIONS` and every figure it gives is ``modelled``. When
Vitis/Vivado reports exist, :mod:`tinyicenet.hls.reports` reads the real numbers instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tinyicenet.hls.model.graph import StreamLayer
from tinyicenet.hls.model.schedule import Schedule

#: A product goes to LUTs when an operand is this narrow or both together are this narrow.
FABRIC_MIN_OPERAND_BITS = 4
FABRIC_MAX_SUM_BITS = 10
#: Control logic of one dataflow process (loop counters, handshakes).
PROCESS_LUT, PROCESS_FF = 150, 200
#: FIFOs up to this depth are shift registers (SRL32) in LUTs.
SRL_MAX_DEPTH = 32
#: FIFOs up to this many bits are LUTRAM (64 x 1 per LUT), bigger ones BRAM.
LUTRAM_MAX_BITS = 16384
#: Weight ROMs with fewer words than this (ReuseFactor) are LUT ROMs (64 x 1 per LUT).
ROM_BRAM_MIN_DEPTH = 64
#: BRAM18 aspect ratios: max depth -> width (UG573, simple dual port).
BRAM18_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))

ASSUMPTIONS = [
    "multiplier: Resource strategy instantiates ceil(n_in * n_out / ReuseFactor) multipliers per "
    "conv (hls4ml's block factor); a product with an operand <= "
    f"{FABRIC_MIN_OPERAND_BITS} bits or operands summing to <= {FABRIC_MAX_SUM_BITS} bits is "
    "built in LUTs (about b_w * b_a / 2 + b_w + b_a LUT6), wider ones use one DSP48E2 (two "
    "above 27 x 18 bits)",
    "accumulation: one adder of the accumulator width per multiplier (1 LUT per bit) and one "
    "register per output channel",
    "weights: a ROM of ReuseFactor words x (multipliers * weight bits); BRAM when ReuseFactor >= "
    f"{ROM_BRAM_MIN_DEPTH} words, LUT ROM (64 x 1 per LUT) otherwise",
    "line buffers (conv K-1 rows, pool P-1 rows, per channel, hls4ml ap_shift_reg) are SRL32 "
    "shift registers: ceil(width / 32) LUTs per bit",
    "nearest upsample keeps one input row in registers (W * C * bits FF)",
    f"stream FIFO of depth D and width w bits: SRL (w * ceil(D/32) LUT) for D <= {SRL_MAX_DEPTH}, "
    f"LUTRAM (w * ceil(D/64) LUT) up to {LUTRAM_MAX_BITS} bits, else BRAM18 in the best aspect "
    "ratio (512x36 ... 16Kx1); BRAM36 = 2 BRAM18",
    f"each dataflow process adds {PROCESS_LUT} LUT and {PROCESS_FF} FF of control; "
    "elementwise layers (ReLU/requantise, padding, clone, concatenation) cost 1 LUT and 1 FF per "
    "bit of a pixel",
    "the AXI-stream shell, DMA and interconnect are not counted (the board flow adds them)",
]


@dataclass
class Cost:
    lut: float = 0.0
    ff: float = 0.0
    dsp: float = 0.0
    bram18: float = 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.lut + other.lut, self.ff + other.ff, self.dsp + other.dsp,
                    self.bram18 + other.bram18)

    @property
    def bram36(self) -> float:
        return self.bram18 / 2

    def to_dict(self) -> dict:
        return {"lut": round(self.lut), "ff": round(self.ff), "dsp": round(self.dsp),
                "bram36": self.bram36}


def multiplier_cost(weight_bits: int, act_bits: int) -> Cost:
    """One multiplier of a ``weight_bits`` x ``act_bits`` product."""
    lo, hi = sorted((weight_bits, act_bits))
    if lo <= FABRIC_MIN_OPERAND_BITS or lo + hi <= FABRIC_MAX_SUM_BITS:
        return Cost(lut=math.ceil(lo * hi / 2) + lo + hi)
    return Cost(dsp=1 if (hi <= 27 and lo <= 18) else 2)


def bram18_blocks(depth: int, width: int) -> int:
    """BRAM18 blocks for a ``depth`` x ``width`` memory in the best aspect ratio."""
    best = None
    for max_depth, port_width in BRAM18_SHAPES:
        n = math.ceil(width / port_width) * math.ceil(depth / max_depth)
        best = n if best is None else min(best, n)
    return int(best)


def memory_cost(depth: int, width: int) -> tuple[Cost, str]:
    """A FIFO of ``depth`` words of ``width`` bits: its cost and the kind of memory."""
    if depth <= SRL_MAX_DEPTH:
        return Cost(lut=width * math.ceil(depth / 32), ff=width), "srl"
    if depth * width <= LUTRAM_MAX_BITS:
        return Cost(lut=width * math.ceil(depth / 64), ff=width), "lutram"
    return Cost(bram18=bram18_blocks(depth, width), lut=2 * width, ff=width), "bram"


def layer_cost(layer: StreamLayer) -> Cost:
    """Logic and local memories of one process (FIFOs are counted separately)."""
    cost = Cost(lut=PROCESS_LUT, ff=PROCESS_FF)
    h, w, c = layer.in_shape
    in_bits = layer.in_bits[0] if layer.in_bits else layer.out_bits
    if layer.kind in ("conv", "pointwise"):
        mults = layer.multipliers
        m = multiplier_cost(layer.weight_bits or 8, in_bits)
        acc = layer.accum_bits or 32
        cost += Cost(lut=mults * (m.lut + acc), ff=layer.n_out * acc + mults * (
            layer.weight_bits + in_bits), dsp=mults * m.dsp)
        rf = max(1, layer.reuse_factor)
        rom_width = mults * (layer.weight_bits or 8)
        if rf >= ROM_BRAM_MIN_DEPTH:
            cost += Cost(bram18=bram18_blocks(rf, rom_width))
        else:
            cost += Cost(lut=rom_width * math.ceil(rf / 64))
        if layer.kind == "conv" and layer.kernel > 1:
            cost += Cost(lut=(layer.kernel - 1) * c * in_bits * math.ceil(w / 32))
            cost += Cost(ff=layer.kernel * layer.kernel * c * in_bits)  # the window registers
    elif layer.kind == "pool":
        cost += Cost(lut=(layer.pool - 1) * c * in_bits * math.ceil(w / 32) + c * in_bits,
                     ff=layer.pool * layer.pool * c * in_bits)
    elif layer.kind == "resize":
        cost += Cost(ff=w * c * in_bits, lut=c * in_bits)
    elif layer.kind in ("elementwise", "pad", "clone", "concat"):
        bits = layer.out_shape[2] * layer.out_bits
        cost += Cost(lut=bits, ff=bits)
    return cost


@dataclass
class FifoEstimate:
    name: str
    depth: int
    width_bits: int
    memory: str
    cost: Cost
    default_depth: int  # hls4ml's default: the whole tensor

    def to_dict(self) -> dict:
        return {"name": self.name, "depth": self.depth, "width_bits": self.width_bits,
                "memory": self.memory, "default_depth": self.default_depth,
                **self.cost.to_dict()}


@dataclass
class DesignResources:
    """Modelled resources of a design with its FIFO depths."""

    layers: dict[str, Cost]
    fifos: list[FifoEstimate]
    total: Cost
    default_fifo_bram36: float  # BRAM36 the FIFOs would take at hls4ml's default depths
    capacity: dict[str, float] = field(default_factory=dict)

    def utilisation(self) -> dict[str, float]:
        t = self.total.to_dict()
        return {k: t[k] / self.capacity[k] for k in ("lut", "ff", "dsp", "bram36")
                if self.capacity.get(k)}

    def fits(self, limits: dict[str, float]) -> bool:
        """True if every resource is within ``limits`` (fractions of the capacity)."""
        use = self.utilisation()
        return all(use.get(k, 0.0) <= limits.get(k, 1.0) for k in use)

    def to_dict(self) -> dict:
        return {"total": self.total.to_dict(), "capacity": dict(self.capacity),
                "utilisation": {k: round(v, 4) for k, v in self.utilisation().items()},
                "default_fifo_bram36": self.default_fifo_bram36,
                "layers": {n: c.to_dict() for n, c in self.layers.items()},
                "fifos": [f.to_dict() for f in self.fifos]}


def estimate_resources(layers: list[StreamLayer], sched: Schedule,
                       capacity: dict[str, float] | None = None) -> DesignResources:
    """Resources of ``layers`` with the FIFO depths of ``sched``."""
    per_layer = {layer.name: layer_cost(layer) for layer in layers}
    fifos, default_bram18 = [], 0.0
    for name, depth in sched.fifo_depths().items():
        st = sched.streams[name]
        cost, kind = memory_cost(depth, st.width_bits)
        fifos.append(FifoEstimate(name, depth, st.width_bits, kind, cost, st.pixels))
        default_bram18 += memory_cost(st.pixels, st.width_bits)[0].bram18
    total = Cost()
    for c in per_layer.values():
        total += c
    for f in fifos:
        total += f.cost
    return DesignResources(per_layer, fifos, total, default_bram18 / 2, dict(capacity or {}))

"""Choose reuse factors and a tile size that fit the device and maximise modelled fps.

For one tile size: every conv whose reuse factor is ``auto`` gets the largest valid reuse factor
(hls4ml's rule) that keeps its modelled cycles under a common budget ``T``; the smallest ``T``
whose design fits the device's utilisation limits is found by bisection (a larger budget never
needs more multipliers). Convs with a fixed reuse factor keep it (as hls4ml moves it). The design
at that budget is then timed with its FIFOs sized (:mod:`tinyicenet.hls.model.schedule`). Over the
candidate tile sizes the plan with the highest 256x256-equivalent fps that fits wins, the larger
tile on ties (less halo overhead). Every figure is *modelled* (see :data:`ASSUMPTIONS`).
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass, field
from typing import Any

from qonnx.core.modelwrapper import ModelWrapper

from tinyicenet.errors import ExportError
from tinyicenet.hls.board import Board
from tinyicenet.hls.convert import ConvSetting, convert, hls_config
from tinyicenet.hls.model import ASSUMPTIONS as MODEL_ASSUMPTIONS
from tinyicenet.hls.model.graph import StreamLayer, layers_from_hls_model
from tinyicenet.hls.model.resources import DesignResources, estimate_resources
from tinyicenet.hls.model.schedule import (LATENCY_PIPELINE_DEPTH, RESOURCE_DENSE_OVERHEAD,
                                           RESOURCE_SHIFT_CYCLES, Schedule, schedule)
from tinyicenet.hls.quant_formats import ConvFormats
from tinyicenet.hls.settings import HlsSettings
from tinyicenet.power import PowerEstimate
from tinyicenet.power import estimate as estimate_power

REFERENCE_TILE = 256
TARGET_FPS_256 = 30.0
#: The board flow (boards/zcu102) runs the driver and the AXI DMA on the PS, so the headline
#: energy includes it; the PL-only figures are recorded beside it.
ENERGY_INCLUDES_PS = True
ENERGY_ASSUMPTION = (
    "energy per tile = P / tiles per second, P from the power model tinyicenet.power "
    "(XCZU9EG PL static + dynamic from this design's modelled LUT/FF/BRAM/DSP at its clock + "
    "the PS running driver and DMA), nominal with a (low, high) range; the AXI shell and DMA "
    "logic are not in the resource model, so their PL power is missing; a measurement on the "
    "board's INA226 rails (boards/zcu102) replaces it")
ASSUMPTIONS = MODEL_ASSUMPTIONS + [
    "256x256-equivalent fps = tiles per second x (tile / 256)^2 (halo overhead not counted)",
    ENERGY_ASSUMPTION,
]


def design_power(resources: DesignResources, clock_mhz: float, *,
                 include_ps: bool = ENERGY_INCLUDES_PS) -> PowerEstimate:
    """The power model's estimate for a design's modelled resources at ``clock_mhz``."""
    t = resources.total
    return estimate_power({"lut": t.lut, "ff": t.ff, "dsp": t.dsp, "bram18": t.bram18},
                          clock_mhz, part="xczu9eg", include_ps=include_ps)


def energy_record(power: PowerEstimate, tiles_per_s: float, fps_256: float) -> dict[str, Any]:
    """Modelled energy per tile (mJ) from ``power`` at ``tiles_per_s``: nominal, range, parts."""
    def mj(w: float, rate: float) -> float:
        return 1e3 * w / rate

    return {
        "power_w": power.nominal,
        "power_w_range": {"low": power.low, "high": power.high},
        "idle_power_w": power.idle.nominal,
        "pl_power_w": power.pl.to_dict(),
        "ps_power_w": power.ps.to_dict(),
        "includes_ps": power.include_ps,
        "energy_mj_per_tile": mj(power.nominal, tiles_per_s),
        "energy_mj_per_tile_range": {"low": mj(power.low, tiles_per_s),
                                     "high": mj(power.high, tiles_per_s)},
        "energy_mj_per_tile_pl_only": {k: mj(v, tiles_per_s)
                                       for k, v in power.pl.to_dict().items()},
        "energy_mj_per_256_tile": mj(power.nominal, fps_256),
        "energy_mj_per_256_tile_range": {"low": mj(power.low, fps_256),
                                         "high": mj(power.high, fps_256)},
        "energy_model": power.model,
        "power_model": power.to_dict(),
        "assumption": ENERGY_ASSUMPTION,
    }


def hls_layer_to_onnx(name: str) -> str:
    """hls4ml names a converted ONNX conv ``Conv2D_<onnx name>``."""
    return name[len("Conv2D_"):] if name.startswith("Conv2D_") else name


@functools.lru_cache(maxsize=256)
def valid_reuse_factors(n_in: int, n_out: int) -> tuple[int, ...]:
    """hls4ml's valid reuse factors for a dense of ``n_in`` x ``n_out``."""
    from hls4ml.backends import get_backend

    return tuple(get_backend("Vitis").get_valid_reuse_factors(n_in, n_out))


def conv_cycles(layer: StreamLayer, rf: int) -> int:
    """Modelled cycles of a conv process at reuse factor ``rf`` (schedule's step model)."""
    h, w, _ = layer.in_shape
    if layer.kind == "pointwise":
        per = rf if layer.strategy == "latency" else rf + RESOURCE_DENSE_OVERHEAD
        return h * w * per
    k = layer.kernel
    valid = (h - k + 1) * (w - k + 1)
    if layer.strategy == "latency":
        return h * w * rf + LATENCY_PIPELINE_DEPTH
    return valid * (rf + RESOURCE_DENSE_OVERHEAD) + (h * w - valid) * RESOURCE_SHIFT_CYCLES


@dataclass
class LayerChoice:
    """What the plan does with one conv."""

    onnx_name: str
    hls_name: str
    role: str
    strategy: str
    requested: int | str
    reuse_factor: int
    n_in: int
    n_out: int
    multipliers: int
    cycles: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DesignPlan:
    """One modelled design: tile, per-conv choices, schedule and resources."""

    tile: int
    clock_mhz: float
    choices: list[LayerChoice]
    schedule: Schedule
    resources: DesignResources
    limits: dict[str, float]
    layers: list[StreamLayer] = field(repr=False, default_factory=list)

    @property
    def latency_cycles(self) -> int:
        return self.schedule.latency_cycles

    @property
    def tiles_per_s(self) -> float:
        return self.clock_mhz * 1e6 / self.latency_cycles

    @property
    def fps_256(self) -> float:
        return self.tiles_per_s * (self.tile / REFERENCE_TILE) ** 2

    @property
    def fits(self) -> bool:
        return self.resources.fits(self.limits)

    def conv_settings(self) -> dict[str, ConvSetting]:
        return {c.onnx_name: ConvSetting(c.strategy, c.reuse_factor) for c in self.choices}

    def fifo_depths(self) -> dict[str, int]:
        return self.schedule.fifo_depths()

    def to_dict(self) -> dict[str, Any]:
        tile_s = 1.0 / self.tiles_per_s
        return {
            "provenance": "modelled",
            "tile": [self.tile, self.tile],
            "clock_mhz": self.clock_mhz,
            "cycles_per_tile": self.latency_cycles,
            "cycles_per_tile_unbounded_fifos": self.schedule.unbounded_latency_cycles,
            "throughput_bound_cycles": self.schedule.throughput_bound_cycles,
            "tiles_per_s": self.tiles_per_s,
            "latency_ms": 1e3 * tile_s,
            "fps_256_equivalent": self.fps_256,
            "target_fps_256": TARGET_FPS_256,
            "meets_target": bool(self.fits and self.fps_256 >= TARGET_FPS_256),
            "fits": self.fits,
            "utilisation_limit": dict(self.limits),
            "energy": energy_record(design_power(self.resources, self.clock_mhz),
                                    self.tiles_per_s, self.fps_256),
            "layers": [c.to_dict() for c in self.choices],
            "process_cycles": self.schedule.process_cycles,
            "resources": self.resources.to_dict(),
            "assumptions": list(ASSUMPTIONS),
        }


def _stream_layers(prepared: ModelWrapper, formats: list[ConvFormats], settings: HlsSettings,
                   board: Board) -> tuple[list[StreamLayer], dict[str, ConvSetting]]:
    """Convert once (reuse factor 1 for ``auto``) to read the design's layer list."""
    asked = {}
    for conv in formats:
        s = settings.for_role(conv.role)
        asked[conv.name] = ConvSetting(s.strategy, 1 if s.auto else int(s.reuse_factor))
    config = hls_config(prepared, formats, asked)
    with tempfile.TemporaryDirectory(prefix="tinyicenet-plan-") as tmp:
        hls_model = convert(prepared, config, board, tmp)
        return layers_from_hls_model(hls_model), asked


def plan_tile(prepared: ModelWrapper, formats: list[ConvFormats], settings: HlsSettings,
              board: Board, tile: int) -> DesignPlan:
    """The fastest design at ``tile`` that fits (or the smallest one, marked not fitting)."""
    layers, _ = _stream_layers(prepared, formats, settings, board)
    by_onnx = {hls_layer_to_onnx(lay.name): lay for lay in layers
               if lay.kind in ("conv", "pointwise")}
    roles = {c.name: c.role for c in formats}
    auto: dict[str, tuple[int, ...]] = {}
    requested: dict[str, int | str] = {}
    for conv in formats:
        lay = by_onnx.get(conv.name)
        if lay is None:
            raise ExportError(f"hls4ml produced no conv layer for {conv.name}")
        s = settings.for_role(conv.role)
        requested[conv.name] = s.reuse_factor
        if s.auto:
            auto[conv.name] = valid_reuse_factors(lay.n_in, lay.n_out)
    budgets = sorted({conv_cycles(by_onnx[n], rf) for n, rfs in auto.items() for rf in rfs})
    floor = max([conv_cycles(lay, lay.reuse_factor) for n, lay in by_onnx.items()
                 if n not in auto] + [0])
    budgets = [b for b in budgets if b >= floor] or [floor]

    def choose(budget: int) -> None:
        for name, rfs in auto.items():
            lay = by_onnx[name]
            fitting = [rf for rf in rfs if conv_cycles(lay, rf) <= budget]
            lay.reuse_factor = max(fitting) if fitting else min(rfs)

    def evaluate(budget: int) -> tuple[Schedule, DesignResources]:
        choose(budget)
        sched = schedule(layers)
        return sched, estimate_resources(layers, sched, board.resources)

    lo, hi = 0, len(budgets) - 1
    if not evaluate(budgets[hi])[1].fits(settings.utilisation_limit):
        lo = hi  # nothing fits: report the smallest design
    while lo < hi:
        mid = (lo + hi) // 2
        if evaluate(budgets[mid])[1].fits(settings.utilisation_limit):
            hi = mid
        else:
            lo = mid + 1
    for idx in range(lo, len(budgets)):
        sched, res = evaluate(budgets[idx])
        if res.fits(settings.utilisation_limit) or idx == len(budgets) - 1:
            break
    choices = [LayerChoice(onnx_name=n, hls_name=lay.name, role=roles.get(n, n),
                           strategy=lay.strategy, requested=requested[n],
                           reuse_factor=lay.reuse_factor, n_in=lay.n_in, n_out=lay.n_out,
                           multipliers=lay.multipliers,
                           cycles=conv_cycles(lay, lay.reuse_factor))
               for n, lay in by_onnx.items()]
    return DesignPlan(tile=tile, clock_mhz=board.clock_mhz, choices=choices, schedule=sched,
                      resources=res, limits=dict(settings.utilisation_limit), layers=layers)


def best_plan(plans: list[DesignPlan]) -> DesignPlan:
    """Highest 256-equivalent fps among fitting plans, larger tile on ties; else the smallest."""
    fitting = [p for p in plans if p.fits]
    if fitting:
        return max(fitting, key=lambda p: (round(p.fps_256, 6), p.tile))
    return min(plans, key=lambda p: p.resources.total.lut)

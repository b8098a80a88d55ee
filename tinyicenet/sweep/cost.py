"""The FPGA cost of one quantized model on the ZCU102, modelled.

Throughput and resources come from the project's hls4ml design model (the planner's fastest
design that fits, :func:`tinyicenet.hls.plan_project`), power from the FPGA power model
(:mod:`tinyicenet.power`, a low / nominal / high range), energy per tile = power / tiles per
second and per scene = per tile x the tiles of a 400 km Sentinel-1 EW scene
(:func:`tinyicenet.bench.units.ew_scene`). FINN+'s estimate reports can be added beside it
(:func:`finn_cost`) where its environment exists. Every figure here is *modelled*.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tinyicenet.bench.units import DEFAULT_HALO, ew_scene

HLS_ESTIMATOR = "tinyicenet.hls planner (hls4ml 1.3 io_stream design model)"
FINN_ESTIMATOR = "FINN+ estimate reports (step_generate_estimate_reports)"


def fpga_cost(model: Any, *, tile: int = 256, halo: int = DEFAULT_HALO,
              board: str = "zcu102") -> dict[str, Any]:
    """Modelled fps, LUT/FF/BRAM36/DSP and energy range of ``model``'s hls4ml design at
    ``tile`` (the planner's fastest design that fits the device; ``fits`` says whether any did).
    """
    from tinyicenet.hls import load_board, load_settings, plan_project

    plan, _ = plan_project(model, load_board(board), load_settings(), tile=tile)
    return cost_from_plan(plan.to_dict(), halo=halo, board=board)


def cost_from_plan(d: dict[str, Any], *, halo: int = DEFAULT_HALO,
                   board: str = "zcu102") -> dict[str, Any]:
    """The sweep's cost figures from a planner design (``DesignPlan.to_dict()``): per tile as
    the planner prices it, per scene x the EW scene's tiles at the design's tile and ``halo``."""
    tile = int(d["tile"][0])
    e = d["energy"]
    t = d["resources"]["total"]
    tiles = ew_scene((tile, tile), halo).tiles
    per_tile = {"low": e["energy_mj_per_tile_range"]["low"], "nominal": e["energy_mj_per_tile"],
                "high": e["energy_mj_per_tile_range"]["high"]}
    return {
        "estimator": HLS_ESTIMATOR, "provenance": "modelled", "board": board,
        "tile": [tile, tile], "halo": halo, "scene_tiles": tiles,
        "clock_mhz": d["clock_mhz"], "fits": bool(d["fits"]),
        "tiles_per_s": d["tiles_per_s"], "fps_256": d["fps_256_equivalent"],
        "latency_ms": d["latency_ms"],
        "lut": float(t["lut"]), "ff": float(t["ff"]), "bram36": float(t["bram36"]),
        "dsp": float(t["dsp"]),
        "utilisation": dict(d["resources"]["utilisation"]),
        "power_w": {"low": e["power_w_range"]["low"], "nominal": e["power_w"],
                    "high": e["power_w_range"]["high"]},
        "idle_power_w": e["idle_power_w"],
        "energy_mj_per_tile": per_tile,
        "energy_mj_per_scene": per_tile["nominal"] * tiles,
        "energy_mj_per_scene_low": per_tile["low"] * tiles,
        "energy_mj_per_scene_high": per_tile["high"] * tiles,
        "energy_model": e["energy_model"],
        "assumptions": list(d["assumptions"]),
    }


def finn_report(report: Path) -> dict[str, Any]:
    """FINN+'s network estimate (fps, cycles, LUT/BRAM18/URAM/DSP) from its report folder."""
    perf = json.loads((report / "estimate_network_performance.json").read_text())
    total = json.loads((report / "estimate_layer_resources.json").read_text()).get("total", {})
    return {"estimated_fps": float(perf["estimated_throughput_fps"]),
            "max_cycles": int(perf["max_cycles"]),
            **{k: float(total.get(k, 0.0)) for k in ("LUT", "BRAM_18K", "URAM", "DSP")}}


def finn_cost(checkpoint: Path, *, tile: int, target_fps: float, ff_per_lut: float,
              halo: int = DEFAULT_HALO, quiet: bool = True) -> dict[str, Any]:
    """FINN+'s estimate of the checkpoint's dataflow design folded for ``target_fps`` tiles/s,
    priced by the same power model. FINN gives no FF count: FF = ``ff_per_lut`` x LUT, halved
    and doubled for the range (the hls4ml design's own ratio is the caller's usual choice).
    Needs the FINN+ environment (``tinyicenet board finn --setup``)."""
    from tinyicenet.finn.flow import CLOCK_NS, build_finn
    from tinyicenet.power import estimate

    with tempfile.TemporaryDirectory(prefix="tinyicenet-sweep-finn-") as tmp:
        out = Path(tmp) / "finn"
        check = build_finn(Path(checkpoint), out, tile=tile, target_fps=target_fps, n_random=1,
                           n_scene=0, cppsim=False, quiet=quiet)
        point = finn_report(out / "report")
    clock = 1e3 / CLOCK_NS
    p = estimate({"lut": point["LUT"], "bram18": point["BRAM_18K"], "uram": point["URAM"],
                  "dsp": point["DSP"]}, clock,
                 ff_per_lut=(ff_per_lut / 2, ff_per_lut, ff_per_lut * 2))
    tiles = ew_scene((tile, tile), halo).tiles
    rate = point["estimated_fps"]
    per_tile = {k: 1e3 * getattr(p, k) / rate for k in ("low", "nominal", "high")}
    return {"estimator": FINN_ESTIMATOR, "provenance": "modelled", "tile": [tile, tile],
            "target_fps": target_fps, "clock_mhz": clock, **point,
            "fps_definition": "clock / slowest layer's cycles (layers overlapped)",
            "power_w": {"low": p.low, "nominal": p.nominal, "high": p.high},
            "energy_mj_per_tile": per_tile,
            "energy_mj_per_scene": per_tile["nominal"] * tiles,
            "energy_mj_per_scene_low": per_tile["low"] * tiles,
            "energy_mj_per_scene_high": per_tile["high"] * tiles,
            "energy_model": p.model, "verified_exact": bool(check.get("exact")),
            "assumptions": list(p.assumptions)}

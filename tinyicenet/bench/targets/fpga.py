"""The ``fpga`` target: the ZCU102.

* On the board the driver's own script (``boards/zcu102``, board Python, numpy<2) measures and
  writes a result in this schema; ``--import RESULT.json`` brings it here (validated).
* Off the board: the HLS design is checked in C simulation against the integer reference, and
  throughput and energy come from the HLS planner's model, labelled ``modelled`` with its
  assumptions; ``--import`` accepts a modelled result file or the planner's design JSON
  (``DesignPlan.to_dict()``), converted here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tinyicenet.bench.schema import load_results
from tinyicenet.errors import ConfigError, ToolNotFoundError


def run(options: Any) -> list[dict]:
    if options.import_path:
        return import_results(options.import_path, options.model)
    return [_modelled(options)]


def is_hls_plan(data: Any) -> bool:
    """The HLS planner's modelled design (``tinyicenet.hls.planner.DesignPlan.to_dict()``)."""
    return (isinstance(data, dict) and data.get("provenance") == "modelled"
            and {"tiles_per_s", "tile", "clock_mhz", "assumptions"} <= set(data))


def from_hls_plan(plan: dict, *, model: str = "tinyicenet", precision: str = "int",
                  halo: int = 16, source: str = "plan") -> dict:
    """A modelled fpga bench result from the HLS planner's design (its figures unchanged)."""
    from tinyicenet.bench.modelled import modelled_result
    from tinyicenet.bench.units import ew_scene

    tile = plan["tile"]
    energy = plan.get("energy") or {}
    notes = [f"modelled from {source}: {plan['clock_mhz']:g} MHz, "
             f"{plan.get('cycles_per_tile', '?')} cycles per tile, fits the device: "
             f"{plan.get('fits')}"]
    return modelled_result(
        target="fpga", backend="hls4ml-model", device="ZCU102 XCZU9EG (modelled)",
        model=model, precision=precision, scene=ew_scene((tile[0], tile[1]), halo),
        tiles_per_s=float(plan["tiles_per_s"]), power_w=energy.get("power_w"),
        latency_ms=plan.get("latency_ms"),
        assumptions=list(plan["assumptions"]) + ([energy["assumption"]]
                                                 if energy.get("assumption") else []),
        method="hls schedule model (tinyicenet.hls.planner)",
        verification=plan.get("verification"), notes=notes)


def import_results(path: str, model: str | None = None) -> list[dict]:
    """Board-measured or modelled fpga results from a file (one object or a list), or the HLS
    planner's modelled design, converted and labelled 'modelled'."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        data = None   # load_results reports the problem precisely
    if is_hls_plan(data):
        return [from_hls_plan(data, model=model or "tinyicenet", source=Path(path).name)]
    results = load_results(path)
    for i, r in enumerate(results):
        if r["target"] != "fpga":
            raise ConfigError(f"{path}: result {i} is for target {r['target']!r}, not fpga")
        if r["provenance"]["throughput"] == "modelled" and not r["provenance"]["assumptions"]:
            raise ConfigError(f"{path}: modelled result {i} lists no assumptions")
    return results


def _modelled(options: Any) -> dict:
    """Ask the HLS helper's performance model (``tinyicenet.hls.modelled_bench``)."""
    try:
        from tinyicenet import hls
        model_fn = hls.modelled_bench
    except (ImportError, AttributeError):
        raise ToolNotFoundError(
            "fpga target: no board here and no HLS performance model in this installation; "
            "run the board script on the ZCU102, or pass --import RESULT.json (a board-measured "
            "or modelled result)") from None
    from tinyicenet.bench.modelled import modelled_result
    from tinyicenet.bench.targets.common import artefact, model_label, scene_unit

    scene = scene_unit(options)
    figures = model_fn(artefact(options, "integer"), tile=options.tile[0], batch=options.batch)
    return modelled_result(
        target="fpga", backend=figures.get("backend", "hls-model"),
        device=figures.get("device", "ZCU102 XCZU9EG (modelled)"),
        model=model_label(options, "integer"), precision=figures["precision"], scene=scene,
        tiles_per_s=figures["tiles_per_s"], power_w=figures.get("power_w"),
        idle_power_w=figures.get("idle_power_w"), latency_ms=figures.get("latency_ms"),
        assumptions=figures["assumptions"], method=figures.get("method", "hls schedule model"),
        verification=figures.get("verification"), batch=options.batch)

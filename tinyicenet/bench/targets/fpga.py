"""The ``fpga`` target: the ZCU102.

* On the board the driver's own script (``boards/zcu102``, board Python, numpy<2) measures and
  writes a result in this schema; ``--import RESULT.json`` brings it here (validated).
* Off the board: the HLS design is checked in C simulation against the integer reference, and
  throughput and energy come from the HLS planner's model, labelled ``modelled`` with its
  assumptions; ``--import`` accepts a modelled result file, the planner's design JSON
  (``DesignPlan.to_dict()``) or a project folder written by ``tinyicenet hls`` (its modelled
  plan plus its C-simulation verification), converted here. Without ``--import`` the model
  is planned directly (no C simulation: the result says so).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tinyicenet.bench.schema import load_results
from tinyicenet.errors import ConfigError


def run(options: Any) -> list[dict]:
    if options.import_path:
        return import_results(options.import_path, options.model, halo=options.halo)
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
    if energy and not energy.get("energy_model"):
        # A plan written before the power model carried a borrowed power figure: never use it.
        energy = {}
    notes = [f"modelled from {source}: {plan['clock_mhz']:g} MHz, "
             f"{plan.get('cycles_per_tile', '?')} cycles per tile, fits the device: "
             f"{plan.get('fits')}"]
    return modelled_result(
        target="fpga", backend="hls4ml-model", device="ZCU102 XCZU9EG (modelled)",
        model=model, precision=precision, scene=ew_scene((tile[0], tile[1]), halo),
        tiles_per_s=float(plan["tiles_per_s"]), power_w=energy.get("power_w"),
        idle_power_w=energy.get("idle_power_w"),
        power_range_w=_range(energy.get("power_w_range")),
        energy_model=energy.get("energy_model"),
        latency_ms=plan.get("latency_ms"),
        assumptions=list(dict.fromkeys(list(plan["assumptions"]) + (
            [energy["assumption"]] if energy.get("assumption") else []))),
        method="hls schedule model (tinyicenet.hls.planner)",
        verification=plan.get("verification"), notes=notes)


def _range(r: Any) -> tuple[float, float] | None:
    """(low, high) of a plan's ``power_w_range``; None for a plan written before the model."""
    if isinstance(r, dict) and {"low", "high"} <= set(r):
        return float(r["low"]), float(r["high"])
    return None


def import_results(path: str, model: str | None = None, *, halo: int = 16) -> list[dict]:
    """Board-measured or modelled fpga results from a file (one object or a list), or the HLS
    planner's modelled design, converted and labelled 'modelled'."""
    project = Path(path)
    if project.is_dir() and (project / "resources.json").is_file():
        return [_from_project(project, model, halo)]
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        data = None   # load_results reports the problem precisely
    if is_hls_plan(data):
        return [from_hls_plan(data, model=model or "tinyicenet", halo=halo,
                              source=Path(path).name)]
    results = load_results(path)
    for i, r in enumerate(results):
        if r["target"] != "fpga":
            raise ConfigError(f"{path}: result {i} is for target {r['target']!r}, not fpga")
        if r["provenance"]["throughput"] == "modelled" and not r["provenance"]["assumptions"]:
            raise ConfigError(f"{path}: modelled result {i} lists no assumptions")
    return results


def _from_project(project: Path, model: str | None, halo: int) -> dict:
    """The modelled design of an HLS project folder, with its C-simulation verification."""
    from tinyicenet.errors import ResultError

    try:
        plan = json.loads((project / "resources.json").read_text())["modelled"]
        manifest = json.loads((project / "tinyicenet_project.json").read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultError(f"{project}: not a readable tinyicenet hls project ({exc})") from None
    if not is_hls_plan(plan):
        raise ResultError(f"{project}/resources.json: holds no modelled design")
    check = manifest.get("verification") or {}
    verification = (f"C simulation vs integer reference over {check.get('tiles')} tiles: "
                    f"{check.get('differing')} differing values, argmax agreement "
                    f"{check.get('argmax_agreement')}") if check else None
    plan = dict(plan, verification=verification)
    label = model or str((manifest.get("model") or {}).get("name", "tinyicenet"))
    bits = (manifest.get("model") or {}).get("bit_widths")
    return from_hls_plan(plan, model=label, precision=_precision(label, bits), halo=halo,
                         source=f"{project.name} (C simulation verified)")


def _precision(model: str, bit_widths: dict | None = None) -> str:
    """The precision label of the model's ``bit_widths``, else of its name (``int`` unknown)."""
    from tinyicenet.models import is_model_name, parse_model_name, precision_label

    if bit_widths:
        return precision_label(bit_widths)
    m = parse_model_name(model) if is_model_name(model) else None
    return f"w{m.weight_bits}a{m.act_bits}" if m is not None and m.kind == "uniform" else "int"


def _modelled(options: Any) -> dict:
    """Plan the design of the given model directly (modelled; no C simulation here)."""
    from tinyicenet.bench.targets.common import artefact, model_label
    from tinyicenet.hls import load_board, load_settings, plan_project
    from tinyicenet.models import create_model, load_checkpoint

    name = artefact(options, "integer")
    if name.endswith(".pt"):
        model, _ = load_checkpoint(name)
    else:
        model = create_model(name)
    if not getattr(model, "quantized", False):
        raise ConfigError(f"fpga target: {name} is a float model; the FPGA runs quantized "
                          "models (e.g. tinyicenet_w4a4)")
    plan, _ = plan_project(model, load_board("zcu102"), load_settings(), tile=options.tile[0])
    label = model_label(options, "integer")
    result = from_hls_plan(plan.to_dict(), model=label, precision=_precision(model.name, model.bit_widths),
                           halo=options.halo, source="tinyicenet.hls.plan_project")
    result["method"]["notes"].append("C simulation not run for this result: "
                                     "pass --import HLS_PROJECT for a verified design")
    return result

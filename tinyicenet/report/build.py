"""Collect result files into the report's content: rows, orbit plan, downlink, Pareto, verdict."""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from tinyicenet.bench.schema import load_results, validate_result
from tinyicenet.bench.sysinfo import commit, now_iso
from tinyicenet.bench.units import DEFAULT_HALO, ew_scene
from tinyicenet.errors import ResultError, TinyIceNetError
from tinyicenet.report.accuracy import data_label, is_accuracy_document, parse_accuracy
from tinyicenet.report.sweep import sweep_section
from tinyicenet.sweep.record import is_sweep_document, validate_record
from tinyicenet.report.planning import (
    DEFAULT_RAW,
    ONBOARD_BEFORE_NETWORK,
    Downlink,
    OrbitPlan,
    downlink,
    downlink_per_plan,
    orbit_energy,
)

#: targets that can fly on a satellite (FPGA SoCs, Jetson-class modules); cuda and cpu are
#: ground machines and appear only as a reference
FLYABLE_TARGETS = ("fpga", "jetson")
NOT_STATED = "not stated"

REPORT_SCHEMA = "tinyicenet-report"
REPORT_VERSION = 1
PAPER_PATH = Path(__file__).with_name("paper_figures.json")


@lru_cache(maxsize=1)
def paper_figures() -> dict[str, Any]:
    """The TinyIceNet paper's published figures (paper_figures.json)."""
    return json.loads(PAPER_PATH.read_text())


def expand(paths: list[str | Path]) -> list[tuple[Path, bool]]:
    """(file, came from a folder): files as given; a folder contributes its ``*.json``."""
    out: list[tuple[Path, bool]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            if not found:
                raise ResultError(f"{p}: folder holds no .json result files")
            out.extend((f, True) for f in found)
        else:
            out.append((p, False))
    return out


def read_inputs(paths: list[str | Path], accuracy_paths: list[str | Path] = (),
                skip_invalid: bool = False) -> tuple[list, list, list, list, list]:
    """(bench results with their source, accuracy entries, inputs, gaps, sweep records with
    their source).

    A file holding an accuracy document (or a sweep record, ``tinyicenet sweep``) goes to its
    own list whichever argument names it; ``accuracy_paths`` may not name bench results.
    In a folder, JSON files of another tool's schema (``"schema": "tinyicenet-predict-bench"``,
    say) are listed as skipped, not errors; a file named explicitly must be a result. With
    ``skip_invalid`` any bad file becomes a gap in the report instead of an error.
    """
    results: list[tuple[dict, str]] = []
    accuracy: list[dict] = []
    inputs: list[dict] = []
    gaps: list[dict] = []
    sweeps: list[tuple[dict, str]] = []
    files = [(p, f, False) for p, f in expand(list(paths))] + [(Path(p), False, True)
                                                              for p in accuracy_paths]
    for path, from_folder, as_accuracy in files:
        try:
            kind, items = _read_one(path, from_folder)
            if as_accuracy and kind == "bench":  # accuracy results and sweep records carry F1
                raise ResultError(f"{path}: given with --accuracy but holds bench results, not "
                                  "accuracy results; pass it as a result file instead")
        except ResultError as exc:
            if not skip_invalid:
                raise
            gaps.append({"source": path.name, "reason": str(exc)})
            continue
        if kind == "other":
            gaps.append({"source": path.name, "reason": f"skipped: not a bench or accuracy "
                         f"result (schema {items[0]!r})"})
            continue
        inputs.append({"file": path.name, "kind": kind, "entries": len(items)})
        if kind == "accuracy":
            accuracy.extend(items)
        elif kind == "sweep":
            sweeps.extend((d, path.name) for d in items)
        else:
            results.extend((r, path.name) for r in items)
    return results, accuracy, inputs, gaps, sweeps


def _read_one(path: Path, from_folder: bool = False) -> tuple[str, list]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "bench", load_results(path)   # raises the precise ResultError
    if is_accuracy_document(data):
        return "accuracy", parse_accuracy(data, str(path))
    if is_sweep_document(data):
        return "sweep", [validate_record(data, str(path))]
    schema = data.get("schema") if isinstance(data, dict) else None
    if from_folder and isinstance(data, dict) and schema != "tinyicenet-bench":
        # another tool's record (a predict bench, the data-loading benchmark, ...)
        return "other", [schema if isinstance(schema, str) else
                         f"none; {data.get('benchmark') or 'unknown'} record"]
    if isinstance(data, list):
        return "bench", [validate_result(r, f"{path}[{i}]") for i, r in enumerate(data)]
    return "bench", [validate_result(data, str(path))]


def ew_unit(result: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """The EW scene unit for ``result``'s tile and halo, and the factor from the result's own
    scene figures to it (None when the result's scene cannot be rescaled)."""
    scene = result["scene"]
    # a real scene is tiled with at least the project's halo (seams otherwise), also when the
    # measurement itself ran bare tiles (halo 0): every row then counts the same tiles per scene
    halo = max(scene.get("halo") or 0, DEFAULT_HALO)
    try:
        unit = ew_scene(tuple(result["tile"]), halo).to_dict()
    except TinyIceNetError:
        return scene, None
    if scene["pixels"] == unit["pixels"] and scene["tiles"] == unit["tiles"]:
        return scene, 1.0
    return unit, unit["tiles"] / scene["tiles"]


def row(result: dict[str, Any], source: str) -> dict[str, Any]:
    """One platform row of the report from one bench result, per 400 km EW scene.

    A result measured on another scene size (a board run on a sample scene, say) is rescaled to
    the EW scene by tile count, and the row says so.
    """
    result = dict(result)
    notes = _notes(result["method"].get("notes"))
    scene, factor = ew_unit(result)
    ranges = _energy_ranges(result)
    if factor is not None and factor != 1.0:
        if ranges["tile"] is not None:
            ranges["scene"] = tuple(v * scene["tiles"] for v in ranges["tile"])
        e = dict(result["energy_mj"])
        for key in ("per_scene_gross", "per_scene_above_idle"):
            tile_key = key.replace("scene", "tile")
            e[key] = None if e[tile_key] is None else e[tile_key] * scene["tiles"]
        result["energy_mj"] = e
        result["scenes_per_s"] = (result["tiles_per_s"] / scene["tiles"]
                                  if result["tiles_per_s"] else None)
        old = result["scene"]
        notes.append(f"scene figures rescaled by tile count from the measured "
                     f"{old['pixels'][0]} x {old['pixels'][1]} px scene ({old['tiles']} tiles) "
                     f"to the EW scene ({scene['tiles']} tiles)")
        result["scene"] = scene
    prov, e = result["provenance"], result["energy_mj"]
    timing = result.get("timing") if isinstance(result.get("timing"), dict) else {}
    variant = result.get("variant")
    backend = result["backend"] + (f" {variant}" if variant else "")
    return {
        "label": f"{result['device']} | {backend} | {result['precision']} | b{result['batch']}"
                 + ("" if result["tile"] == [256, 256] else
                    f" | tile {result['tile'][0]}x{result['tile'][1]}"),
        "target": result["target"], "device": result["device"], "backend": result["backend"],
        "variant": variant, "precision": result["precision"], "batch": result["batch"],
        "model": result["model"], "tile": result["tile"], "scene": result["scene"],
        "kind": prov["throughput"] if prov["throughput"] in ("modelled", "emulated")
        else "measured",
        "energy_kind": prov["energy"],
        "flyable": result["target"] in FLYABLE_TARGETS,
        "timing_throughput": timing.get("throughput") or NOT_STATED,
        "timing_latency": timing.get("latency") or NOT_STATED,
        "energy_scene_range_mj": ranges["scene"], "energy_tile_range_mj": ranges["tile"],
        "power_range_w": _pair(result["power_w"].get("low"), result["power_w"].get("high")),
        "energy_model": prov.get("energy_model"),
        "tiles_per_s": result["tiles_per_s"], "scenes_per_s": result["scenes_per_s"],
        "scene_ms": 1e3 / result["scenes_per_s"] if result["scenes_per_s"] else None,
        "latency_p50_ms": result["latency_ms"].get("p50"),
        "latency_p99_ms": result["latency_ms"].get("p99"),
        "energy_tile_mj": e["per_tile_gross"], "energy_tile_above_mj": e["per_tile_above_idle"],
        "energy_scene_mj": e["per_scene_gross"],
        "energy_scene_above_mj": e["per_scene_above_idle"],
        "power_w": result["power_w"].get("average"), "idle_w": result["power_w"].get("idle"),
        "meter": result["method"].get("meter"), "window_s": result.get("window_s"),
        "repetitions": result.get("repetitions"),
        "energy_reason": prov.get("energy_reason"), "assumptions": prov.get("assumptions", []),
        "verification": prov.get("verification"),
        "notes": notes, "scene_comparable": factor is not None,
        "date": result["date"], "commit": result.get("commit"), "source": source,
    }


def _pair(low: Any, high: Any) -> tuple[float, float] | None:
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    return (float(low), float(high)) if ok else None


def _energy_ranges(result: dict[str, Any]) -> dict[str, tuple[float, float] | None]:
    """The modelled energy range ``energy_mj_range.per_tile/per_scene.{low, high}``, if any."""
    ranges = result.get("energy_mj_range") if isinstance(result.get("energy_mj_range"),
                                                         dict) else {}
    out = {}
    for key in ("tile", "scene"):
        r = ranges.get(f"per_{key}") if isinstance(ranges.get(f"per_{key}"), dict) else {}
        out[key] = _pair(r.get("low"), r.get("high"))
    return out


def _notes(notes: Any) -> list[str]:
    if notes is None:
        return []
    return [notes] if isinstance(notes, str) else list(notes)


def paper_rows() -> list[dict[str, Any]]:
    paper = paper_figures()
    return [{"label": f"{p['device']} (paper)", "target": p["target"], "device": p["device"],
             "kind": "paper", "fps": p["fps"], "energy_scene_mj": p["energy_mj_per_scene"]}
            for p in paper["platforms"]]


def pareto_points(rows: list[dict], accuracy: list[dict]) -> list[dict[str, Any]]:
    """Accuracy entries joined with bench rows of the same model (and precision if it is a
    bit width on both sides), one point per pair with an energy per scene."""
    points = []
    for entry in accuracy:
        for r in rows:
            if r["energy_scene_mj"] is None or r["model"] != entry["model"]:
                continue
            points.append({
                "label": f"{entry['precision']}{'' if entry['skips'] else ' no-skip'} "
                         f"@ {r['target']} ({data_label(entry.get('data'))} data)",
                "model": entry["model"], "precision": entry["precision"],
                "skips": entry["skips"], "sod_f1": entry["sod_f1"],
                "data": entry.get("data"),
                "energy_mj": r["energy_scene_mj"], "target": r["target"],
                "device": r["device"], "kind": r["kind"] if r["energy_kind"] != "modelled"
                else "modelled"})
    return points


def _saving(link: dict[str, Any]) -> str:
    # "100.0 %" would hide the size of the saving: say it as a factor instead
    kept = 1.0 - link["saved_fraction"]
    return (f"a factor of {1 / kept:,.0f}" if 0 < kept < 0.0005
            else f"{100 * link['saved_fraction']:.1f} %")


def _energy_text(r: dict[str, Any]) -> str:
    """'X mJ (low–high, modelled)' or 'X mJ (measured)'."""
    kind = r["energy_kind"]
    span = r.get("energy_scene_range_mj")
    if span is not None:
        return f"{_mj(r['energy_scene_mj'])} ({_mj(span[0])}\u2013{_mj(span[1])}, {kind})"
    return f"{_mj(r['energy_scene_mj'])} ({kind})"


def _speed_kind(r: dict[str, Any]) -> str:
    return " (modelled)" if r["kind"] == "modelled" else ""


def _rank(rows: list[dict]) -> list[dict]:
    """Least energy per scene first; rows without energy after them, fastest first."""
    return sorted((r for r in rows if r["scenes_per_s"]),
                  key=lambda r: (r["energy_scene_mj"] is None, r["energy_scene_mj"] or 0.0,
                                 -r["scenes_per_s"]))


def verdict(rows: list[dict], orbit: list[dict], link: dict[str, Any], plan: OrbitPlan) -> str:
    """One plain sentence a mission planner can act on.

    It ranks the platforms that can fly (FPGA, Jetson-class) and names a ground machine
    (GPU, CPU) only as a reference; the downlink saving says what it assumes runs on board
    before the network.
    """
    downlink_part = (f"sending the SOD map instead of raw SAR cuts the downlink by "
                     f"{_saving(link)}, if {ONBOARD_BEFORE_NETWORK} already run on board "
                     "(their energy is not counted here)")
    fly = _rank([r for r in rows if r["flyable"]])
    ground = _rank([r for r in rows if not r["flyable"]])
    reference = ""
    if ground:
        g = ground[0]
        what = "GPU" if g["target"] == "cuda" else "CPU"
        cost = (f"{_energy_text(g)} in {_ms(g['scene_ms'])}" if g["energy_scene_mj"] is not None
                else f"{_ms(g['scene_ms'])}{_speed_kind(g)}, energy unknown "
                     f"({(g['energy_reason'] or 'no meter').removeprefix('unavailable: ')})")
        reference = f"for reference, the ground {what} {_platform(g)} takes {cost}"
    if not fly:
        lead = ("No platform that can fly (FPGA, Jetson-class) is among these results"
                + (f"; {reference}" if reference else ""))
        return f"{lead}, and {downlink_part}."
    best = fly[0]
    if best["energy_scene_mj"] is None:
        reason = (best["energy_reason"] or "no meter").removeprefix("unavailable: ")
        lead = (f"Of the platforms that can fly, {_platform(best)} maps a 400 km Sentinel-1 EW "
                f"scene fastest, in {_ms(best['scene_ms'])}{_speed_kind(best)}, but no energy "
                f"is known for it ({reason})")
    else:
        o = next((o for o in orbit if o["label"] == best["label"]), None)
        day = ""
        if o is not None:
            why = (", idle not measured" if not o["includes_idle"] else
                   ", mostly idle power while switched on" if o["idle_j"] > o["processing_j"]
                   else "")
            day = (f", so {plan.scenes_per_orbit:g} scenes per orbit cost {o['day_wh']:.3g} Wh "
                   f"a day ({o['average_w']:.3g} W on average{why})")
        lead = (f"Of the platforms that can fly, {_platform(best)} maps a 400 km Sentinel-1 EW "
                f"scene with the least energy, {_energy_text(best)}, in "
                f"{_ms(best['scene_ms'])}{_speed_kind(best)}{day}")
        if len(fly) > 1:
            nxt = fly[1]
            lead += (f", ahead of {_platform(nxt)} "
                     + (f"at {_energy_text(nxt)}" if nxt["energy_scene_mj"] is not None
                        else f"in {_ms(nxt['scene_ms'])}{_speed_kind(nxt)}, energy unknown"))
    return (f"{lead}" + (f"; {reference}" if reference else "") + f"; and {downlink_part}.")


def _platform(r: dict[str, Any]) -> str:
    variant = f" {r['variant']}" if r["variant"] else ""
    return f"{r['device']} ({r['backend']}{variant}, batch {r['batch']})"


def _mj(value: float) -> str:
    return f"{value / 1e3:.3g} J" if value >= 1e3 else f"{value:.3g} mJ"


def _ms(value: float | None) -> str:
    if value is None:
        return "an unknown time"
    return f"{value / 1e3:.3g} s" if value >= 1e3 else f"{value:.3g} ms"


def rows_timing(rows: list[dict]) -> str:
    """The throughput timing definition shared by ``rows`` (one table, one definition)."""
    return rows[0]["timing_throughput"] if rows else NOT_STATED


def split_rows(rows: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """(comparison rows, [{"timing", "rows"}] of other timing definitions, emulated rows).

    Emulated runs never enter the comparison. The comparison keeps one throughput timing
    definition: queued (calls back to back, one synchronisation per window) where any result
    uses it, else the most common one; results of another definition get their own table.
    """
    emulated = [r for r in rows if r["kind"] == "emulated" or r["energy_kind"] == "emulated"]
    real = [r for r in rows if r not in emulated]
    timings = [r["timing_throughput"] for r in real]
    if not timings:
        return [], [], emulated
    main = "queued" if "queued" in timings else max(set(timings), key=timings.count)
    others = [{"timing": t, "rows": [r for r in real if r["timing_throughput"] == t]}
              for t in sorted(set(timings) - {main})]
    return [r for r in real if r["timing_throughput"] == main], others, emulated


def build(paths: list[str | Path], *, accuracy_paths: list[str | Path] = (),
          plan: OrbitPlan | None = None, raw: str = DEFAULT_RAW,
          product: str | Path | None = None, skip_invalid: bool = False,
          target: float | None = None) -> dict[str, Any]:
    """The report's content as one JSON-able dict (charts are added by the writer).

    ``target``: the SOD F1 (fraction) the sweep section asks for (default: the sweep record's).
    """
    plan = (plan or OrbitPlan()).check()
    results, accuracy, inputs, gaps, sweeps = read_inputs(list(paths), list(accuracy_paths),
                                                          skip_invalid)
    if not results:
        raise ResultError("no usable bench results among the inputs"
                          + (f" ({'; '.join(g['reason'] for g in gaps)})" if gaps else ""))
    all_rows = [row(r, src) for r, src in results]
    all_rows.sort(key=lambda r: (["fpga", "jetson", "cuda", "cpu"].index(r["target"]),
                                 r["device"], r["backend"], r["variant"] or "", r["batch"]))
    rows, other_timing, emulated = split_rows(all_rows)
    for r in emulated:
        gaps.append({"source": r["source"], "reason": f"{r['label']}: emulated (a host-side "
                     "stand-in for the hardware, not a measurement): kept out of the "
                     "comparison"})
    for group in other_timing:
        gaps.append({"source": "timing", "reason": f"{len(group['rows'])} result(s) time "
                     f"throughput '{group['timing']}', the comparison '{rows_timing(rows)}': "
                     "shown in their own table, not compared"})
    if not rows:
        raise ResultError("no measured or modelled bench results among the inputs (only "
                          "emulated runs)")
    for r in rows:
        if r["energy_kind"] == "unavailable":
            gaps.append({"source": r["source"], "reason": f"{r['label']}: energy unavailable "
                                                          f"({r['energy_reason']})"})
        elif r["energy_reason"]:
            gaps.append({"source": r["source"], "reason": f"{r['label']}: {r['energy_reason']}"})
    orbit = []
    for r in rows:
        o = orbit_energy({"energy_mj": {"per_scene_gross": r["energy_scene_mj"]},
                          "scenes_per_s": r["scenes_per_s"], "power_w": {"idle": r["idle_w"]}},
                         plan)
        if o is not None:
            orbit.append({"label": r["label"], "kind": r["kind"],
                          "energy_kind": r["energy_kind"], **o})
    scene = rows[0]["scene"]
    mismatched = sorted({r["label"] for r in rows if r["scene"]["pixels"] != scene["pixels"]})
    if mismatched:
        gaps.append({"source": "scene unit", "reason": "results use different scene sizes; the "
                     f"downlink uses {scene['pixels']} ({', '.join(mismatched)} differ)"})
    link: Downlink = downlink(tuple(scene["pixels"]), scene.get("pixel_spacing_m"), raw, product)
    link_plan = downlink_per_plan(link, plan)
    points = pareto_points(rows, accuracy)
    if accuracy and not points:
        gaps.append({"source": "accuracy", "reason": "no bench result with energy for the "
                     "models in the accuracy results: no accuracy-vs-energy chart"})
    paper = paper_figures()
    return {
        "schema": REPORT_SCHEMA, "schema_version": REPORT_VERSION,
        "generated": now_iso(), "commit": commit(),
        "inputs": inputs, "gaps": gaps, "platforms": rows,
        "comparison_timing": rows_timing(rows), "other_timing": other_timing,
        "emulated": emulated, "paper": paper,
        "paper_rows": paper_rows(), "plan": plan.to_dict(), "orbit": orbit,
        "downlink": {**asdict(link), **link_plan,
                     "onboard_before_network": ONBOARD_BEFORE_NETWORK},
        "accuracy": accuracy, "pareto": points,
        "sweeps": [sweep_section(doc, src, target) for doc, src in sweeps],
        "verdict": verdict(rows, orbit, link_plan, plan),
    }

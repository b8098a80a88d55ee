"""The report's section on a precision sweep: accuracy against modelled FPGA energy, the Pareto
front, and the one sentence that names the cheapest configuration meeting a stated accuracy."""

from __future__ import annotations

from typing import Any

from tinyicenet.report.accuracy import data_label
from tinyicenet.sweep.pareto import cheapest_meeting, pareto_front

#: the figures of a configuration the report shows
POINT_KEYS = ("key", "label", "model", "precision", "bits", "skips", "sod_f1",
              "energy_mj_per_scene", "energy_mj_per_scene_low", "energy_mj_per_scene_high",
              "tiles_per_s", "lut", "status", "chosen")


def _mj(value: float) -> str:
    return f"{value / 1e3:.3g} J" if value >= 1e3 else f"{value:.3g} mJ"


def sentence(points: list[dict[str, Any]], target: float, data: str, energy_model: str) -> str:
    """Which configuration meets ``target`` (SOD F1 fraction) at the lowest energy."""
    where = f"held-out {data_label(data)} scenes"
    best = cheapest_meeting(points, target, cost="energy_mj_per_scene", value="sod_f1")
    if best is not None:
        return (f"Of the swept configurations, {best['label']} meets SOD F1 \u2265 "
                f"{100 * target:.0f} % at the lowest energy: {_mj(best['energy_mj_per_scene'])} "
                f"per 400 km EW scene on the ZCU102 ({_mj(best['energy_mj_per_scene_low'])}"
                f"\u2013{_mj(best['energy_mj_per_scene_high'])}, modelled with {energy_model}),"
                f" with SOD F1 {100 * best['sod_f1']:.1f} % on {where}.")
    if not points:
        return "The sweep kept no configuration: no accuracy-against-energy point."
    top = max(points, key=lambda p: (p["sod_f1"], -p["energy_mj_per_scene"]))
    return (f"No swept configuration meets SOD F1 \u2265 {100 * target:.0f} % on {where}; the "
            f"most accurate, {top['label']}, reaches {100 * top['sod_f1']:.1f} % at "
            f"{_mj(top['energy_mj_per_scene'])} per scene (modelled with {energy_model}).")


def sweep_section(doc: dict[str, Any], source: str, target: float | None = None
                  ) -> dict[str, Any]:
    """The section for one (validated) sweep record; ``target`` overrides the record's."""
    kept = [{k: c.get(k) for k in POINT_KEYS} for c in doc["configurations"]
            if c["status"] == "evaluated" and c["sod_f1"] is not None]
    front = pareto_front(kept, cost="energy_mj_per_scene", value="sod_f1")
    front_keys = {p["key"] for p in front}
    for p in kept:
        p["on_front"] = p["key"] in front_keys
    goal = target if target is not None else doc["accuracy"].get("target")
    goal = 0.8 if goal is None else float(goal)
    data = doc["accuracy"]["data"]
    best = cheapest_meeting(kept, goal, cost="energy_mj_per_scene", value="sod_f1")
    rejected = [c["key"] for c in doc["configurations"] if c["status"] != "evaluated"]
    return {
        "source": source, "date": doc["date"], "commit": doc["commit"],
        "data": data, "data_label": data_label(data),
        "accuracy_label": doc["accuracy"]["label"], "metric": doc["accuracy"]["metric"],
        "energy_model": doc["fpga"]["energy_model"], "estimators": doc["fpga"]["estimators"],
        "range": doc["fpga"]["range"], "budget": doc["budget"], "target": goal,
        "points": kept, "front": [p["key"] for p in front],
        "meets_target": best["key"] if best else None,
        "not_kept": rejected,
        "sentence": sentence(kept, goal, data, doc["fpga"]["energy_model"]),
    }

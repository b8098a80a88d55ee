"""The sweep record: one JSON document holding every costed configuration, validated with
``sweep_schema.json`` (jsonschema) when written and when read."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from tinyicenet.bench.schema import read_json
from tinyicenet.errors import ResultError
from tinyicenet.sweep.pareto import pareto_front
from tinyicenet.sweep.search import SearchResult

SCHEMA_NAME = "tinyicenet-sweep"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("sweep_schema.json")
#: the per-configuration cost keys kept in the record (the assumptions go once under ``fpga``)
COST_KEYS = ("estimator", "tile", "scene_tiles", "clock_mhz", "fits", "tiles_per_s", "fps_256",
             "latency_ms", "lut", "ff", "bram36", "dsp", "utilisation", "power_w",
             "idle_power_w", "energy_mj_per_tile", "energy_mj_per_scene",
             "energy_mj_per_scene_low", "energy_mj_per_scene_high", "energy_model")
DATA_LABEL = {
    "synthetic": "measured on held-out generated scenes (tinyicenet.data.synth, seeds never "
                 "seen in training); not AI4Arctic data, whose files cannot be fetched here",
    "ai4arctic": "measured on held-out AI4Arctic scenes",
    "mixed": "measured on held-out scenes, some generated and some AI4Arctic",
}


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def validate_record(doc: Any, source: str = "sweep record") -> dict[str, Any]:
    """``doc`` if it is a valid sweep record, else one ResultError line naming the problem."""
    import jsonschema

    if isinstance(doc, dict) and doc.get("schema") == SCHEMA_NAME and \
            doc.get("schema_version") != SCHEMA_VERSION:
        raise ResultError(f"{source}: sweep schema_version {doc.get('schema_version')!r}; this "
                          f"tinyicenet reads version {SCHEMA_VERSION}")
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema()).iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise ResultError(f"{source}: not a valid sweep record at {where}: "
                          f"{error.message.splitlines()[0][:200]}")
    return doc


def is_sweep_document(data: Any) -> bool:
    return isinstance(data, dict) and data.get("schema") == SCHEMA_NAME


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Read and validate a sweep record."""
    return validate_record(read_json(path, "sweep record"), str(path))


def _cost(c: Any) -> dict[str, Any] | None:
    return None if c is None else {k: c[k] for k in COST_KEYS if k in c}


def configuration_entries(result: SearchResult, labels: Any = None) -> list[dict[str, Any]]:
    """One entry per costed configuration; ``on_front`` marks the Pareto front (sod_f1 up,
    the evaluated model's nominal energy per scene down) among the kept ones."""
    entries = []
    for r in result.records:
        cost = r.budget_cost()
        entry = {
            "key": r.config.key, "bits": r.config.as_dict(), "skips": r.config.skips,
            "label": labels(r.config) if labels else r.config.key,
            "model": r.details.get("model"), "precision": r.details.get("precision"),
            "status": r.status, "round": r.round, "move": r.move,
            "sod_f1": r.accuracy,
            "energy_mj_per_scene": cost["energy_mj_per_scene"],
            "energy_mj_per_scene_low": cost["energy_mj_per_scene_low"],
            "energy_mj_per_scene_high": cost["energy_mj_per_scene_high"],
            "tiles_per_s": cost["tiles_per_s"], "lut": cost["lut"],
            "cost": _cost(r.cost), "final_cost": _cost(r.final_cost),
            "within_budget": result.budget.fits(cost), "chosen": r.chosen, "on_front": False,
            "details": {k: v for k, v in r.details.items() if k not in ("model", "precision")},
        }
        entries.append(entry)
    kept = [e for e in entries if e["status"] == "evaluated"]
    for e in pareto_front(kept, cost="energy_mj_per_scene", value="sod_f1"):
        e["on_front"] = True
    return entries


def build_record(result: SearchResult, *, accuracy: dict[str, Any], fpga: dict[str, Any],
                 grouping: str, search: dict[str, Any], labels: Any = None,
                 source: str | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole record (validated); ``accuracy``/``fpga``/``search`` describe how; ``source``
    is the commit the run started from (default: read now)."""
    from tinyicenet.bench.sysinfo import commit, host_info, now_iso

    entries = configuration_entries(result, labels)
    data = accuracy.get("data", "synthetic")
    doc = {
        "schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION,
        "date": now_iso(), "commit": source or commit(), "host": host_info(),
        "accuracy": {"label": DATA_LABEL[data], **accuracy},
        "fpga": fpga,
        "space": {"grouping": grouping, **result.space.to_dict()},
        "budget": result.budget.to_dict(),
        "search": {**search, "stopped": result.stopped,
                   "evaluations": len(result.evaluated), "costed": len(result.records)},
        "configurations": entries,
        "pareto": [e["key"] for e in sorted((e for e in entries if e["on_front"]),
                                            key=lambda e: e["energy_mj_per_scene"])],
        "chosen": result.best.config.key if result.best else None,
        "gpu": {"fps": None, "note": "GPU throughput was not measured in this sweep"},
        **(extra or {}),
    }
    return validate_record(json.loads(json.dumps(doc, allow_nan=False)))

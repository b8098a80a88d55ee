"""Accuracy results the report reads (written by training/evaluation), and their format.

Format ``tinyicenet-accuracy`` version 1, JSON, either the wrapped object::

    {"schema": "tinyicenet-accuracy", "schema_version": 1,
     "results": [ENTRY, ...]}

or a bare list ``[ENTRY, ...]``. One ENTRY per evaluated model::

    {"model": "tinyicenet_w4a4",     # create_model name (required)
     "precision": "w4a4",            # "fp32" for the float model, "w{W}a{A}" (required)
     "skips": true,                  # skip connections (required)
     "sod_f1": 0.731,                # SOD F1 as a FRACTION in [0, 1] (required)
     "weight_bits": 4, "act_bits": 4,            # optional; parsed from precision if absent
     "sic_r2": 0.9, "floe_f1": 0.6, "score": 0.8,  # optional AutoICE metrics
     "split": "test", "scenes": 3, "data": "synthetic" | "ai4arctic",
     "checkpoint": "runs/w4a4/best.pt", "commit": "...", "date": "..."}

An evaluation result of ``tinyicenet evaluate`` (schema ``tinyicenet-eval``, scores in
percent) is read too and turned into one entry.

Extra keys are kept. The report joins an entry with bench results of the same ``model``
(and, where both give one, the same ``precision``) to draw accuracy against energy.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from tinyicenet.bench.schema import read_json
from tinyicenet.errors import ResultError

SCHEMA_NAME = "tinyicenet-accuracy"
SCHEMA_VERSION = 1
EVAL_SCHEMA = "tinyicenet-eval"
_PRECISION = re.compile(r"^w(\d+)a(\d+)$")


def is_accuracy_document(data: Any) -> bool:
    """True for a wrapped accuracy document or a bare list of entries with ``sod_f1``."""
    if isinstance(data, dict):
        return data.get("schema") in (SCHEMA_NAME, EVAL_SCHEMA)
    return isinstance(data, list) and bool(data) and all(
        isinstance(e, dict) and "sod_f1" in e for e in data)


def validate_entry(entry: Any, source: str) -> dict[str, Any]:
    """Check one entry; fill ``weight_bits``/``act_bits`` from ``precision`` when absent."""
    if not isinstance(entry, dict):
        raise ResultError(f"{source}: an accuracy entry must be an object")
    for key, kind in (("model", str), ("precision", str), ("skips", bool)):
        if not isinstance(entry.get(key), kind):
            raise ResultError(f"{source}: accuracy entry needs {key!r} ({kind.__name__})")
    f1 = entry.get("sod_f1")
    if isinstance(f1, bool) or not isinstance(f1, (int, float)) or not math.isfinite(f1):
        raise ResultError(f"{source}: accuracy entry {entry['model']} needs a numeric sod_f1")
    if not 0.0 <= f1 <= 1.0:
        raise ResultError(f"{source}: sod_f1 {f1} of {entry['model']} is outside [0, 1] "
                          "(write a fraction, not a percentage)")
    out = dict(entry)
    m = _PRECISION.match(entry["precision"])
    if m:
        out.setdefault("weight_bits", int(m.group(1)))
        out.setdefault("act_bits", int(m.group(2)))
    else:
        out.setdefault("weight_bits", None)
        out.setdefault("act_bits", None)
    return out


def from_evaluation(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The accuracy entry of one ``tinyicenet evaluate`` result (percent -> fraction)."""
    sod = (data.get("metrics") or {}).get("SOD")
    if not isinstance(sod, dict) or not isinstance(sod.get("f1_weighted"), (int, float)):
        raise ResultError(f"{source}: evaluation result has no SOD weighted F1")
    entry = {key: data.get(key) for key in ("model", "precision", "weight_bits", "act_bits",
                                            "skips", "checkpoint", "date", "data")}
    entry.update(sod_f1=sod["f1_weighted"] / 100.0, split="evaluation",
                 scenes=len(data.get("scenes") or []))
    for chart, key in (("SIC", "sic_r2"), ("FLOE", "floe_f1")):
        metric = (data.get("metrics") or {}).get(chart)
        if isinstance(metric, dict) and isinstance(metric.get("score"), (int, float)):
            entry[key] = metric["score"] / 100.0
    return entry


def parse_accuracy(data: Any, source: str) -> list[dict[str, Any]]:
    """Entries of an already-parsed accuracy document (or of an evaluation result)."""
    if isinstance(data, dict) and data.get("schema") == EVAL_SCHEMA:
        if data.get("schema_version") != 1:
            raise ResultError(f"{source}: evaluation schema_version "
                              f"{data.get('schema_version')!r}; this tinyicenet reads version 1")
        return [validate_entry(from_evaluation(data, source), source)]
    if isinstance(data, dict):
        if data.get("schema") != SCHEMA_NAME:
            raise ResultError(f"{source}: not a tinyicenet accuracy document")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ResultError(f"{source}: accuracy schema_version {data.get('schema_version')!r};"
                              f" this tinyicenet reads version {SCHEMA_VERSION} only")
        entries = data.get("results")
        if not isinstance(entries, list):
            raise ResultError(f"{source}: accuracy document needs a 'results' list")
    elif isinstance(data, list):
        entries = data
    else:
        raise ResultError(f"{source}: accuracy results must be a JSON object or list")
    if not entries:
        raise ResultError(f"{source}: no accuracy entries")
    return [validate_entry(e, f"{source}[{i}]") for i, e in enumerate(entries)]


def load_accuracy(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate an accuracy result file."""
    return parse_accuracy(read_json(path, "accuracy file"), str(path))


#: the ``data`` key of an accuracy entry as the report prints it
DATA_LABELS = {"synthetic": "generated", "generated": "generated", "ai4arctic": "AI4Arctic"}


def data_label(data: Any) -> str:
    """'generated', 'AI4Arctic', another stated name, or 'not stated'."""
    if not isinstance(data, str) or not data:
        return "not stated"
    return DATA_LABELS.get(data.lower(), data)

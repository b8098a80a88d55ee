"""The bench result schema: one JSON object per measurement, version 1.

The schema itself is the file ``result_schema.json`` beside this module (JSON Schema, a small
subset: see :mod:`tinyicenet.bench.validation`); writers that cannot import this package (the
ZCU102 board script) follow that file. Here: validate, read, write, and a blank result that the
harness and the modelled-result writers fill in.

A file holds one result object or a JSON list of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from tinyicenet.atomic import write_text
from tinyicenet.bench import validation
from tinyicenet.errors import ResultError

SCHEMA_NAME = "tinyicenet-bench"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("result_schema.json")
TARGETS = ("cpu", "cuda", "jetson", "fpga")
ENERGY_KEYS = ("per_tile_gross", "per_tile_above_idle", "per_scene_gross", "per_scene_above_idle")
#: the harness's two figures: throughput from calls queued back to back (one device
#: synchronisation per window), latency from single synchronised calls. Modelled streaming
#: designs (fed back to back) use the same pair.
TIMING = {"throughput": "queued", "latency": "synchronised"}


@lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    """The result schema (parsed ``result_schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text())


def blank_result(*, target: str, backend: str, device: str, model: str, precision: str,
                 tile: Sequence[int], batch: int, scene: dict[str, Any],
                 variant: str | None = None,
                 timing: dict[str, str] | None = None) -> dict[str, Any]:
    """A result with every figure null and energy 'unavailable' until something fills it in.

    ``timing`` names the timing definition of each figure (e.g. :data:`TIMING`); every new
    record needs it (``validate_result(..., new=True)``).
    """
    result = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "target": target,
        "backend": backend,
        "variant": variant,
        "device": device,
        "model": model,
        "precision": precision,
        "tile": [int(tile[0]), int(tile[1])],
        "batch": int(batch),
        "scene": dict(scene),
        "tiles_per_s": None,
        "scenes_per_s": None,
        "latency_ms": {"p50": None, "p99": None},
        "energy_mj": {k: None for k in ENERGY_KEYS},
        "power_w": {"average": None, "idle": None},
        "window_s": None,
        "repetitions": 0,
        "windows": [],
        "method": {"meter": None, "warmup_s": None, "idle_s": None, "statistic": None,
                   "rails": None, "notes": []},
        "provenance": {"throughput": "measured", "energy": "unavailable",
                       "energy_reason": "no meter was read", "assumptions": [],
                       "verification": None},
        "commit": None,
        "date": "",
        "host": "",
    }
    if timing is not None:
        result["timing"] = dict(timing)
    return result


def validate_result(result: Any, source: str = "result", *, new: bool = False,
                    ) -> dict[str, Any]:
    """Return ``result`` if it follows schema version 1, else raise :class:`ResultError`.

    The message names ``source`` and the first problems, one line. ``new``: a record being
    made now, which must also say its ``timing`` (records written before that field existed
    may lack it and still load).
    """
    if not isinstance(result, dict):
        raise ResultError(f"{source}: a bench result must be a JSON object, got "
                          f"{type(result).__name__}")
    if result.get("schema") != SCHEMA_NAME:
        raise ResultError(f"{source}: not a tinyicenet bench result (schema "
                          f"{result.get('schema')!r}, expected {SCHEMA_NAME!r})")
    version = result.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultError(f"{source}: bench result schema_version {version!r}; this tinyicenet "
                          f"reads version {SCHEMA_VERSION} only")
    problems = validation.errors(result, json_schema())
    if new and "timing" not in result:
        problems.append("$: missing key 'timing' (required for new records)")
    problems += _non_finite(result)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ResultError(f"{source}: invalid bench result: {'; '.join(problems[:3])}{more}")
    return result


def _non_finite(value: Any, path: str = "$") -> list[str]:
    # json.dumps writes NaN/Infinity, which is not JSON; a NaN figure is never a measurement
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path}: {value} is not a finite number (use null and say why)"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{path}[{i}]")]
    return []


def read_json(path: str | Path, what: str) -> Any:
    """The JSON value in ``path``; a missing, unreadable or corrupt file is one ResultError
    naming the file and ``what`` it should be (e.g. ``"result file"``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ResultError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: cannot read {what} ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultError(f"{path}: corrupt {what}, not JSON ({exc.msg} at line "
                          f"{exc.lineno} column {exc.colno})") from None


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Read a result file (one object or a list) and validate every result in it."""
    path = Path(path)
    data = read_json(path, "result file")
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ResultError(f"{path}: result file holds an empty list")
    label = (lambda i: f"{path}[{i}]") if isinstance(data, list) else (lambda i: str(path))
    return [validate_result(item, label(i)) for i, item in enumerate(items)]


def dumps(results: dict[str, Any] | Iterable[dict[str, Any]]) -> str:
    """Validate and serialise one result or several (a list)."""
    if isinstance(results, dict):
        return json.dumps(validate_result(results), indent=2, allow_nan=False) + "\n"
    items = [validate_result(r, f"result {i}") for i, r in enumerate(results)]
    return json.dumps(items, indent=2, allow_nan=False) + "\n"


def write_results(path: str | Path, results: dict[str, Any] | Iterable[dict[str, Any]]) -> Path:
    """Validate, then write atomically (one object, or a list for several)."""
    return write_text(path, dumps(results))

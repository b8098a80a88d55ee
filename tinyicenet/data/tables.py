"""Class tables (SIGRID-3 code -> class per chart), the label fill value, the number of classes
per chart and global normalisation statistics: the one definition of each.

Both are data files in ``data/ai4arctic/`` (``classes.json``, ``statistics.json``) so that a
scientist can read and change them without touching code.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyicenet.errors import DataError
from tinyicenet.resources import resource_dir


@dataclass(frozen=True)
class ChartTable:
    """One chart's classes and its SIGRID code lookup."""

    chart: str
    long_name: str
    names: tuple[str, ...]
    colours: tuple[str, ...]
    code_to_class: dict[int, int]  # SIGRID code -> class index (ignored codes -> fill)
    fill: int
    fast_ice: tuple[int, ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.names)

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """Map SIGRID codes to class indices; unknown and ignored codes give the fill value."""
        codes = np.asarray(codes, dtype=np.int64)
        out = np.full(codes.shape, self.fill, dtype=np.int64)
        for code, cls in self.code_to_class.items():
            out[codes == code] = cls
        return out


def _read_json(name: str) -> dict:
    path = Path(resource_dir("data/ai4arctic")) / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the table ({exc})") from None


@functools.lru_cache(maxsize=None)
def _classes_file() -> dict:
    return _read_json("classes.json")


@functools.lru_cache(maxsize=None)
def class_tables() -> dict[str, ChartTable]:
    """The SIC, SOD and FLOE tables from ``data/ai4arctic/classes.json``."""
    raw = _classes_file()
    fill = int(raw["fill_value"])
    tables = {}
    for chart, spec in raw["charts"].items():
        classes = sorted(spec["classes"], key=lambda c: c["index"])
        code_to_class = {int(code): int(c["index"]) for c in classes for code in c["sigrid"]}
        for code in spec.get("ignore", []):
            code_to_class[int(code)] = fill
        tables[chart] = ChartTable(
            chart=chart, long_name=spec["long_name"],
            names=tuple(c["name"] for c in classes), colours=tuple(c["colour"] for c in classes),
            code_to_class=code_to_class, fill=fill,
            fast_ice=tuple(int(c) for c in spec.get("fast_ice", [])),
        )
    return tables


#: The label value of "no class" in every chart (``fill_value``): left out of training (the
#: loss's ignore index) and scoring, and the products' nodata.
LABEL_FILL: int = int(_classes_file()["fill_value"])
#: The charts, in the order of the class tables file: SIC, SOD, FLOE.
CHARTS: tuple[str, ...] = tuple(class_tables())
#: Number of classes of each chart (AutoICE): SIC 11 (0..100 % in tens), SOD 6, FLOE 7.
NUM_CLASSES: dict[str, int] = {c: t.n_classes for c, t in class_tables().items()}


def class_table(chart: str) -> ChartTable:
    """The table of one chart (``"SIC"``, ``"SOD"`` or ``"FLOE"``)."""
    tables = class_tables()
    if chart not in tables:
        raise DataError(f"unknown chart {chart!r}: choose from {', '.join(tables)}")
    return tables[chart]


def n_classes(chart: str) -> int:
    """Number of classes of a chart (SIC 11, SOD 6, FLOE 7)."""
    return class_table(chart).n_classes


@functools.lru_cache(maxsize=None)
def default_dominance_threshold() -> float:
    """The dominance threshold (fraction of CT) of the class tables file: 0.65."""
    return float(_classes_file()["dominance_threshold"])


@functools.lru_cache(maxsize=None)
def normalisation_stats(path: str | None = None) -> dict[str, tuple[float, float]]:
    """Global ``{variable: (mean, std)}`` from ``data/ai4arctic/statistics.json`` (or ``path``,
    a file in the same layout, e.g. written by :func:`tinyicenet.data.stats.write_statistics`)."""
    if path is None:
        raw = _read_json("statistics.json")
    else:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read the statistics ({exc})") from None
    try:
        stats = {name: (float(v["mean"]), float(v["std"])) for name, v in raw["variables"].items()}
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path or 'statistics.json'}: expected {{'variables': {{name: {{'mean', "
                        "'std'}}}}}}") from None
    for name, (_, std) in stats.items():
        if not std > 0:
            raise DataError(f"{path or 'statistics.json'}: std of {name} must be > 0, got {std}")
    return stats

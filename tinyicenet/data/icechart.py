"""Ice-chart polygons (SIGRID-3 egg codes) -> SIC, SOD and FLOE class rasters.

Raw AI4Arctic files carry ``polygon_icechart`` (polygon id per pixel) and ``polygon_codes``
(``id;CT;CA;SA;FA;CB;SB;FB;CC;SC;FC;CN;CD;CF;POLY_TYPE`` strings, -9 = not filled). The
conversion follows the AutoICE rules:

* SIC is the class of the total concentration CT (water polygons, POLY_TYPE ``W``, are 0).
* SOD and FLOE use the three ice layers A, B, C. When CA is empty but CT is given, the polygon is
  one ice type and CA = CT. Each layer's stage (form) is mapped to its class; layers that fall in
  the same class add their partial concentrations. The polygon gets the class with the largest
  sum **only if that sum is at least ``threshold`` (default 0.65) of CT** (the dominance rule);
  otherwise it is ambiguous and gets the fill value 255. A dominant group of ignored codes
  (glacier ice, unknown) also gives 255.
* A polygon with fast ice in any floe field gets FLOE 255.
* Where SIC is 0 (ice free), SOD and FLOE are 0 (open water), so the charts agree on water.
* Land (``L``) and no-data (``N``) polygons and pixels outside any polygon are 255 everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tinyicenet.data.layout import LABEL_FILL, NOT_FILLED, POLYGON_FIELDS
from tinyicenet.data.tables import class_table, default_dominance_threshold
from tinyicenet.errors import DataError

_IDX = {name: i for i, name in enumerate(POLYGON_FIELDS)}
_LAYERS = (("CA", "SA", "FA"), ("CB", "SB", "FB"), ("CC", "SC", "FC"))


def parse_polygon_codes(codes: Sequence[str], source: str = "polygon_codes") -> tuple[
        np.ndarray, np.ndarray]:
    """Parse egg-code strings into ``(ints [N, 14], poly_type [N])``.

    A header line (first field not a number, as in the released files) is skipped.
    """
    rows, types = [], []
    for n, line in enumerate(codes):
        line = str(line).strip()
        if not line:
            continue
        fields = line.split(";")
        if n == 0 and not fields[0].strip().lstrip("-").isdigit():
            continue  # header "id;CT;CA;..."
        if len(fields) != len(POLYGON_FIELDS):
            raise DataError(f"{source}: entry {n} has {len(fields)} fields, expected "
                            f"{len(POLYGON_FIELDS)} ({';'.join(POLYGON_FIELDS)})")
        try:
            rows.append([int(float(v)) if v.strip() not in ("", "nan") else NOT_FILLED
                         for v in fields[:-1]])
        except ValueError:
            raise DataError(f"{source}: entry {n} has a non-numeric field: {line!r}") from None
        types.append(fields[-1].strip().upper())
    if not rows:
        raise DataError(f"{source}: no polygon codes")
    return np.asarray(rows, dtype=np.int64), np.asarray(types)


def _thresholds(threshold: float | Mapping[str, float] | None) -> dict[str, float]:
    if threshold is None:
        threshold = default_dominance_threshold()
    if isinstance(threshold, Mapping):
        out = {chart: float(threshold.get(chart, default_dominance_threshold()))
               for chart in ("SOD", "FLOE")}
    else:
        out = {"SOD": float(threshold), "FLOE": float(threshold)}
    for chart, value in out.items():
        if not 0.0 < value <= 1.0:
            raise DataError(f"dominance threshold for {chart} must be in (0, 1], got {value}")
    return out


def polygon_classes(codes: Sequence[str], threshold: float | Mapping[str, float] | None = None,
                    source: str = "polygon_codes") -> dict[str, dict[int, int]]:
    """Per polygon id, its SIC, SOD and FLOE class: ``{"SIC": {id: class}, ...}``.

    ``threshold`` is the dominance fraction of CT (one value, or one per chart ``SOD``/``FLOE``).
    """
    thr = _thresholds(threshold)
    ints, types = parse_polygon_codes(codes, source)
    sic_t, sod_t, floe_t = class_table("SIC"), class_table("SOD"), class_table("FLOE")
    fill = LABEL_FILL
    out: dict[str, dict[int, int]] = {"SIC": {}, "SOD": {}, "FLOE": {}}
    for row, ptype in zip(ints, types):
        pid = int(row[_IDX["id"]])
        ct = int(row[_IDX["CT"]])
        if ptype in ("L", "N"):
            sic = sod = floe = fill
        elif ptype == "W":
            sic = sod = floe = 0
        else:
            sic = int(sic_t.lookup(np.array(ct))) if ct != NOT_FILLED else fill
            if sic == 0:
                sod = floe = 0
            elif sic == fill:
                sod = floe = fill
            else:
                sod = _dominant(row, sic, "S", sod_t.lookup, thr["SOD"], sic_t.lookup)
                floe = _dominant(row, sic, "F", floe_t.lookup, thr["FLOE"], sic_t.lookup)
                floe_codes = [int(row[_IDX[layer[2]]]) for layer in _LAYERS]
                if any(code in floe_t.fast_ice for code in floe_codes):
                    floe = fill
        out["SIC"][pid], out["SOD"][pid], out["FLOE"][pid] = sic, sod, floe
    return out


def _dominant(row: np.ndarray, total: int, kind: str, lookup, threshold: float,
              conc_lookup) -> int:
    """The class whose summed partial concentration is >= threshold * total, else fill."""
    sums: dict[int, int] = {}
    for n, (c_name, s_name, f_name) in enumerate(_LAYERS):
        code = int(row[_IDX[s_name if kind == "S" else f_name]])
        conc_code = int(row[_IDX[c_name]])
        if code == NOT_FILLED:
            continue
        if conc_code == NOT_FILLED:
            if n != 0:
                continue
            conc = total  # a single ice type: CA is left empty and equals CT
        else:
            conc = int(conc_lookup(np.array(conc_code)))
            if conc == LABEL_FILL:
                continue
        cls = int(lookup(np.array(code)))
        sums[cls] = sums.get(cls, 0) + conc
    if not sums:
        return LABEL_FILL
    best = max(sums, key=lambda k: sums[k])
    if best == LABEL_FILL or sums[best] < threshold * total:
        return LABEL_FILL
    return best


def rasterise(polygon_ids: np.ndarray, classes: Mapping[int, int]) -> np.ndarray:
    """Map a polygon-id raster to a uint8 class raster (ids not in ``classes`` -> 255)."""
    ids = np.asarray(polygon_ids)
    if ids.dtype.kind == "f":
        ids = np.where(np.isfinite(ids), ids, -1)
    ids = ids.astype(np.int64)
    if not classes:
        return np.full(ids.shape, LABEL_FILL, dtype=np.uint8)
    keys = np.fromiter(classes.keys(), dtype=np.int64)
    values = np.fromiter(classes.values(), dtype=np.int64)
    if keys.min() >= 0 and keys.max() < 1 << 24:  # usual small ids: one table lookup
        lut = np.full(int(keys.max()) + 2, LABEL_FILL, dtype=np.uint8)
        lut[keys] = values
        ids = np.where((ids >= 0) & (ids < lut.size - 1), ids, lut.size - 1)
        return lut[ids]
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    pos = np.clip(np.searchsorted(keys, ids), 0, len(keys) - 1)
    found = keys[pos] == ids
    return np.where(found, values[pos], LABEL_FILL).astype(np.uint8)


def charts_from_polygons(polygon_ids: np.ndarray, codes: Sequence[str],
                         threshold: float | Mapping[str, float] | None = None,
                         source: str = "polygon_codes") -> dict[str, np.ndarray]:
    """SIC, SOD and FLOE uint8 rasters from a polygon-id raster and its egg codes."""
    per_polygon = polygon_classes(codes, threshold, source)
    return {chart: rasterise(polygon_ids, per_polygon[chart]) for chart in ("SIC", "SOD", "FLOE")}

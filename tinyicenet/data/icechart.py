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

``compat="autoice"`` instead reproduces the AutoICE starter kit's ``convert_polygon_icechart``
(astokholm/AI4ArcticSeaIceChallenge, ``convert_raw_icechart.py`` with the lookup tables of
``utils.py``) step by step: FLOE is masked when any layer's floe code converts to "ignore"
(fast ice 8, and shuga 1, pancake 22, level ice 21); layers of one class are combined pairwise
by assignment, so three layers of one class give A + C (not A + B + C); the thresholds are
SOD 0.7 and FLOE 0.5 of CT; unmapped codes pass through the lookups unchanged. The only
departure: a value AutoICE would leave in a chart that is no class of its table (an unmapped
code such as an interval CT ``35`` or glacier ``98``, a not-filled ``-9``) is written as 255
here. ``data/ai4arctic/README.md`` lists every difference between the two rules.
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
                    source: str = "polygon_codes", compat: str | None = None
                    ) -> dict[str, dict[int, int]]:
    """Per polygon id, its SIC, SOD and FLOE class: ``{"SIC": {id: class}, ...}``.

    ``threshold`` is the dominance fraction of CT (one value, or one per chart ``SOD``/``FLOE``).
    ``compat="autoice"`` uses AutoICE's rule (:func:`polygon_classes_autoice`).
    """
    if compat == "autoice":
        return polygon_classes_autoice(codes, threshold, source)
    if compat not in (None, "project"):
        raise DataError(f"unknown chart conversion rule {compat!r}: choose from "
                        f"{', '.join(COMPAT_RULES)}")
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
                         source: str = "polygon_codes", compat: str | None = None
                         ) -> dict[str, np.ndarray]:
    """SIC, SOD and FLOE uint8 rasters from a polygon-id raster and its egg codes."""
    per_polygon = polygon_classes(codes, threshold, source, compat)
    return {chart: rasterise(polygon_ids, per_polygon[chart]) for chart in ("SIC", "SOD", "FLOE")}


#: The starter kit's ``utils.py`` lookup tables (SIGRID code -> class; 255 = ignore).
AUTOICE_SIC = {0: 0, 1: 0, 2: 0, 55: 0, 10: 1, 20: 2, 30: 3, 40: 4, 50: 5, 60: 6, 70: 7, 80: 8,
               90: 9, 91: 10, 92: 10}
AUTOICE_SOD = {0: 0, 80: 0, 81: 1, 82: 1, 83: 2, 84: 2, 85: 2, 86: 4, 87: 3, 88: 3, 89: 3, 91: 4,
               93: 4, 95: 5, 96: 5, 97: 5, 98: 255, 99: 255}
AUTOICE_FLOE = {0: 0, 22: 255, 1: 255, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 5, 8: 255, 9: 6, 10: 6,
                21: 255}
AUTOICE_THRESHOLDS = {"SOD": 0.7, "FLOE": 0.5}
COMPAT_RULES = ("project", "autoice")


def _lookup_passthrough(values: np.ndarray, table: Mapping[int, int]) -> np.ndarray:
    """AutoICE's sequential replacement: listed codes map, every other value stays as it is."""
    out = values.copy()
    for key, value in table.items():
        out[values == key] = value
    return out


def polygon_classes_autoice(codes: Sequence[str],
                            threshold: float | Mapping[str, float] | None = None,
                            source: str = "polygon_codes") -> dict[str, dict[int, int]]:
    """Per polygon id its SIC, SOD and FLOE class by AutoICE's ``convert_polygon_icechart``.

    ``threshold`` overrides AutoICE's (SOD 0.7, FLOE 0.5). Values that are no class of the
    chart's table become 255 (the one departure, see the module docstring).
    """
    if threshold is None:
        thr = dict(AUTOICE_THRESHOLDS)
    elif isinstance(threshold, Mapping):
        thr = {c: float(threshold.get(c, AUTOICE_THRESHOLDS[c])) for c in AUTOICE_THRESHOLDS}
    else:
        thr = {c: float(threshold) for c in AUTOICE_THRESHOLDS}
    ints, types = parse_polygon_codes(codes, source)
    conv = ints[:, :13].copy()  # id, CT, CA, SA, FA, CB, SB, FB, CC, SC, FC, CN, CD
    ct, ca_cols, s_cols, f_cols = 1, [2, 5, 8], [3, 6, 9], [4, 7, 10]
    for col in [ct, *ca_cols]:
        conv[:, col] = _lookup_passthrough(ints[:, col], AUTOICE_SIC)
    empty_ca = (conv[:, ct] > 0) & (conv[:, ca_cols[0]] == NOT_FILLED)
    conv[empty_ca, ca_cols[0]] = conv[empty_ca, ct]
    for col in s_cols:
        conv[:, col] = _lookup_passthrough(ints[:, col], AUTOICE_SOD)
    for col in f_cols:
        conv[:, col] = _lookup_passthrough(ints[:, col], AUTOICE_FLOE)

    def added(cols: list[int]) -> np.ndarray:
        """Partial concentrations plus the pairwise additions (assignments, in AutoICE's
        order: A<-B, then A<-C overwrites it, then B<-C)."""
        add = np.zeros(conv.shape, dtype=np.int64)
        for first, second in ((0, 1), (0, 2), (1, 2)):
            same = conv[:, cols[first]] == conv[:, cols[second]]
            same &= conv[:, cols[first]] != NOT_FILLED
            add[same, ca_cols[first]] = conv[same, ca_cols[second]]
        return conv + add

    out: dict[str, dict[int, int]] = {"SIC": {}, "SOD": {}, "FLOE": {}}
    n_classes = {c: class_table(c).n_classes for c in ("SIC", "SOD", "FLOE")}
    sod_sum, floe_sum = added(s_cols), added(f_cols)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(conv.shape[0]):
            sic = int(conv[i, ct])
            if types[i].lower() == "w":
                sic = 0
            vals = {"SIC": sic}
            for chart, cols, sums in (("SOD", s_cols, sod_sum), ("FLOE", f_cols, floe_sum)):
                part = sums[i, ca_cols]
                ratio = np.divide(np.max(part), sums[i, ct]) * 100
                vals[chart] = (int(conv[i, cols][np.argmax(part)])
                               if ratio >= thr[chart] * 100 else NOT_FILLED)
            if np.any(conv[i, f_cols] == 255):
                vals["FLOE"] = 255
            for chart in ("SOD", "FLOE"):
                if vals[chart] == NOT_FILLED:
                    vals[chart] = LABEL_FILL
                if sic == 0:
                    vals[chart] = 0
            pid = int(conv[i, 0])
            for chart, v in vals.items():
                if v == 99 or not 0 <= v < n_classes[chart]:
                    v = LABEL_FILL  # AutoICE's unknown (99) -> mask; other non-classes: ours
                out[chart][pid] = int(v)
    return out

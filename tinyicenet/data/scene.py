"""A scene file -> the model's view of it: normalised inputs, validity mask, charts, metadata.

The loaded scene is a dict (the shared contract in ``tinyicenet/README.md``):

* ``image`` float32 ``[C, H, W]``: chosen variables, z-scored with the global statistics (or the
  checkpoint's), NaN -> 0;
* ``valid`` bool ``[H, W]``: SAR present (all chosen SAR-grid variables finite and physically
  possible) and not land (``distance_map`` zone 0, when the file has it);
* one uint8 ``[H, W]`` raster per chart (``SOD``, ``SIC``, ``FLOE``): 255 = ignore, also wherever
  ``valid`` is False;
* ``meta``: ``scene_id``, ``path``, ``ice_service``, ``pixel_spacing`` (metres, after
  downsampling), ``downsample``, ``variables``, ``kind`` (rtt/raw/input), ``original_id``,
  ``full_shape``, and the tie-point ``lat``/``lon`` with their ``tie_lines``/``tie_samples``
  positions in output pixel coordinates when the file has them; ``input_scaling`` and
  ``input_scaling_source`` (how the file's inputs were read, decided once per file by
  :func:`decide_scaling`), ``land_pixels`` and ``warnings`` (what was masked and why);
* with ``full_labels=True``, ``full_labels``: the charts on their own grid in the file (80 m for
  ready-to-train files), 255 over land, for AutoICE scoring.

Scaling: a ready-to-train file holds its inputs already z-scored ("standard scaled"), a raw or
generated file holds physical values (dB, K, m/s, ...). The choice is made once per file, never
per window: the explicit ``input_scaling`` argument, else the file's global attribute
``input_scaling`` (written by tinyicenet's generator), else the file kind (raw: physical), else
one look at the whole file's HH (reported as a guess in ``meta["warnings"]``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.reader import SceneReader, Window
from tinyicenet.data.resample import downsample_labels, downsample_mean, upsample
from tinyicenet.data.tables import normalisation_stats
from tinyicenet.errors import DataError

Stats = Mapping[str, tuple[float, float]]


def normalise(values: np.ndarray, variable: str, stats: Stats | None = None) -> np.ndarray:
    """Z-score ``values`` of ``variable`` with the global statistics (NaN stays NaN)."""
    stats = normalisation_stats() if stats is None else stats
    if variable not in stats:
        raise DataError(f"no normalisation statistics for variable {variable} "
                        "(add it to data/ai4arctic/statistics.json)")
    mean, std = stats[variable]
    return ((np.asarray(values, dtype=np.float32) - np.float32(mean)) / np.float32(std)).astype(
        np.float32)


SCALINGS = ("physical", "standardised")
#: Physically possible sigma0 (dB) of Sentinel-1 EW HH/HV: values outside are masked.
SIGMA0_RANGE_DB = (-60.0, 30.0)
#: ``distance_map`` zone of land pixels (AI4Arctic dataset manual; the files' own attribute
#: lists "0; land").
LAND_ZONE = 0
ATTR_SCALING = "input_scaling"


class DataWarning(UserWarning):
    """Suspicious but usable input: what was done is in the message (and ``meta["warnings"]``)."""


def _hh_looks_standardised(reader: SceneReader, stats: Stats) -> bool:
    """One look at the whole file's HH: nearer 0 than the statistics' mean (in its std)."""
    values = reader.read(L.HH)[::7, ::7]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return False
    median = float(np.median(values))
    mean, std = stats.get(L.HH, (-14.508, 5.66))
    return abs(median - mean) / std > abs(median)


def decide_scaling(reader: SceneReader, requested: str = "auto",
                   stats: Stats | None = None) -> tuple[str, str]:
    """``(scaling, source)`` of a file's inputs, decided once for the whole file.

    ``requested``: ``"physical"``, ``"standardised"`` or ``"auto"`` (see the module docstring).
    """
    if requested in SCALINGS:
        return requested, "option"
    if requested != "auto":
        raise DataError(f"input scaling must be physical, standardised or auto, got "
                        f"{requested!r}")
    attr = reader.attrs.get(ATTR_SCALING)
    if attr is not None:
        value = str(np.asarray(attr).ravel()[0]) if not isinstance(attr, str) else attr
        if value not in SCALINGS:
            raise DataError(f"{reader.path}: global attribute {ATTR_SCALING}={value!r} is not "
                            f"one of {', '.join(SCALINGS)}")
        return value, f"file attribute {ATTR_SCALING}"
    if reader.kind == "raw":
        return "physical", "raw file (physical units)"
    stats = normalisation_stats() if stats is None else stats
    guess = "standardised" if _hh_looks_standardised(reader, stats) else "physical"
    return guess, "guessed from the file's HH values (no input_scaling metadata)"


def already_normalised(values: np.ndarray, variable: str, stats: Stats | None = None) -> bool:
    """Deprecated per-array guess, kept for callers outside the loader; the loader decides once
    per file (:func:`decide_scaling`)."""
    stats = normalisation_stats() if stats is None else stats
    if variable not in stats:
        return False
    finite = np.asarray(values)[::7, ::7]
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return False
    median = float(np.median(finite))
    mean, std = stats[variable]
    return abs(median - mean) / std > abs(median)


def mask_impossible_sar(values: np.ndarray, name: str, scaling: str, stats: Stats,
                        path: object) -> tuple[np.ndarray, int]:
    """NaN where a sigma0 channel is non-finite (inf) or outside :data:`SIGMA0_RANGE_DB` (for
    standardised files, in the dB the statistics map back to); return (values, pixels masked).
    A channel with no possible pixel left (but some data) raises DataError."""
    values = np.asarray(values, dtype=np.float32)
    db = values
    if scaling == "standardised" and name in stats:
        mean, std = stats[name]
        db = values * np.float32(std) + np.float32(mean)
    lo, hi = SIGMA0_RANGE_DB
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (np.isfinite(db) & ((db < lo) | (db > hi)))
    n_bad = int(bad.sum())
    if n_bad:
        present = int((~np.isnan(values)).sum())
        if n_bad >= present:
            raise DataError(f"{path}: {name} has no physically possible value ({n_bad} pixels "
                            f"non-finite or outside {lo:g}..{hi:g} dB): refusing the scene")
        values = values.copy()
        values[bad] = np.nan
    return values, n_bad


def _check_variables(variables: Sequence[str]) -> tuple[str, ...]:
    variables = tuple(variables)
    if not variables:
        raise DataError("no input variables chosen")
    for v in variables:
        if v not in L.ALL_INPUT_VARIABLES:
            raise DataError(f"unknown input variable {v!r}: choose from the 24 AI4Arctic inputs "
                            f"({', '.join(L.ALL_INPUT_VARIABLES[:4])}, btemp_*, ERA5 fields)")
    return variables


def _check_charts(reader: SceneReader, charts: Sequence[str] | None) -> tuple[str, ...]:
    if charts is None:
        return reader.charts
    charts = tuple(charts)
    for c in charts:
        if c not in L.CHARTS:
            raise DataError(f"unknown chart {c!r}: choose from {', '.join(L.CHARTS)}")
    return charts


def _factor(downsample: int | None, reader: SceneReader | None = None) -> int:
    """The integer factor; ``None`` = whatever reaches the 400 m working spacing (5 for RTT
    files at 80 m, 10 for raw files at 40 m)."""
    if downsample is None:
        spacing = reader.pixel_spacing if reader is not None else L.RTT_PIXEL_SPACING_M
        return max(1, int(round(L.WORKING_PIXEL_SPACING_M / spacing)))
    if int(downsample) != downsample or downsample < 1:
        raise DataError(f"downsample must be a positive integer, got {downsample}")
    return int(downsample)


def read_block(reader: SceneReader, variables: Sequence[str], charts: Sequence[str],
               downsample: int | None, window: Window | None = None, label_resampling: str = "mode",
               normalise_inputs: bool | str = True, stats: Stats | None = None,
               upsampling: str = "nearest", threshold=None,
               check_labels: bool = True, require_valid: bool = False,
               scaling: str = "physical", mask_land: bool = True,
               full_labels: bool = False, compat: str | None = None) -> dict[str, np.ndarray]:
    """Read, downsample and normalise a block of a scene (the whole scene or a SAR-grid window).

    Returns ``image``, ``valid`` and the charts at the working resolution; ``window`` (slices on
    the full SAR grid) should start and end on multiples of ``downsample``. With
    ``require_valid`` a SAR variable without any finite pixel raises DataError. ``scaling`` is
    the file's input scaling (:func:`decide_scaling`, decided by the caller once per file;
    ``normalise_inputs="auto"`` decides it here): physical inputs are z-scored with ``stats``,
    standardised ones are used as they are; ``normalise_inputs=False`` returns them unchanged.
    Impossible sigma0 values and (``mask_land``) land are masked; ``out["warnings"]`` says
    how many pixels. ``full_labels`` adds the charts on the file grid (``out["full_labels"]``).
    """
    stats = normalisation_stats() if stats is None else stats
    if normalise_inputs == "auto":
        scaling, _ = decide_scaling(reader, "auto", stats)
        normalise_inputs = True
    if scaling not in SCALINGS:
        raise DataError(f"input scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
    f = _factor(downsample, reader)
    if window is None:
        window = (slice(0, reader.shape[0]), slice(0, reader.shape[1]))
    r0, r1 = window[0].start, min(window[0].stop, reader.shape[0])
    c0, c1 = window[1].start, min(window[1].stop, reader.shape[1])
    window = (slice(r0, r1), slice(c0, c1))
    out_h, out_w = -(-(r1 - r0) // f), -(-(c1 - c0) // f)

    channels, sar_valid, notes = [], None, []
    full = {name: reader.read(name, window) for name in variables if L.grid_of(name) == "sar"}
    if L.HH in full and L.HV in full:
        # scaled files may store no-data as 0 in both channels; 0 dB in HV is not physical
        nodata = (full[L.HH] == 0) & (full[L.HV] == 0)
        if nodata.any():
            full[L.HH][nodata] = np.nan
            full[L.HV][nodata] = np.nan
    for name in L.SAR_VARIABLES:
        if name in full:
            full[name], n_bad = mask_impossible_sar(full[name], name, scaling, stats, reader.path)
            if n_bad:
                notes.append(f"{name}: {n_bad} pixels non-finite or outside "
                             f"{SIGMA0_RANGE_DB[0]:g}..{SIGMA0_RANGE_DB[1]:g} dB masked as no data")
    land_full = _land(reader, window) if mask_land else None
    for name in variables:
        if L.grid_of(name) == "sar":
            values = downsample_mean(full.pop(name), f)
            finite = np.isfinite(values)
            if require_valid and not finite.any():
                raise DataError(f"{reader.path}: {name} has no valid pixel (all NaN)")
            sar_valid = finite if sar_valid is None else sar_valid & finite
        else:  # 2 km grid: upsample the whole scene's grid, then cut the window
            grid = reader.read(name)
            full_h, full_w = -(-reader.shape[0] // f), -(-reader.shape[1] // f)
            values = upsample(grid, (full_h, full_w), upsampling)
            values = values[r0 // f:r0 // f + out_h, c0 // f:c0 // f + out_w]
        if normalise_inputs and scaling == "physical":
            values = normalise(values, name, stats)
        channels.append(values)
    if sar_valid is None:  # only 2 km inputs chosen: validity still means "SAR present"
        hh, _ = mask_impossible_sar(reader.read(L.HH, window), L.HH, scaling, stats, reader.path)
        sar_valid = np.isfinite(downsample_mean(hh, f))
        if require_valid and not sar_valid.any():
            raise DataError(f"{reader.path}: {L.HH} has no valid pixel (all NaN)")
    land_pixels = 0
    if land_full is not None:
        # a working pixel is land when most of its block is: the block mean of the land mask
        land = downsample_mean(land_full.astype(np.float32), f) > 0.5
        land_pixels = int(land_full.sum())
        sar_valid = sar_valid & ~land
    image = np.stack(channels).astype(np.float32)
    image[~np.isfinite(image)] = 0.0
    image[:, ~sar_valid] = 0.0
    out = {"image": image, "valid": sar_valid, "warnings": notes, "land_pixels": land_pixels}
    if charts:
        labels = reader.read_charts(charts, window, threshold=threshold, check=check_labels,
                                    **({"compat": compat} if compat else {}))
        if full_labels:
            out["full_labels"] = {}
        for c, values in labels.items():
            if land_full is not None:
                values = np.where(land_full, np.uint8(L.LABEL_FILL), values)
            if full_labels:
                out["full_labels"][c] = values
            values = downsample_labels(values, f, label_resampling)
            values[~sar_valid] = L.LABEL_FILL
            out[c] = values
    return out


def _land(reader: SceneReader, window: Window) -> np.ndarray | None:
    """Land mask on the file grid from ``distance_map`` (zone 0), None when the file has none."""
    if L.DISTANCE not in reader.ds.variables:
        return None
    zone = reader.read(L.DISTANCE, window)
    land = np.isfinite(zone) & (np.rint(zone) == LAND_ZONE)
    return land if land.any() else None


def scene_meta(reader: SceneReader, variables: Sequence[str], downsample: int) -> dict:
    """Metadata of a loaded scene (see the module docstring)."""
    f = _factor(downsample, reader)
    meta = {
        "scene_id": reader.scene_id,
        "path": str(reader.path),
        "ice_service": reader.ice_service,
        "original_id": str(reader.attrs.get("original_id", "")),
        "pixel_spacing": reader.pixel_spacing * f,
        "downsample": f,
        "variables": list(variables),
        "kind": reader.kind,
        "full_shape": reader.shape,
    }
    tie = reader.tiepoints()
    if tie is not None:
        # pixel-centre positions on the output grid: full-grid centre p lies at (p + 0.5) / f - 0.5
        meta.update(lat=tie["lat"], lon=tie["lon"],
                    tie_lines=(tie["lines"] + 0.5) / f - 0.5,
                    tie_samples=(tie["samples"] + 0.5) / f - 0.5)
    return meta


def load_scene(path: str | os.PathLike[str], variables: Sequence[str] = L.DEFAULT_VARIABLES,
               charts: Sequence[str] | None = None, downsample: int | None = L.DEFAULT_DOWNSAMPLE,
               label_resampling: str = "mode", normalise: bool | str = "auto",
               stats: Stats | None = None, upsampling: str = "nearest",
               threshold: float | Mapping[str, float] | None = None,
               input_scaling: str = "auto", mask_land: bool = True,
               full_labels: bool = False, compat: str | None = None) -> dict:
    """Load one scene file (ready-to-train, raw or test input) as the model sees it.

    Args:
        path: a ``*_prep.nc`` (RTT), raw ``*.nc`` or test input file.
        variables: model inputs, default HH and HV; 2 km variables are upsampled to the grid.
        charts: charts to return; None = all the file provides (none for a test input).
        downsample: integer factor (5: 80 m -> 400 m), or None for the factor that reaches
            400 m from the file's pixel spacing. SAR is block-averaged ignoring NaN.
        label_resampling: ``"mode"`` or ``"nearest"``.
        normalise: z-score physical inputs with ``stats`` (default:
            data/ai4arctic/statistics.json; predict and evaluate pass the checkpoint's); ``"auto"``
            and True both follow the file's scaling (``input_scaling``); False returns the
            values as stored.
        input_scaling: ``"auto"`` (decide from the file, once), ``"physical"`` or
            ``"standardised"`` (see :func:`decide_scaling`).
        mask_land: treat ``distance_map`` zone 0 as no data (valid False, labels 255).
        full_labels: also return the charts on the file grid (``full_labels``).
        compat: raw-chart conversion rule (``None``: the project's; ``"autoice"``).
        upsampling: ``"nearest"`` or ``"bilinear"`` for the 2 km variables.
        threshold: dominance threshold for raw files (default 0.65 of CT).
    """
    variables = _check_variables(variables)
    stats = normalisation_stats() if stats is None else stats
    with SceneReader(path) as reader:
        charts = _check_charts(reader, charts)
        scaling, source = decide_scaling(reader, input_scaling, stats)
        block = read_block(reader, variables, charts, downsample,
                           label_resampling=label_resampling,
                           normalise_inputs=normalise is not False, stats=stats,
                           upsampling=upsampling, threshold=threshold, require_valid=True,
                           scaling=scaling, mask_land=mask_land, full_labels=full_labels,
                           compat=compat)
        if not block["valid"].any():
            raise DataError(f"{reader.path}: no pixel where all SAR inputs are valid")
        notes = block.pop("warnings")
        if source.startswith("guessed"):
            notes.insert(0, f"input scaling {scaling} {source}; pass --input-scaling to be sure")
        meta = scene_meta(reader, variables, downsample)
        meta.update(input_scaling=scaling, input_scaling_source=source,
                    land_pixels=block.pop("land_pixels"), warnings=notes)
        block["meta"] = meta
        for note in notes:
            warnings.warn(f"{reader.path}: {note}", DataWarning, stacklevel=2)
    return block

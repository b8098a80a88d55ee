"""A scene file -> the model's view of it: normalised inputs, validity mask, charts, metadata.

The loaded scene is a dict (the shared contract in ``tinyicenet/README.md``):

* ``image`` float32 ``[C, H, W]``: chosen variables, z-scored with the global statistics, NaN -> 0;
* ``valid`` bool ``[H, W]``: SAR present (all chosen SAR-grid variables finite);
* one uint8 ``[H, W]`` raster per chart (``SOD``, ``SIC``, ``FLOE``): 255 = ignore, also wherever
  ``valid`` is False;
* ``meta``: ``scene_id``, ``path``, ``ice_service``, ``pixel_spacing`` (metres, after
  downsampling), ``downsample``, ``variables``, ``kind`` (rtt/raw/input), ``original_id``,
  ``full_shape``, and the tie-point ``lat``/``lon`` with their ``tie_lines``/``tie_samples``
  positions in output pixel coordinates when the file has them.
"""

from __future__ import annotations

import os
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


def already_normalised(values: np.ndarray, variable: str, stats: Stats | None = None) -> bool:
    """True when ``values`` look z-scored already (their median is nearer 0 than the statistics'
    mean, in units of its std): the released ready-to-train files are described as "standard
    scaled", generated scenes and raw files are physical (dB, K, ...)."""
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
               normalise_inputs: bool | str = "auto", stats: Stats | None = None,
               upsampling: str = "nearest", threshold=None,
               check_labels: bool = True, require_valid: bool = False) -> dict[str, np.ndarray]:
    """Read, downsample and normalise a block of a scene (the whole scene or a SAR-grid window).

    Returns ``image``, ``valid`` and the charts at the working resolution; ``window`` (slices on
    the full SAR grid) should start and end on multiples of ``downsample``. With
    ``require_valid`` a SAR variable without any finite pixel raises DataError.
    """
    f = _factor(downsample, reader)
    if window is None:
        window = (slice(0, reader.shape[0]), slice(0, reader.shape[1]))
    r0, r1 = window[0].start, min(window[0].stop, reader.shape[0])
    c0, c1 = window[1].start, min(window[1].stop, reader.shape[1])
    window = (slice(r0, r1), slice(c0, c1))
    out_h, out_w = -(-(r1 - r0) // f), -(-(c1 - c0) // f)

    channels, sar_valid = [], None
    full = {name: reader.read(name, window) for name in variables if L.grid_of(name) == "sar"}
    if L.HH in full and L.HV in full:
        # scaled files may store no-data as 0 in both channels; 0 dB in HV is not physical
        nodata = (full[L.HH] == 0) & (full[L.HV] == 0)
        if nodata.any():
            full[L.HH][nodata] = np.nan
            full[L.HV][nodata] = np.nan
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
        if normalise_inputs is True or (normalise_inputs == "auto"
                                        and not already_normalised(values, name, stats)):
            values = normalise(values, name, stats)
        channels.append(values)
    if sar_valid is None:  # only 2 km inputs chosen: validity still means "SAR present"
        sar_valid = np.isfinite(downsample_mean(reader.read(L.HH, window), f))
        if require_valid and not sar_valid.any():
            raise DataError(f"{reader.path}: {L.HH} has no valid pixel (all NaN)")
    image = np.stack(channels).astype(np.float32)
    image[~np.isfinite(image)] = 0.0
    image[:, ~sar_valid] = 0.0
    out = {"image": image, "valid": sar_valid}
    if charts:
        labels = reader.read_charts(charts, window, threshold=threshold, check=check_labels)
        for c, values in labels.items():
            values = downsample_labels(values, f, label_resampling)
            values[~sar_valid] = L.LABEL_FILL
            out[c] = values
    return out


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
               threshold: float | Mapping[str, float] | None = None) -> dict:
    """Load one scene file (ready-to-train, raw or test input) as the model sees it.

    Args:
        path: a ``*_prep.nc`` (RTT), raw ``*.nc`` or test input file.
        variables: model inputs, default HH and HV; 2 km variables are upsampled to the grid.
        charts: charts to return; None = all the file provides (none for a test input).
        downsample: integer factor (5: 80 m -> 400 m), or None for the factor that reaches
            400 m from the file's pixel spacing. SAR is block-averaged ignoring NaN.
        label_resampling: ``"mode"`` or ``"nearest"``.
        normalise: z-score with ``stats`` (default: data/ai4arctic/statistics.json); ``"auto"``
            (default) leaves a variable as it is when the file already holds it z-scored (see
            :func:`already_normalised`); False returns physical values.
        upsampling: ``"nearest"`` or ``"bilinear"`` for the 2 km variables.
        threshold: dominance threshold for raw files (default 0.65 of CT).
    """
    variables = _check_variables(variables)
    with SceneReader(path) as reader:
        charts = _check_charts(reader, charts)
        block = read_block(reader, variables, charts, downsample,
                           label_resampling=label_resampling, normalise_inputs=normalise,
                           stats=stats, upsampling=upsampling, threshold=threshold,
                           require_valid=True)
        if not block["valid"].any():
            raise DataError(f"{reader.path}: no pixel where all SAR inputs are valid")
        block["meta"] = scene_meta(reader, variables, downsample)
    return block

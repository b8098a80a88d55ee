"""One generated scene: its file name and the ``xarray.Dataset`` in the AI4Arctic layout,
assembled from the chart, geometry, SAR and 2 km grid modules."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.icechart import charts_from_polygons
from tinyicenet.data.synth.chart import make_chart
from tinyicenet.data.synth.config import SynthConfig
from tinyicenet.data.synth.geometry import (
    ZONAL_RANGE_DESCRIPTION,
    footprint,
    land_zones,
    tiepoints,
)
from tinyicenet.data.synth.grid2km import grid_2km
from tinyicenet.data.synth.sar import backscatter
from tinyicenet.data.tables import class_table

_DMI_REGIONS = ("Greenland-CentralEast", "Greenland-NorthEast", "Greenland-SouthEast",
                "Greenland-SouthWest", "Greenland-CentralWest", "Greenland-NorthWest",
                "Greenland-CapeFarewell", "Greenland-Qaanaaq")
_CIS_REGIONS = ("Canada-FoxeBasin", "Canada-HudsonBay", "Canada-EasternArctic",
                "Canada-WesternArctic", "Canada-BaffinBay", "Canada-LabradorSea")



def scene_name(seed: int, index: int, raw: bool = False) -> tuple[str, str, str]:
    """(file name, ice service, original Sentinel-1 product id) of generated scene ``index``."""
    rng = np.random.default_rng([seed, index, 7])
    service = "dmi" if rng.random() < 0.6 else "cis"
    region = rng.choice(_DMI_REGIONS if service == "dmi" else _CIS_REGIONS)
    start = _dt.datetime(2018, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 1400)),
                                                    seconds=int(rng.integers(0, 86400)))
    start += _dt.timedelta(minutes=index)  # distinct names within one generated set
    sat = "S1A" if rng.random() < 0.5 else "S1B"
    stamp = start.strftime("%Y%m%dT%H%M%S")
    stop = (start + _dt.timedelta(seconds=60)).strftime("%Y%m%dT%H%M%S")
    orbit = int(rng.integers(1000, 40000))
    original = (f"{sat}_EW_GRDM_1SDH_{stamp}_{stop}_{orbit:06d}_"
                f"{int(rng.integers(0, 0xFFFFFF)):06X}_{int(rng.integers(0, 0xFFFF)):04X}")
    stem = f"{stamp}_{sat}_AMSR2_Icechart-{region}"
    return stem + (".nc" if raw else L.RTT_SUFFIX), service, original



def generate_scene(size: tuple[int, int], seed: int = 0, index: int = 0, raw: bool = False,
                   pixel_spacing: float | None = None, config: SynthConfig | None = None):
    """Generate one scene as an ``xarray.Dataset`` in the AI4Arctic layout.

    Args:
        size: (lines, samples) of the SAR grid.
        seed, index: the scene is a pure function of ``(seed, index)``.
        raw: raw-style file (``polygon_icechart`` + ``polygon_codes``, 1-D tie points) instead
            of ready-to-train label rasters.
        pixel_spacing: metres per pixel (80 for ready-to-train, 40 for raw by default).
    """
    import xarray as xr

    cfg = config or SynthConfig()
    h, w = (int(size[0]), int(size[1]))
    if h < 8 or w < 8:
        raise ValueError(f"scene size must be at least 8 x 8 pixels, got {h} x {w}")
    spacing = float(pixel_spacing or (L.RAW_PIXEL_SPACING_M if raw else L.RTT_PIXEL_SPACING_M))
    name, service, original = scene_name(seed, index, raw)
    rng = np.random.default_rng([seed, index])
    shape = (h, w)

    chart = make_chart(rng, shape, spacing, cfg)
    inside, theta = footprint(rng, shape)
    land, zone = land_zones(rng, shape, spacing, cfg)
    hh, hv = backscatter(rng, chart, theta, spacing, cfg)
    nodata = ~inside | land
    if cfg.land_backscatter:  # bright, rough terrain: -8 dB HH, -16 dB HV, +/- 2 dB
        texture = rng.normal(0.0, 2.0, size=shape).astype(np.float32)
        hh = np.where(land, np.float32(-8.0) + texture, hh)
        hv = np.where(land, np.float32(-16.0) + texture, hv)
        sar_nodata = ~inside
    else:
        sar_nodata = nodata
    hh[sar_nodata] = np.nan
    hv[sar_nodata] = np.nan
    theta = np.where(inside, theta, np.nan).astype(np.float32)

    # polygon ids 1..n; land pixels belong to no polygon
    polygon_ids = (chart.polygon + 1).astype(np.float32)
    polygon_ids[land] = np.nan
    charts = charts_from_polygons(polygon_ids, chart.codes)
    grid = grid_2km(rng, shape, spacing, charts["SIC"], charts["SOD"], land)
    lines, samples, lat, lon = tiepoints(rng, shape, spacing, cfg.tiepoints, service)

    data_vars = {
        L.HH: (L.SAR_DIMS, hh, {"long_name": "Sentinel-1 EW HH backscatter, NERSC noise corrected",
                                "units": "dB", "polarisation": "HH"}),
        L.HV: (L.SAR_DIMS, hv, {"long_name": "Sentinel-1 EW HV backscatter, NERSC noise corrected",
                                "units": "dB", "polarisation": "HV"}),
        L.INCIDENCE: (L.SAR_DIMS, theta, {"long_name": "SAR incidence angle", "units": "degree"}),
        L.DISTANCE: (L.SAR_DIMS, zone, {
            "long_name": "Distance to land zones numbered with ids ranging from 0 to N",
            "zonal_range_description": ZONAL_RANGE_DESCRIPTION}),
    }
    for var, values in grid.items():
        units = "K" if var.startswith("btemp") or var in ("t2m", "skt") else (
            "m s-1" if var.endswith("rotated") else "kg m-2")
        data_vars[var] = (L.GRID_2KM_DIMS, values, {"units": units})
    if raw:
        data_vars[L.POLYGON_ICECHART] = (L.SAR_DIMS, polygon_ids, {
            "long_name": "Ice chart polygon id per pixel (index into polygon_codes)"})
        pts = np.meshgrid(lines, samples, indexing="ij")
        data_vars.update({
            "sar_grid_line": ((L.RAW_TIEPOINT_DIM,), pts[0].ravel().astype(np.float64), {}),
            "sar_grid_sample": ((L.RAW_TIEPOINT_DIM,), pts[1].ravel().astype(np.float64), {}),
            "sar_grid_latitude": ((L.RAW_TIEPOINT_DIM,), lat.ravel(), {"units": "degrees_north"}),
            "sar_grid_longitude": ((L.RAW_TIEPOINT_DIM,), lon.ravel(), {"units": "degrees_east"}),
            "sar_grid_height": ((L.RAW_TIEPOINT_DIM,), np.zeros(lat.size), {"units": "m"}),
        })
        coords = {L.POLYGON_CODES: np.asarray(chart.codes, dtype=object)}
    else:
        valid = ~nodata
        for c in L.CHARTS:
            label = np.where(valid, charts[c], L.LABEL_FILL).astype(np.uint8)
            data_vars[c] = (L.SAR_DIMS, label, {
                "long_name": class_table(c).long_name, "chart_fill_value": L.LABEL_FILL})
        data_vars[L.LATITUDE] = (L.TIEPOINT_DIMS, lat, {"units": "degrees_north"})
        data_vars[L.LONGITUDE] = (L.TIEPOINT_DIMS, lon, {"units": "degrees_east"})
        coords = {}
    ds = xr.Dataset(data_vars, coords=coords, attrs={
        "scene_id": name[: -len(L.RTT_SUFFIX)] if name.endswith(L.RTT_SUFFIX) else name[:-3],
        "original_id": original,
        "ice_service": service,
        "flip": 0,
        "pixel_spacing": int(spacing) if float(spacing).is_integer() else spacing,
        "title": "tinyicenet synthetic scene in the AI4Arctic layout (not real data)",
        # inputs are physical (dB, degree, K, ...), not standard scaled like the release's RTT
        "input_scaling": "physical",
        "source": f"tinyicenet.data.synth seed={seed} index={index}",
    })
    ds.attrs["file_name"] = name
    return ds

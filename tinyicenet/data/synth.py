"""Seeded synthetic scenes in the exact AI4Arctic layout (ready-to-train or raw).

The real files cannot be downloaded everywhere (CI, demos), so tests and the demo run on scenes
generated here. They carry every variable of the real files with the real names, dimensions,
attributes, fill values and file-name pattern, and their content behaves like Sentinel-1 EW SAR
over sea ice:

* An ice chart of irregular polygons (Voronoi cells on a domain-warped grid with ragged
  boundaries), each with a SIGRID-3 egg code: total concentration CT, up to three partial
  concentrations with stages (SA, SB, SC) and floe sizes. SIC/SOD/FLOE come from these codes
  through :mod:`tinyicenet.data.icechart` (the 65 % dominance rule), as in the real charts.
* Inside a polygon the surface is a mixture of its ice types and open water in their partial
  concentrations, arranged at floe scale (leads open next to the thinnest ice). So a pixel shows
  its own ice type, while the label is the polygon's dominant type: single pixels are ambiguous,
  local context resolves them.
* HH/HV backscatter in dB per ice type with an incidence-angle slope (18.9-47 deg across the
  swath), per-polygon and per-scene offsets, texture (wind streaks on water, ridges on thick
  first-year ice, hummocks on old ice), an HV noise floor with sub-swath steps, and
  multiplicative gamma speckle of a few looks.
* Land (``distance_map`` 0, SAR NaN, labels 255) on some scenes, distance-to-land zones, and NaN
  outside a rotated swath footprint with an irregular edge.
* AMSR2 brightness temperatures and ERA5 fields on the 2 km grid, consistent with the ice
  concentration; a 21 x 21 tie-point lat/lon grid.

A fixed seed gives identical files (scene ``i`` of seed ``s`` uses ``default_rng([s, i])``).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.icechart import charts_from_polygons
from tinyicenet.data.tables import class_table

__all__ = ["SynthConfig", "generate_scene", "write_scene", "write_scenes", "scene_name"]


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator (defaults calibrated so SOD is learnable but not trivial)."""

    polygon_km: float = 35.0  # typical ice-chart polygon size
    floe_km: float = 1.5  # correlation length of the ice-type mixture inside a polygon
    looks: float = 4.0  # equivalent number of looks of the speckle (EW GRDM at 80 m: a few)
    water_polygons: float = 0.18  # fraction of polygons that are open water
    ambiguous_polygons: float = 0.10  # fraction of ice polygons without a dominant stage
    land_probability: float = 0.5  # fraction of scenes with a coastline
    tiepoints: int = 21  # tie-point grid size per axis (~21 x 21 in the release)
    complevel: int = 4  # zlib level of the written files
    chunk: int = 512  # NetCDF chunk edge (pixels)
    #: Keep backscatter over land (as real files do) instead of NaN, so that land masking from
    #: ``distance_map`` is what keeps land out of products and scores.
    land_backscatter: bool = False


# Backscatter model per SOD class: HH and HV in dB at 35 deg incidence, their slopes in dB/deg,
# and the texture amplitude (dB). Calibrated (data/ai4arctic/generator_statistics.py, results in
# generator_statistics.json) so that generated scenes match, within 10 %, the AutoICE starter
# kit's global statistics (misc/global_meanstd.npy: HH -14.51 +/- 5.66 dB, HV -24.70 +/- 4.75 dB,
# incidence angle 34.0 +/- 8.3 deg), with first-year ice slopes of -0.24 dB/deg (HH) and
# -0.16 dB/deg (HV) (Makynen and Karvonen 2017, IEEE TGRS 55(11), doi:10.1109/TGRS.2017.2721981;
# the HV model slope is steeper because the noise floor flattens the measured one) and an old-ice
# HH slope of -0.17 dB/deg (a third-party RCM figure, doi:10.1109/TGRS.2023.3315056). Old ice is
# brightest in HV, new ice near the noise floor, open water wind dependent.
_SIGNATURES = {
    #      hh35   hh/deg  hv35   hv/deg  tex_hh tex_hv
    0: (-19.0, -0.35, -31.0, -0.10, 1.6, 0.6),  # open water (hh35 shifted by wind, below)
    1: (-23.0, -0.20, -30.5, -0.10, 0.6, 0.4),  # new ice: smooth, dark, near the HV floor
    2: (-11.5, -0.20, -24.0, -0.14, 1.4, 1.0),  # young ice: bright HH (rafting, frost flowers)
    3: (-17.5, -0.24, -25.5, -0.21, 1.0, 0.8),  # thin first-year ice
    4: (-14.0, -0.24, -23.0, -0.21, 1.0, 0.8),  # thick first-year ice (+ ridges)
    5: (-9.0, -0.17, -16.5, -0.10, 2.0, 1.8),  # old ice: bright, hummocky, high HV
}
# Stage weights of ice polygons (new, young, thin FYI, thick FYI, old).
_STAGE_WEIGHTS = np.array([0.14, 0.18, 0.22, 0.24, 0.22])
# Floe-size SIGRID codes typical of each SOD class.
_FLOE_CODES = {1: [-9, 22, 1], 2: [2, 3], 3: [3, 4], 4: [4, 5, 6], 5: [5, 6, 7]}
_DMI_REGIONS = ("Greenland-CentralEast", "Greenland-NorthEast", "Greenland-SouthEast",
                "Greenland-SouthWest", "Greenland-CentralWest", "Greenland-NorthWest",
                "Greenland-CapeFarewell", "Greenland-Qaanaaq")
_CIS_REGIONS = ("Canada-FoxeBasin", "Canada-HudsonBay", "Canada-EasternArctic",
                "Canada-WesternArctic", "Canada-BaffinBay", "Canada-LabradorSea")


# ---------------------------------------------------------------------------------------------
# noise fields (vectorised; a 5000 x 5000 field takes a fraction of a second)

def _smoothstep(k: int) -> np.ndarray:
    t = np.arange(k, dtype=np.float32) / np.float32(k)
    return t * t * (3.0 - 2.0 * t)  # value noise without visible grid kinks


def _upsample_grid(grid: np.ndarray, ky: int, kx: int, h: int, w: int) -> np.ndarray:
    """Interpolate a coarse grid by integer factors with broadcasting (no gathers)."""
    gh, gw = grid.shape
    tx, ty = _smoothstep(kx), _smoothstep(ky)
    cols = grid[:, :-1, None] * (1 - tx) + grid[:, 1:, None] * tx  # (gh, gw-1, kx)
    cols = cols.reshape(gh, (gw - 1) * kx)[:, :w]
    out = cols[:-1, None, :] * (1 - ty)[None, :, None] + cols[1:, None, :] * ty[None, :, None]
    return out.reshape((gh - 1) * ky, w)[:h]


def _value_noise(rng: np.random.Generator, shape: tuple[int, int],
                 scale: float | tuple[float, float], octaves: int = 1) -> np.ndarray:
    """Smooth noise with unit standard deviation and correlation length ``scale`` pixels."""
    h, w = shape
    sy, sx = (scale, scale) if np.isscalar(scale) else scale
    out = np.zeros(shape, dtype=np.float32)
    amp = 1.0
    for _ in range(octaves):
        ky, kx = max(1, int(round(sy))), max(1, int(round(sx)))
        oy, ox = int(rng.integers(ky)), int(rng.integers(kx))  # random phase of the grid
        gh, gw = -(-(h + oy) // ky) + 1, -(-(w + ox) // kx) + 1
        grid = rng.standard_normal((gh, gw), dtype=np.float32)
        out += np.float32(amp) * _upsample_grid(grid, ky, kx, h + oy, w + ox)[oy:, ox:]
        amp *= 0.5
        sy, sx = sy / 2, sx / 2
    out /= np.float32(out[::7, ::7].std() + 1e-6)
    return out


def _uniform(field: np.ndarray) -> np.ndarray:
    """Map a unit-variance field to (0, 1) through the normal CDF."""
    from scipy.special import ndtr

    return ndtr(field).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# ice chart

@dataclass
class _Chart:
    polygon: np.ndarray  # int32 [H, W] polygon index (0..n-1)
    codes: list[str]  # egg-code strings (with header) for ids 1..n
    mixture_cum: np.ndarray  # [n, 4] cumulative fractions of the surface types
    mixture_type: np.ndarray  # [n, 4] SOD class of each surface type (0 = water)
    wind: np.ndarray  # [n] wind level of each polygon (0 calm .. 1 strong)
    offset: np.ndarray  # [n] polygon backscatter offset (dB)


def _polygons(rng: np.random.Generator, shape: tuple[int, int], spacing: float,
              cfg: SynthConfig) -> np.ndarray:
    """Irregular polygon index map: Voronoi cells of a domain-warped grid, ragged edges."""
    from scipy.spatial import cKDTree

    h, w = shape
    poly_px = cfg.polygon_km * 1000.0 / spacing
    n = max(3, int(round(h * w / poly_px ** 2)))
    g = max(1, int(round(min(h, w) / 400)))  # coarse grid step: cells are computed at h/g x w/g
    ch, cw = int(math.ceil(h / g)), int(math.ceil(w / g))
    seeds = np.column_stack([rng.uniform(0, ch, n), rng.uniform(0, cw, n)])
    yy, xx = np.meshgrid(np.arange(ch, dtype=np.float32), np.arange(cw, dtype=np.float32),
                         indexing="ij")
    amp = 0.35 * poly_px / g
    wy = yy + amp * _value_noise(rng, (ch, cw), poly_px / g / 1.5, octaves=3)
    wx = xx + amp * _value_noise(rng, (ch, cw), poly_px / g / 1.5, octaves=3)
    _, idx = cKDTree(seeds).query(np.column_stack([wy.ravel(), wx.ravel()]))
    coarse = idx.reshape(ch, cw).astype(np.int32)
    # ragged boundaries at full resolution: jitter the lookup into the coarse grid
    jit = max(2.0, 1.5 * g)
    rows = np.arange(h, dtype=np.float32)[:, None] + jit * _value_noise(rng, shape, 6.0, 2)
    cols = np.arange(w, dtype=np.float32)[None, :] + jit * _value_noise(rng, shape, 6.0, 2)
    ri = np.clip((rows / g).astype(np.intp), 0, ch - 1)
    ci = np.clip((cols / g).astype(np.intp), 0, cw - 1)
    return coarse[ri, ci]


def _egg_codes(rng: np.random.Generator, n: int, cfg: SynthConfig) -> tuple[
        list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Egg codes of ``n`` polygons plus the surface mixture each code implies."""
    sod_codes = {c: [code for code, cls in class_table("SOD").code_to_class.items()
                     if cls == c and code not in (0, 80)] for c in range(1, 6)}
    header = ";".join(L.POLYGON_FIELDS)
    codes = [header]
    cum = np.ones((n, 4), dtype=np.float32)
    types = np.zeros((n, 4), dtype=np.int8)
    wind = rng.beta(2.5, 1.5, n).astype(np.float32)  # calm water (dark, like new ice) is rarer
    for i in range(n):
        pid = i + 1
        if rng.random() < cfg.water_polygons:
            if rng.random() < 0.7:
                codes.append(f"{pid};-9;-9;-9;-9;-9;-9;-9;-9;-9;-9;-9;-9;-9;W")
            else:  # "ice free" written as an ice polygon with CT 01 (< 1/10)
                codes.append(f"{pid};1;-9;-9;-9;-9;-9;-9;-9;-9;-9;-9;-9;-9;I")
            continue  # cum = 1 everywhere, type 0: all water
        ct = int(rng.choice([10, 10, 10, 10, 9, 9, 8]))
        ct_code = (92 if rng.random() < 0.6 else 91) if ct == 10 else ct * 10
        main = int(rng.choice(np.arange(1, 6), p=_STAGE_WEIGHTS))
        others = [c for c in range(1, 6) if c != main]
        # secondary types lean to neighbouring stages
        prox = np.array([1.0 / abs(c - main) for c in others])
        layers: list[tuple[int, int]]  # (tenths, SOD class)
        r = rng.random()
        if r < cfg.ambiguous_polygons and ct >= 6:
            a = int(math.ceil(ct / 2))
            second = int(rng.choice(others, p=prox / prox.sum()))
            layers = [(a, main), (ct - a, second)]  # <= 60 % each: no dominant stage
        elif r < cfg.ambiguous_polygons + 0.35:
            layers = [(ct, main)]
        else:
            a = max(int(math.ceil(0.7 * ct)), ct - int(rng.integers(1, 3)))
            second = int(rng.choice(others, p=prox / prox.sum()))
            layers = [(a, main), (ct - a, second)] if ct - a > 0 else [(ct, main)]
            if len(layers) == 2 and layers[1][0] >= 2 and rng.random() < 0.3:
                third = int(rng.choice([c for c in others if c != second]))
                layers = [layers[0], (layers[1][0] - 1, second), (1, third)]
        fields = [str(pid), str(ct_code)]
        single_ca_empty = len(layers) == 1 and rng.random() < 0.5
        for k in range(3):
            if k < len(layers):
                tenths, cls = layers[k]
                conc = "-9" if single_ca_empty else str(tenths * 10)
                stage = int(rng.choice(sod_codes[cls]))
                floe = int(rng.choice(_FLOE_CODES[cls]))
                fields += [conc, str(stage), str(floe)]
            else:
                fields += ["-9", "-9", "-9"]
        fields += ["-9", "-9", "-9", "I"]
        codes.append(";".join(fields))
        # surface mixture: water first, then ice types from thin to thick (leads freeze over)
        water = (1.0 - ct / 10.0) if ct < 10 else (0.05 if ct_code == 91 else 0.0)
        parts = sorted(layers, key=lambda t: t[1])
        fr = np.array([water] + [t / 10.0 * (1 - water) / (ct / 10.0) for t, _ in parts])
        fr = np.pad(fr, (0, 4 - len(fr)))
        cum[i] = np.cumsum(fr) / fr.sum()
        cum[i, len(parts):] = 1.0
        types[i, 1:1 + len(parts)] = [c for _, c in parts]
        types[i, 1 + len(parts):] = parts[-1][1]
    return codes, cum, types, wind


def _chart(rng: np.random.Generator, shape: tuple[int, int], spacing: float,
           cfg: SynthConfig) -> _Chart:
    polygon = _polygons(rng, shape, spacing, cfg)
    n = int(polygon.max()) + 1
    codes, cum, types, wind = _egg_codes(rng, n, cfg)
    offset = rng.normal(0.0, 0.5, n).astype(np.float32)
    return _Chart(polygon, codes, cum, types, wind, offset)


# ---------------------------------------------------------------------------------------------
# geometry: swath footprint, incidence angle, land, distance to land

def _footprint(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(inside mask, incidence angle in degrees): a rotated swath with an irregular edge."""
    h, w = shape
    phi = math.radians(rng.uniform(-10.0, 10.0))
    c, s = math.cos(abs(phi)), math.sin(abs(phi))
    k = min(h / (h * c + w * s), w / (h * s + w * c))  # largest rotated rectangle that fits
    a, b = k * h / 2.0, k * w / 2.0
    yy = np.arange(h, dtype=np.float32)[:, None] - (h - 1) / 2.0
    xx = np.arange(w, dtype=np.float32)[None, :] - (w - 1) / 2.0
    r_line = yy * math.cos(phi) + xx * math.sin(phi)
    r_samp = -yy * math.sin(phi) + xx * math.cos(phi)
    edge = 0.015 * min(h, w) * np.abs(_value_noise(rng, shape, max(h, w) / 12.0, 2))
    inside = (np.abs(r_line) <= a - edge) & (np.abs(r_samp) <= b - edge)
    if rng.random() < 0.5:  # ascending/descending: near range on either side
        r_samp = -r_samp
    frac = np.clip((r_samp + b) / (2 * b), 0.0, 1.0)
    theta = 18.9 + (47.0 - 18.9) * frac - 2.0 * frac * (1 - frac)  # slightly concave in range
    return inside, theta.astype(np.float32)


_ZONE_EDGES_KM = np.array([0.5, 1, 2, 4, 8, 16, 32, 64, 128], dtype=np.float32)
ZONAL_RANGE_DESCRIPTION = (
    "\ndist_id; dist_range_km\n0; land\n1; 0 -> 0.5\n2; 0.5 -> 1\n3; 1 -> 2\n4; 2 -> 4\n"
    "5; 4 -> 8\n6; 8 -> 16\n7; 16 -> 32\n8; 32 -> 64\n9; 64 -> 128\n10; >128")


def _land(rng: np.random.Generator, shape: tuple[int, int], spacing: float,
          cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """(land mask, distance-to-land zone 0..10) for a scene; most scenes see no or some coast."""
    from scipy.ndimage import distance_transform_edt

    h, w = shape
    if rng.random() >= cfg.land_probability:
        return np.zeros(shape, bool), np.full(shape, 10.0, dtype=np.float32)
    # a coast entering from one side: a ramp towards that side plus fractal noise
    side = int(rng.integers(4))
    ramp = {0: np.linspace(1, 0, h)[:, None], 1: np.linspace(0, 1, h)[:, None],
            2: np.linspace(1, 0, w)[None, :], 3: np.linspace(0, 1, w)[None, :]}[side]
    g = max(1, int(round(min(h, w) / 500)))
    ch, cw = int(math.ceil(h / g)), int(math.ceil(w / g))
    field_c = _value_noise(rng, (ch, cw), max(ch, cw) / 5.0, octaves=4)
    ramp_c = ramp[::g] if ramp.shape[0] > 1 else ramp[:, ::g]
    score = 3.0 * ramp_c.astype(np.float32) + 0.6 * field_c
    level = np.quantile(score, 1.0 - rng.uniform(0.06, 0.22))
    land_c = score > level
    dist_km = distance_transform_edt(~land_c) * g * spacing / 1000.0
    zone_c = np.where(land_c, 0, 1 + np.searchsorted(_ZONE_EDGES_KM, dist_km, side="right"))
    rows = np.minimum(np.arange(h) // g, ch - 1)
    cols = np.minimum(np.arange(w) // g, cw - 1)
    land = land_c[rows][:, cols]
    zone = zone_c[rows][:, cols].astype(np.float32)
    return land, zone


# ---------------------------------------------------------------------------------------------
# SAR

def _sar(rng: np.random.Generator, chart: _Chart, theta: np.ndarray, spacing: float,
         cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """HH and HV in dB (float32) over the whole grid; masking is done by the caller."""
    shape = chart.polygon.shape
    p = chart.polygon
    floe_px = cfg.floe_km * 1000.0 / spacing
    u = _uniform(_value_noise(rng, shape, floe_px, octaves=3))
    # surface type: the polygon's mixture thresholds on a floe-scale uniform field
    k = np.zeros(shape, dtype=np.intp)
    for j in range(3):
        k += u > chart.mixture_cum[:, j][p]
    surface = chart.mixture_type.ravel()[p * 4 + k]
    del u, k

    sig = np.array([_SIGNATURES[c] for c in range(6)], dtype=np.float32)
    dtheta = theta - np.float32(35.0)
    hh = sig[:, 0][surface] + sig[:, 1][surface] * dtheta
    hv = sig[:, 2][surface] + sig[:, 3][surface] * dtheta
    del dtheta
    water = surface == 0
    # wind: open water brightens with wind in HH (and a little in HV)
    wind = chart.wind[p]
    hh += np.where(water, np.float32(10.0) * (wind - np.float32(0.5)), np.float32(0.0))
    hv += np.where(water, np.float32(1.5) * wind, np.float32(0.0))
    del wind
    # per-polygon and per-scene offsets (snow, temperature, calibration)
    off = chart.offset[p]
    scene_off = np.float32(rng.normal(0.0, 0.3))
    hh += off + scene_off
    off *= np.float32(0.7)
    hv += off + scene_off
    del off

    # texture: generic fine texture, wind streaks on water, ridges on FYI, hummocks on old ice
    fine = _value_noise(rng, shape, max(2.0, 250.0 / spacing), octaves=2)
    hh += sig[:, 4][surface] * np.float32(0.6) * fine
    hv += sig[:, 5][surface] * np.float32(0.6) * fine
    old = surface == 5
    hh += np.where(old, sig[5, 4] * np.float32(0.8) * fine, np.float32(0.0))
    hv += np.where(old, sig[5, 5] * np.float32(0.8) * fine, np.float32(0.0))
    del fine, old
    streak = _value_noise(rng, shape, (max(2.0, 300.0 / spacing), max(4.0, 3000.0 / spacing)), 2)
    hh += np.where(water, sig[0, 4] * streak, np.float32(0.0))
    del streak, water
    ridged = np.abs(_value_noise(rng, shape, max(3.0, 1200.0 / spacing), octaves=2))
    # thin bright lines where the noise crosses zero: (1 - |n| - 0.8) / 0.2, squared
    ridges = np.clip(np.float32(1.0) - ridged * np.float32(5.0), 0.0, 1.0, out=ridged)
    ridges *= ridges
    ridges *= np.array([0, 0, 2.5, 1.0, 5.0, 3.0], dtype=np.float32)[surface]
    hh += ridges
    ridges *= np.float32(0.8)
    hv += ridges
    del ridges, ridged, surface

    # to linear power, add noise floors (HV: ~-30 dB with sub-swath steps), speckle, back to dB
    w = shape[1]
    sub = np.floor(np.arange(w) / (w / 5.0)).clip(0, 4)
    floor_hv = (-30.5 + np.array([0.0, 0.8, -0.4, 0.6, -0.2])[sub.astype(int)]).astype(np.float32)
    looks = cfg.looks
    out = []
    ln10 = np.float32(np.log(10.0) / 10.0)
    for db, floor in ((hh, np.float32(-36.0)), (hv, floor_hv[None, :])):
        lin = np.exp(db * ln10, out=db)
        lin += np.exp(floor * ln10)
        lin *= rng.standard_gamma(np.float32(looks), size=shape, dtype=np.float32)
        lin *= np.float32(1.0 / looks)
        out.append(np.log10(lin, out=lin) * np.float32(10.0))
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------
# 2 km grid: AMSR2 and ERA5

# brightness temperatures (K): open water and ice (young/FYI, old ice) per channel
_TB = {
    "6_9": ((80, 160), (232, 248), (225, 242)), "7_3": ((82, 161), (232, 248), (224, 241)),
    "10_7": ((88, 167), (233, 248), (220, 238)), "18_7": ((108, 183), (235, 248), (205, 228)),
    "23_8": ((125, 198), (236, 247), (200, 222)), "36_5": ((145, 210), (232, 244), (185, 210)),
    "89_0": ((190, 235), (220, 232), (175, 195)),
}


def _grid_2km(rng: np.random.Generator, shape: tuple[int, int], spacing: float, sic: np.ndarray,
              sod: np.ndarray, land: np.ndarray) -> dict[str, np.ndarray]:
    """AMSR2 and ERA5 variables on the 2 km grid, from block averages of the chart."""
    f = L.GRID_2KM_SPACING_M / spacing
    h, w = shape
    gh, gw = int(math.ceil(h / f)), int(math.ceil(w / f))
    rows = np.minimum((np.arange(gh) + 0.5) * f, h - 1).astype(int)
    cols = np.minimum((np.arange(gw) + 0.5) * f, w - 1).astype(int)
    conc = sic[np.ix_(rows, cols)].astype(np.float32)
    conc = np.where(conc == L.LABEL_FILL, 0.0, conc / 10.0)
    old = (sod[np.ix_(rows, cols)] == 5).astype(np.float32)
    is_land = land[np.ix_(rows, cols)]
    out: dict[str, np.ndarray] = {}
    for freq, (water, fyi, myi) in _TB.items():
        for j, pol in enumerate("hv"):
            ice = fyi[j] * (1 - old) + myi[j] * old
            tb = water[j] * (1 - conc) + ice * conc
            tb = np.where(is_land, 255.0 + 3 * j, tb) + rng.normal(0, 1.2, (gh, gw))
            out[f"btemp_{freq}{pol}"] = tb.astype(np.float32)
    smooth = lambda s: _value_noise(rng, (gh, gw), max(2.0, s / 2.0), octaves=2)  # noqa: E731
    t2m = 255.0 + rng.normal(0, 6) + 2.0 * smooth(60) + 6.0 * (1 - conc)
    out["u10m_rotated"] = (rng.normal(0, 4) + 2.0 * smooth(40)).astype(np.float32)
    out["v10m_rotated"] = (rng.normal(0, 4) + 2.0 * smooth(40)).astype(np.float32)
    out["t2m"] = t2m.astype(np.float32)
    out["skt"] = (t2m - 1.5 * conc + 0.5 * smooth(30)).astype(np.float32)
    out["tcwv"] = np.clip(4.0 + rng.normal(0, 1.5) + 1.0 * smooth(50), 0.5, None).astype(np.float32)
    out["tclw"] = np.clip(0.04 + 0.03 * smooth(30), 0.0, None).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------
# geolocation and names

def _tiepoints(rng: np.random.Generator, shape: tuple[int, int], spacing: float, n: int,
               service: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(line positions [ny], sample positions [nx], lat [ny, nx], lon [ny, nx])."""
    h, w = shape
    ny, nx = min(n, h), min(n, w)
    lines = np.linspace(0, h - 1, ny)
    samples = np.linspace(0, w - 1, nx)
    if service == "dmi":
        lat0, lon0 = rng.uniform(60, 80), rng.uniform(-60, -10)
    else:
        lat0, lon0 = rng.uniform(55, 75), rng.uniform(-95, -60)
    heading = math.radians(rng.uniform(-20, 20))
    dy = (lines[:, None] - h / 2) * spacing
    dx = (samples[None, :] - w / 2) * spacing
    north = -(dy * math.cos(heading) - dx * math.sin(heading))
    east = dy * math.sin(heading) + dx * math.cos(heading)
    lat = lat0 + north / 111_320.0
    lon = lon0 + east / (111_320.0 * np.cos(np.radians(lat)))
    return lines, samples, lat, lon


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


# ---------------------------------------------------------------------------------------------
# the scene

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

    chart = _chart(rng, shape, spacing, cfg)
    inside, theta = _footprint(rng, shape)
    land, zone = _land(rng, shape, spacing, cfg)
    hh, hv = _sar(rng, chart, theta, spacing, cfg)
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
    grid = _grid_2km(rng, shape, spacing, charts["SIC"], charts["SOD"], land)
    lines, samples, lat, lon = _tiepoints(rng, shape, spacing, cfg.tiepoints, service)

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


def _encoding(ds, cfg: SynthConfig) -> dict:
    enc = {}
    for var in ds.data_vars:
        da = ds[var]
        e: dict = {"zlib": cfg.complevel > 0, "complevel": cfg.complevel} if cfg.complevel else {}
        if da.ndim == 2:
            e["chunksizes"] = tuple(min(cfg.chunk, n) for n in da.shape)
            e["shuffle"] = True
        if da.dtype.kind == "f":
            e["_FillValue"] = np.float32(np.nan) if da.dtype == np.float32 else np.nan
        else:
            e["_FillValue"] = None  # labels: 255 is a class-table value, not a NetCDF fill
        enc[var] = e
    return enc


def write_scene(ds, path: str | os.PathLike[str], config: SynthConfig | None = None) -> Path:
    """Write a generated scene atomically as NetCDF4 (zlib, chunked like the release)."""
    from tinyicenet.atomic import atomic_path

    cfg = config or SynthConfig()
    ds = ds.copy()
    ds.attrs.pop("file_name", None)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=_encoding(ds, cfg))
    return Path(path)


def write_scenes(out_dir: str | os.PathLike[str], n: int, size: Sequence[int] = (600, 600),
                 seed: int = 0, raw: bool = False, pixel_spacing: float | None = None,
                 config: SynthConfig | None = None,
                 on_scene: Callable[[Path], None] | None = None) -> list[Path]:
    """Generate ``n`` scenes into ``out_dir`` and return their paths (in index order).

    ``on_scene`` is called after each file is written (for progress bars).
    """
    if n < 1:
        raise ValueError(f"number of scenes must be >= 1, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        ds = generate_scene(tuple(size), seed=seed, index=i, raw=raw,
                            pixel_spacing=pixel_spacing, config=config)
        path = write_scene(ds, out / ds.attrs["file_name"], config)
        paths.append(path)
        if on_scene is not None:
            on_scene(path)
    return paths

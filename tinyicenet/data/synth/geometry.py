"""Scene geometry: the swath footprint and incidence angle, land and distance-to-land zones,
and the tie-point latitude/longitude grid."""

from __future__ import annotations

import math

import numpy as np

from tinyicenet.data.synth.config import SynthConfig
from tinyicenet.data.synth.noise import value_noise


def footprint(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
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
    edge = 0.015 * min(h, w) * np.abs(value_noise(rng, shape, max(h, w) / 12.0, 2))
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


def land_zones(rng: np.random.Generator, shape: tuple[int, int], spacing: float,
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
    field_c = value_noise(rng, (ch, cw), max(ch, cw) / 5.0, octaves=4)
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



def tiepoints(rng: np.random.Generator, shape: tuple[int, int], spacing: float, n: int,
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

"""SAR physics: HH/HV backscatter per ice type with incidence-angle slopes, wind, offsets and
texture, the noise floors and gamma speckle."""

from __future__ import annotations

import numpy as np

from tinyicenet.data.synth.chart import Chart
from tinyicenet.data.synth.config import SynthConfig
from tinyicenet.data.synth.noise import uniform_field, value_noise

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



def backscatter(rng: np.random.Generator, chart: Chart, theta: np.ndarray, spacing: float,
         cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """HH and HV in dB (float32) over the whole grid; masking is done by the caller."""
    shape = chart.polygon.shape
    p = chart.polygon
    floe_px = cfg.floe_km * 1000.0 / spacing
    u = uniform_field(value_noise(rng, shape, floe_px, octaves=3))
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
    fine = value_noise(rng, shape, max(2.0, 250.0 / spacing), octaves=2)
    hh += sig[:, 4][surface] * np.float32(0.6) * fine
    hv += sig[:, 5][surface] * np.float32(0.6) * fine
    old = surface == 5
    hh += np.where(old, sig[5, 4] * np.float32(0.8) * fine, np.float32(0.0))
    hv += np.where(old, sig[5, 5] * np.float32(0.8) * fine, np.float32(0.0))
    del fine, old
    streak = value_noise(rng, shape, (max(2.0, 300.0 / spacing), max(4.0, 3000.0 / spacing)), 2)
    hh += np.where(water, sig[0, 4] * streak, np.float32(0.0))
    del streak, water
    ridged = np.abs(value_noise(rng, shape, max(3.0, 1200.0 / spacing), octaves=2))
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

"""The 2 km grid: AMSR2 brightness temperatures and ERA5 fields consistent with the chart."""

from __future__ import annotations

import math

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.synth.noise import value_noise

# brightness temperatures (K): open water and ice (young/FYI, old ice) per channel
_TB = {
    "6_9": ((80, 160), (232, 248), (225, 242)), "7_3": ((82, 161), (232, 248), (224, 241)),
    "10_7": ((88, 167), (233, 248), (220, 238)), "18_7": ((108, 183), (235, 248), (205, 228)),
    "23_8": ((125, 198), (236, 247), (200, 222)), "36_5": ((145, 210), (232, 244), (185, 210)),
    "89_0": ((190, 235), (220, 232), (175, 195)),
}


def grid_2km(rng: np.random.Generator, shape: tuple[int, int], spacing: float, sic: np.ndarray,
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
    smooth = lambda s: value_noise(rng, (gh, gw), max(2.0, s / 2.0), octaves=2)  # noqa: E731
    t2m = 255.0 + rng.normal(0, 6) + 2.0 * smooth(60) + 6.0 * (1 - conc)
    out["u10m_rotated"] = (rng.normal(0, 4) + 2.0 * smooth(40)).astype(np.float32)
    out["v10m_rotated"] = (rng.normal(0, 4) + 2.0 * smooth(40)).astype(np.float32)
    out["t2m"] = t2m.astype(np.float32)
    out["skt"] = (t2m - 1.5 * conc + 0.5 * smooth(30)).astype(np.float32)
    out["tcwv"] = np.clip(4.0 + rng.normal(0, 1.5) + 1.0 * smooth(50), 0.5, None).astype(np.float32)
    out["tclw"] = np.clip(0.04 + 0.03 * smooth(30), 0.0, None).astype(np.float32)
    return out

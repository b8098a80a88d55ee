"""The ice chart: irregular polygons (Voronoi cells on a domain-warped grid, ragged edges) and
the SIGRID-3 egg code of each, with the surface mixture each code implies."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.synth.config import SynthConfig
from tinyicenet.data.synth.noise import value_noise
from tinyicenet.data.tables import class_table

# Stage weights of ice polygons (new, young, thin FYI, thick FYI, old).
_STAGE_WEIGHTS = np.array([0.14, 0.18, 0.22, 0.24, 0.22])
# Floe-size SIGRID codes typical of each SOD class.
_FLOE_CODES = {1: [-9, 22, 1], 2: [2, 3], 3: [3, 4], 4: [4, 5, 6], 5: [5, 6, 7]}



@dataclass
class Chart:
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
    wy = yy + amp * value_noise(rng, (ch, cw), poly_px / g / 1.5, octaves=3)
    wx = xx + amp * value_noise(rng, (ch, cw), poly_px / g / 1.5, octaves=3)
    _, idx = cKDTree(seeds).query(np.column_stack([wy.ravel(), wx.ravel()]))
    coarse = idx.reshape(ch, cw).astype(np.int32)
    # ragged boundaries at full resolution: jitter the lookup into the coarse grid
    jit = max(2.0, 1.5 * g)
    rows = np.arange(h, dtype=np.float32)[:, None] + jit * value_noise(rng, shape, 6.0, 2)
    cols = np.arange(w, dtype=np.float32)[None, :] + jit * value_noise(rng, shape, 6.0, 2)
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


def make_chart(rng: np.random.Generator, shape: tuple[int, int], spacing: float,
           cfg: SynthConfig) -> Chart:
    polygon = _polygons(rng, shape, spacing, cfg)
    n = int(polygon.max()) + 1
    codes, cum, types, wind = _egg_codes(rng, n, cfg)
    offset = rng.normal(0.0, 0.5, n).astype(np.float32)
    return Chart(polygon, codes, cum, types, wind, offset)

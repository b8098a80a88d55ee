"""Statistics of generated scenes next to the published AI4Arctic figures they are tuned to.

``generator_statistics`` generates scenes in memory and measures, over valid (in-swath,
non-land) pixels: the global mean and std of HH, HV (dB) and the incidence angle (degrees), the
incidence-angle slope of first-year ice (dB per degree, a least-squares fit of HH/HV on the
angle after removing each polygon's mean, so per-polygon offsets do not bias it), and the SOD
class shares of the labelled pixels. ``PUBLISHED`` holds the figures with their sources;
``data/ai4arctic/generator_statistics.py`` writes both into ``generator_statistics.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyicenet.data import layout as L

#: Published figures the generator is calibrated to (value, source).
PUBLISHED: dict[str, dict[str, Any]] = {
    "hh_mean_db": {"value": -14.508, "source": "AutoICE starter kit misc/global_meanstd.npy"},
    "hh_std_db": {"value": 5.660, "source": "AutoICE starter kit misc/global_meanstd.npy"},
    "hv_mean_db": {"value": -24.701, "source": "AutoICE starter kit misc/global_meanstd.npy"},
    "hv_std_db": {"value": 4.747, "source": "AutoICE starter kit misc/global_meanstd.npy"},
    "ia_mean_deg": {"value": 33.998, "source": "AutoICE starter kit misc/global_meanstd.npy"},
    "ia_std_deg": {"value": 8.322, "source": "AutoICE starter kit misc/global_meanstd.npy"},
    "fyi_hh_slope_db_per_deg": {
        "value": -0.24, "source": "Makynen and Karvonen 2017, IEEE TGRS 55(11), "
        "doi:10.1109/TGRS.2017.2721981: deformed FYI, winter, Sentinel-1 EW (level FYI -0.25)"},
    "fyi_hv_slope_db_per_deg": {
        "value": -0.16, "source": "Makynen and Karvonen 2017 (as above): deformed FYI, winter, "
        "HV after noise-floor subtraction"},
    "old_ice_hh_slope_db_per_deg": {
        "value": -0.167, "source": "third-party figure: IEEE TGRS 61 (2023), "
        "doi:10.1109/TGRS.2023.3315056, RADARSAT Constellation Mission, MYI in winter"},
}
#: Relative tolerance the global statistics are held to.
TOLERANCE = 0.10


def _slope(values: np.ndarray, theta: np.ndarray, polygon: np.ndarray) -> float:
    """Least-squares slope of ``values`` on ``theta`` with one intercept per polygon."""
    ids, inv = np.unique(polygon, return_inverse=True)
    count = np.bincount(inv).astype(np.float64)
    v = values - (np.bincount(inv, values) / count)[inv]
    t = theta - (np.bincount(inv, theta) / count)[inv]
    denom = float((t * t).sum())
    return float((v * t).sum() / denom) if denom > 0 else float("nan")


def generator_statistics(n_scenes: int = 12, size: tuple[int, int] = (500, 500),
                         seed: int = 300, config: Any = None) -> dict[str, Any]:
    """Measure generated scenes (see the module docstring); deterministic for a seed."""
    from tinyicenet.data.icechart import charts_from_polygons
    from tinyicenet.data.synth import generate_scene

    hh_all, hv_all, ia_all = [], [], []
    fyi = {"hh": [], "hv": [], "theta": [], "poly": []}
    old = {"hh": [], "theta": [], "poly": []}
    shares = np.zeros(6, dtype=np.int64)
    for i in range(n_scenes):
        ds = generate_scene(size, seed=seed, index=i, raw=True, pixel_spacing=80.0,
                            config=config)
        hh, hv = ds[L.HH].values, ds[L.HV].values
        ia = ds[L.INCIDENCE].values
        poly = ds[L.POLYGON_ICECHART].values
        codes = [str(c) for c in ds[L.POLYGON_CODES].values]
        sod = charts_from_polygons(poly, codes)["SOD"]
        valid = np.isfinite(hh) & np.isfinite(hv) & np.isfinite(ia)
        hh_all.append(hh[valid])
        hv_all.append(hv[valid])
        ia_all.append(ia[valid])
        labelled = valid & (sod != L.LABEL_FILL)
        shares += np.bincount(sod[labelled], minlength=6)[:6]
        offset = i * 1_000_000  # polygon ids unique across scenes
        for cls_set, store, keys in (((3, 4), fyi, ("hh", "hv")), ((5,), old, ("hh",))):
            m = valid & np.isin(sod, cls_set)
            for k in keys:
                store[k].append((hh if k == "hh" else hv)[m].astype(np.float64))
            store["theta"].append(ia[m].astype(np.float64))
            store["poly"].append(poly[m].astype(np.int64) + offset)
    hh, hv, ia = (np.concatenate(a).astype(np.float64) for a in (hh_all, hv_all, ia_all))
    cat = {k: np.concatenate(v) for k, v in fyi.items()}
    cat_old = {k: np.concatenate(v) for k, v in old.items()}
    from tinyicenet.data.tables import class_table
    names = class_table("SOD").names
    measured = {
        "hh_mean_db": float(hh.mean()), "hh_std_db": float(hh.std()),
        "hv_mean_db": float(hv.mean()), "hv_std_db": float(hv.std()),
        "ia_mean_deg": float(ia.mean()), "ia_std_deg": float(ia.std()),
        "fyi_hh_slope_db_per_deg": _slope(cat["hh"], cat["theta"], cat["poly"]),
        "fyi_hv_slope_db_per_deg": _slope(cat["hv"], cat["theta"], cat["poly"]),
        "old_ice_hh_slope_db_per_deg": _slope(cat_old["hh"], cat_old["theta"], cat_old["poly"]),
    }
    total = int(shares.sum())
    return {
        "generator": {"n_scenes": n_scenes, "size": list(size), "seed": seed,
                      "pixel_spacing_m": 80.0, "valid_pixels": int(hh.size)},
        "measured": measured,
        "published": PUBLISHED,
        "relative_difference": {k: (measured[k] - PUBLISHED[k]["value"])
                                / abs(PUBLISHED[k]["value"]) for k in PUBLISHED},
        "sod_class_shares": {names[c]: shares[c] / total for c in range(6)},
        "sod_class_shares_note": ("generator's shares of labelled pixels; no published per-class "
                                  "pixel shares of the AI4Arctic release were found to compare "
                                  "with (not calibrated)"),
        "tolerance": TOLERANCE,
    }

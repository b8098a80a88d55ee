"""How hard is SOD on a set of scenes? Pixel-wise versus local-context baselines.

A scene set is a good stand-in for AI4Arctic when single pixels are ambiguous (speckle, mixed
ice types inside a chart polygon, incidence-angle trends) while local context separates the
classes. We measure it with a gradient-boosted classifier on

* HH/HV of single pixels at full resolution (80 m),
* HH/HV of single pixels at the working resolution (400 m, block means),
* local means and standard deviations of HH/HV in ``k x k`` windows at the working resolution,

trained on one set of scenes and scored (weighted F1 over valid labelled pixels, as AutoICE)
on another.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from tinyicenet.data.layout import DEFAULT_DOWNSAMPLE, LABEL_FILL


def _features(paths: Sequence[str | os.PathLike[str]], downsample: int, window: int):
    from scipy.ndimage import uniform_filter

    from tinyicenet.data.scene import load_scene

    xs, ys = [], []
    for path in paths:
        scene = load_scene(path, downsample=downsample, charts=["SOD"])
        image, valid, sod = scene["image"], scene["valid"], scene["SOD"]
        feats = [image[0], image[1]]
        if window > 1:
            weight = valid.astype(np.float32)
            norm = uniform_filter(weight, window) + 1e-6
            for band in image[:2]:
                mean = uniform_filter(band * weight, window) / norm
                sq = uniform_filter(band * band * weight, window) / norm
                feats += [mean, np.sqrt(np.maximum(sq - mean * mean, 0.0))]
        keep = valid & (sod != LABEL_FILL)
        xs.append(np.stack(feats, -1)[keep])
        ys.append(sod[keep])
    return np.concatenate(xs), np.concatenate(ys)


def sod_difficulty(train: Sequence[str | os.PathLike[str]], test: Sequence[str | os.PathLike[str]],
                   windows: Sequence[int] = (5, 7), downsample: int = DEFAULT_DOWNSAMPLE,
                   max_samples: int = 100_000, seed: int = 0) -> dict[str, float]:
    """Weighted SOD F1 of pixel-wise and local-window classifiers (train on ``train``, score on
    ``test``). Keys: ``pixel_full_res``, ``pixel_working_res``, ``window_{k}x{k}``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import f1_score
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    setups = {"pixel_full_res": (1, 1), "pixel_working_res": (downsample, 1)}
    setups.update({f"window_{k}x{k}": (downsample, k) for k in windows})
    out = {}
    for name, (factor, window) in setups.items():
        x_tr, y_tr = _features(train, factor, window)
        x_te, y_te = _features(test, factor, window)
        i = rng.choice(len(x_tr), min(len(x_tr), max_samples), replace=False)
        j = rng.choice(len(x_te), min(len(x_te), max_samples), replace=False)
        # one thread: OpenMP spin-waiting on a shared, busy machine is ~100x slower
        with threadpool_limits(1):
            clf = HistGradientBoostingClassifier(max_iter=60, random_state=seed)
            clf.fit(x_tr[i], y_tr[i])
            out[name] = float(f1_score(y_te[j], clf.predict(x_te[j]), average="weighted"))
    return out

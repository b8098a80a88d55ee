"""Global normalisation statistics computed from scene files (to replace the defaults)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.reader import SceneReader


def compute_statistics(paths: Iterable[str | os.PathLike[str]],
                       variables: Sequence[str] = L.DEFAULT_VARIABLES,
                       ) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each variable over all finite pixels of all files.

    Sums are accumulated in float64 per file, so memory stays one scene.
    """
    acc = {v: [0, 0.0, 0.0] for v in variables}  # count, sum, sum of squares
    for path in paths:
        with SceneReader(path) as reader:
            for v in variables:
                x = reader.read(v)
                x = x[np.isfinite(x)].astype(np.float64)
                acc[v][0] += x.size
                acc[v][1] += float(x.sum())
                acc[v][2] += float(np.square(x).sum())
    out = {}
    for v, (n, s, ss) in acc.items():
        if n == 0:
            continue
        mean = s / n
        out[v] = (mean, float(np.sqrt(max(ss / n - mean * mean, 0.0))))
    return out


def write_statistics(stats: dict[str, tuple[float, float]], path: str | os.PathLike[str],
                     source: str = "computed") -> None:
    """Write statistics in the layout of ``data/ai4arctic/statistics.json`` (atomically)."""
    from tinyicenet.atomic import write_text

    doc = {"description": "Global z-score statistics per input variable: x' = (x - mean) / std.",
           "variables": {v: {"mean": m, "std": s, "source": source} for v, (m, s) in stats.items()}}
    write_text(path, json.dumps(doc, indent=1) + "\n")

"""Quicklook PNG of one scene: HH backscatter, the predicted chart and (when present) the labels."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinyicenet.atomic import atomic_path
from tinyicenet.predict.cog import Colour, rgba255

#: Longest side of each panel in pixels: a quicklook is for eyes, not for analysis.
MAX_SIDE = 800


def _thin(a: np.ndarray, max_side: int) -> np.ndarray:
    step = max(1, int(np.ceil(max(a.shape[-2:]) / max_side)))
    return a[..., ::step, ::step]


def _stretch(hh: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """2-98 % percentile stretch over the SAR pixels (robust to outliers and to no-data zeros)."""
    v = hh[valid]
    if v.size == 0:
        return -1.0, 1.0
    lo, hi = np.percentile(v, [2, 98])
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 1, float(lo) + 1)


def write_quicklook(path: str | os.PathLike[str], *, hh: np.ndarray, valid: np.ndarray,
                    prediction: np.ndarray, names: Sequence[str],
                    colours: Sequence[Colour], labels: np.ndarray | None = None,
                    chart: str = "SOD", title: str = "", nodata: int = 255,
                    dpi: int = 100) -> Path:
    """Write the quicklook PNG atomically; classes drawn in the class table's colours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    k = len(names)
    rgb = [tuple(v / 255 for v in rgba255(col)[:3]) for col in colours]
    # nodata (masked) shows the white figure background
    cmap = ListedColormap(rgb, name=chart).with_extremes(bad=(1, 1, 1, 0))
    norm = BoundaryNorm(np.arange(-0.5, k + 0.5), k)

    panels: list[tuple[str, np.ndarray, dict]] = []
    hh_t, valid_t = _thin(hh, MAX_SIDE), _thin(valid, MAX_SIDE)
    lo, hi = _stretch(hh_t, valid_t)
    panels.append(("HH (normalised backscatter)", np.ma.masked_where(~valid_t, hh_t),
                   {"cmap": "gray", "vmin": lo, "vmax": hi}))
    panels.append((f"{chart} prediction",
                   np.ma.masked_equal(_thin(prediction, MAX_SIDE), nodata),
                   {"cmap": cmap, "norm": norm}))
    if labels is not None:
        panels.append((f"{chart} ice chart (labels)",
                       np.ma.masked_equal(_thin(labels, MAX_SIDE), nodata),
                       {"cmap": cmap, "norm": norm}))

    fig = Figure(figsize=(4.2 * len(panels), 5.0), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, data, kw) in zip(axes, panels):
        ax.imshow(data, interpolation="nearest", **kw)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(facecolor=rgb[i], edgecolor="0.3", label=f"{i} {names[i]}")
               for i in range(k)]
    handles.append(Patch(facecolor="white", edgecolor="0.3", label="no data"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
               fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)

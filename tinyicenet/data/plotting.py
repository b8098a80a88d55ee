"""Figures of samples: HH, HV and the charts in their class colours."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.tables import class_table

_TITLES = {L.HH: "HH", L.HV: "HV", L.INCIDENCE: "incidence angle", L.DISTANCE: "distance to land"}


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _chart_image(ax, labels: np.ndarray, chart: str, title: str) -> None:
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    table = class_table(chart)
    cmap = ListedColormap(table.colours).with_extremes(bad="#d9d9d9")  # ignore (255): grey
    norm = BoundaryNorm(np.arange(table.n_classes + 1) - 0.5, table.n_classes)
    masked = np.ma.masked_where(labels >= table.n_classes, labels)
    ax.imshow(masked, cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_title(title)
    present = [k for k in range(table.n_classes) if np.any(labels == k)]
    handles = [Patch(facecolor=table.colours[k], edgecolor="k", linewidth=0.3,
                     label=table.names[k]) for k in present]
    if handles:
        ax.legend(handles=handles, loc="lower left", fontsize=6, framealpha=0.8)


def plot(sample: dict, variables: Sequence[str] = L.DEFAULT_VARIABLES,
         charts: Sequence[str] | None = None, prediction_key: str = "prediction",
         suptitle: str | None = None):
    """A matplotlib Figure of a sample or loaded scene.

    Shows each input channel (robust 2-98 % stretch, invalid pixels grey), each chart in
    ``charts`` (default: those present of SOD, SIC, FLOE) with the class colours of
    ``data/ai4arctic/classes.json``, and ``sample[prediction_key]`` (class indices, or logits
    ``[K, H, W]`` of the first chart) when present. Accepts numpy arrays or torch tensors.
    """
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global state, works headless

    image = _numpy(sample["image"])
    valid = _numpy(sample["valid"]).astype(bool) if "valid" in sample else None
    if charts is None:
        charts = [c for c in ("SOD", "SIC", "FLOE") if c in sample]
    names = list(variables)[: image.shape[0]]
    names += [f"channel {k}" for k in range(len(names), image.shape[0])]
    pred = _numpy(sample[prediction_key]) if prediction_key in sample else None
    panels = len(names) + len(charts) + (pred is not None)
    fig = Figure(figsize=(3.2 * panels, 3.4))
    axes = fig.subplots(1, panels, squeeze=False)
    axes = axes[0]
    for ax, (k, name) in zip(axes, enumerate(names)):
        band = image[k].astype(np.float32)
        shown = band[valid] if valid is not None and valid.any() else band.ravel()
        lo, hi = (np.percentile(shown, [2, 98]) if shown.size else (0.0, 1.0))
        band = np.ma.masked_where(~valid, band) if valid is not None else band
        cmap = matplotlib.colormaps["gray"].with_extremes(bad="#d9d9d9")
        ax.imshow(band, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1)
        ax.set_title(_TITLES.get(name, name))
    for ax, chart in zip(axes[len(names):], charts):
        _chart_image(ax, _numpy(sample[chart]).astype(np.int64), chart, chart)
    if pred is not None:
        chart = charts[0] if charts else "SOD"
        if pred.ndim == 3:
            pred = pred.argmax(0)
        _chart_image(axes[-1], pred.astype(np.int64), chart, f"{chart} predicted")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    meta = sample.get("meta") or {}
    title = suptitle or meta.get("scene_id")
    if title:
        fig.suptitle(str(title), fontsize=9)
    fig.tight_layout()
    return fig

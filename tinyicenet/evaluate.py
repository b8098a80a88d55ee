"""Full-scene evaluation with the AutoICE metrics, scored the way AutoICE scores.

Each scene is loaded at the model's working resolution, cut into halo tiles
(:mod:`tinyicenet.data.tiling`; the halo is at least the model's receptive radius, so the
stitched result equals a whole-scene forward), and the argmax class map is upsampled to each
reference chart's own grid in the file (80 m for the ready-to-train files) by nearest-neighbour
block replication (working pixel ``i // f`` covers file pixels ``i``; for scene sizes that are
multiples of ``f`` this is ``torch.nn.functional.interpolate(mode="nearest")`` as the MMSeaIce
AutoICE code upsamples). It is scored there on every pixel whose reference is not 255 (and not
land), as the AutoICE starter kit does (``functions.py``: ``r2_score`` for SIC,
``f1_score(average="weighted")`` for SOD and FLOE, x100; combined (2 SIC + 2 SOD + 1 FLOE) / 5
only when all three charts are predicted). The pixels are pooled over all scenes through
mergeable confusion matrices (:class:`tinyicenet.metrics.ChartMetrics`). The score on the working
grid (labels mode-downsampled by the loader, SAR-invalid pixels left out) is kept alongside under
its own name (``working_grid``): it is what training validation reports and it is not the AutoICE
number (mode downsampling smooths polygon edges).

:func:`evaluate_scene` scores one scene and returns its tally and record (for distributed
evaluation); :func:`evaluate` pools them, writes ``evaluation.json`` and one confusion-matrix PNG
per chart.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.atomic import atomic_path, make_dir, write_text
from tinyicenet.errors import CheckpointError
from tinyicenet.metrics import ChartMetrics, ConfusionMatrix, class_names

SCHEMA = "tinyicenet-eval"
SCHEMA_VERSION = 1  # keys were added (grid, pixels, working_grid), none removed
GRID_NOTE = {
    "chart": "each reference chart's own grid in the file, predictions upsampled (AutoICE)",
    "working": "the model's working grid, labels mode-downsampled by the loader (not AutoICE)",
}


def _halo(stride: int, halo: int | None) -> int:
    from tinyicenet.data.tiling import model_halo
    return model_halo(stride, halo)


def predict_logits(model: Any, image: np.ndarray, *, tile: int = 256, halo: int | None = None,
                   batch: int = 8, device: Any = "cpu") -> np.ndarray:
    """Logits ``[K, H, W]`` of a whole scene ``image [C, H, W]`` through halo tiles (halo:
    the model's receptive radius by default; a smaller one is refused)."""
    import torch

    from tinyicenet.data.tiling import run_tiled

    model.eval()

    def run(tiles: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(tiles)).to(device)
            return model(x).float().cpu().numpy()

    return run_tiled(run, np.asarray(image, dtype=np.float32), tile=tile,
                     halo=_halo(model.stride, halo), align=model.stride, batch=batch)


def _classes(logits: np.ndarray, charts: Sequence[str], num_classes: Sequence[int]
             ) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for chart, k in zip(charts, num_classes):
        out[chart] = logits[start:start + k].argmax(axis=0).astype(np.uint8)
        start += k
    return out


def predict_scene(model: Any, image: np.ndarray, **kwargs: Any) -> dict[str, np.ndarray]:
    """Chart -> predicted class ``uint8 [H, W]`` (argmax of that chart's logits)."""
    logits = predict_logits(model, image, **kwargs)
    return _classes(logits, model.charts, model.num_classes)


def score_scenes(model: Any, scenes: Sequence[dict], *, tile: int = 256, halo: int | None = None,
                 batch: int = 8, device: Any = "cpu", progress: Any = None,
                 per_scene: list | None = None) -> ChartMetrics:
    """Pooled working-grid metrics of ``model`` over loaded scenes (dicts as from
    tinyicenet.data.load_scene): training validation's score, not AutoICE's chart-grid one.

    ``per_scene``, if a list, receives one record per scene with its own scores.
    """
    metrics = ChartMetrics(model.charts, "working")
    task = progress.add_task("evaluating scenes", total=len(scenes)) if progress else None
    for scene in scenes:
        pred = predict_scene(model, scene["image"], tile=tile, halo=halo, batch=batch,
                             device=device)
        own = ChartMetrics(model.charts, "working")
        for chart in model.charts:
            own.update(chart, scene[chart], pred[chart])
        metrics.merge(own)
        if per_scene is not None:
            meta = scene.get("meta", {})
            per_scene.append({
                "scene_id": meta.get("scene_id"), "path": str(meta.get("path", "")),
                "pixels": list(np.asarray(scene["image"]).shape[-2:]),
                "labelled_pixels": {c: own.confusion[c].total for c in model.charts},
                "scores": {c: _maybe(own.score(c)) for c in model.charts},
            })
        if task is not None:
            progress.advance(task)
    return metrics


def score_on_charts(classes: dict[str, np.ndarray], scene: dict, charts: Sequence[str],
                    factor: int) -> ChartMetrics:
    """See :func:`tinyicenet.metrics.tally_scene`."""
    from tinyicenet.metrics import tally_scene
    return tally_scene(classes, scene, tuple(charts), factor)


def scene_record(metrics: ChartMetrics, scene: dict, charts: Sequence[str]) -> dict:
    """JSON-ready record of one scene: scores and pixel counts on both grids."""
    meta = scene.get("meta", {})
    full = next(iter(scene["full_labels"].values()))
    return {
        "scene_id": meta.get("scene_id"), "path": str(meta.get("path", "")),
        "pixels": list(np.asarray(scene["image"]).shape[-2:]),
        "chart_grid_pixels": list(full.shape),
        "input_scaling": meta.get("input_scaling"),
        "input_scaling_source": meta.get("input_scaling_source"),
        "land_pixels": meta.get("land_pixels", 0),
        "warnings": list(meta.get("warnings", [])),
        "labelled_pixels": {c: metrics.confusion[c].total for c in charts},
        "scores": {c: _maybe(metrics.score(c)) for c in charts},
        "working_grid": {
            "labelled_pixels": {c: metrics.working.confusion[c].total for c in charts},
            "scores": {c: _maybe(metrics.working.score(c)) for c in charts},
        },
    }


def evaluate_scene(model: Any, path: str | os.PathLike[str], *,
                   run: Callable[[np.ndarray], np.ndarray] | None = None,
                   variables: Sequence[str] | None = None, downsample: int | None = None,
                   stats: dict | None = None, input_scaling: str = "auto",
                   tile: int = 256, halo: int | None = None, batch: int = 8,
                   device: Any = "cpu", compat: str | None = None) -> tuple[ChartMetrics, dict]:
    """Score one scene file; return its chart-grid :class:`ChartMetrics` (with the working-grid
    tally as ``.working``; merge them with :meth:`ChartMetrics.merge`) and a JSON-ready record.

    ``model``: a TinyIceNet (run here on ``device``), or anything with ``charts``,
    ``num_classes`` and ``stride`` (e.g. :class:`tinyicenet.predict.runner.ModelInfo`) together
    with ``run`` (tiles ``[N, C, t, t]`` -> logits, e.g. a backend's run). ``stats``: the
    checkpoint's normalisation statistics (:func:`tinyicenet.models.checkpoint.input_statistics`).
    ``compat``: the raw-chart conversion rule for raw files (None: the project's; "autoice").
    """
    from tinyicenet.data import DEFAULT_DOWNSAMPLE, load_scene
    from tinyicenet.data.tiling import run_tiled

    charts = tuple(model.charts)
    factor = int(downsample or DEFAULT_DOWNSAMPLE)
    kwargs: dict[str, Any] = {"charts": charts, "downsample": factor, "stats": stats,
                              "input_scaling": input_scaling, "full_labels": True,
                              "compat": compat}
    if variables is not None:
        kwargs["variables"] = tuple(variables)
    scene = load_scene(path, **kwargs)
    _require_charts(scene, charts, path)
    if run is None:
        logits = predict_logits(model, scene["image"], tile=tile, halo=halo, batch=batch,
                                device=device)
    else:
        logits = run_tiled(run, np.asarray(scene["image"], dtype=np.float32), tile=tile,
                           halo=_halo(model.stride, halo), align=model.stride, batch=batch)
    classes = _classes(logits, charts, model.num_classes)
    metrics = score_on_charts(classes, scene, charts, factor)
    return metrics, scene_record(metrics, scene, charts)


def evaluate(checkpoint: str | os.PathLike[str], scenes: Sequence[str | os.PathLike[str]],
             out_dir: str | os.PathLike[str] | None = None, *, downsample: int | None = None,
             tile: int = 256, halo: int | None = None, batch: int = 8, device: str = "auto",
             input_scaling: str = "auto", compat: str | None = None,
             quiet: bool = True, scene_runner: Any = None) -> dict[str, Any]:
    """Evaluate a checkpoint on scene files/folders; return (and write to ``out_dir``) the result.

    Variables, normalisation statistics and working resolution default to those the model was
    trained with (from the checkpoint); ``downsample`` overrides the latter. Scores are on the
    charts' own grid (``scores``, ``combined_score``); the working-grid scores are under
    ``working_grid``. ``scene_runner(paths, scene_kwargs)``, if given, yields
    :func:`evaluate_scene`'s ``(metrics, record)`` per path in path order (the archive engine
    runs them on a Dask cluster); default: a local loop.
    """
    import warnings

    from tinyicenet.models import load_checkpoint, precision_label
    from tinyicenet.models.checkpoint import input_statistics
    from tinyicenet.progress import make_progress
    from tinyicenet.data.reader import expand_scene_paths
    from tinyicenet.models.device import pick_device

    dev = pick_device(device)
    model, ckpt = load_checkpoint(checkpoint, map_location=dev)
    cfg = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    data_cfg = cfg.get("data", {}) if isinstance(cfg.get("data"), dict) else {}
    variables = ckpt.get("variables") or data_cfg.get("variables")
    if variables is not None and len(variables) != model.in_channels:
        raise CheckpointError(f"{checkpoint}: lists {len(variables)} input variables for a "
                              f"model of {model.in_channels} input channels")
    stats = input_statistics(ckpt, path=checkpoint)
    stats_source = "checkpoint"
    if stats is None:
        stats_source = "data/ai4arctic/statistics.json (the checkpoint stores none)"
        warnings.warn(f"{checkpoint}: stores no normalisation statistics; using "
                      "data/ai4arctic/statistics.json as it is now", stacklevel=2)
    ds = downsample if downsample is not None else int(data_cfg.get("downsample", 0) or 0) or None
    paths = expand_scene_paths([str(s) for s in scenes], "scenes")
    halo = _halo(model.stride, halo)

    from tinyicenet.data import DEFAULT_DOWNSAMPLE
    ds = ds or DEFAULT_DOWNSAMPLE
    per_scene: list[dict] = []
    metrics = ChartMetrics(model.charts, "chart", working=ChartMetrics(model.charts, "working"))
    scene_kwargs = {"variables": variables, "downsample": ds, "stats": stats,
                    "input_scaling": input_scaling, "tile": tile, "halo": halo, "batch": batch,
                    "compat": compat}
    if scene_runner is not None:  # e.g. tinyicenet.archive: the same function on a cluster
        for own, record in scene_runner(paths, scene_kwargs):
            metrics.merge(own)  # exact: sums of integer confusion matrices
            per_scene.append(record)
    else:
        with make_progress(quiet) as progress:
            task = progress.add_task("evaluating scenes", total=len(paths))
            for path in paths:
                own, record = evaluate_scene(model, path, device=dev, **scene_kwargs)
                metrics.merge(own)
                per_scene.append(record)
                progress.advance(task)

    uniform = model.precision.uniform_bits() if model.precision is not None else None
    (w, a), skips = uniform or (None, None), model.skips  # a mixed precision has no single pair
    result = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "checkpoint": str(checkpoint), "model": model.name,
        "precision": precision_label(model.bit_widths),
        "weight_bits": w, "act_bits": a, "skips": skips,
        "charts": list(model.charts), "downsample": ds, "tile": tile, "halo": halo,
        "normalisation": stats_source, "input_scaling": input_scaling,
        "chart_rule": compat or "project",
        "trained": {"epoch": ckpt.get("epoch"), "phase": ckpt.get("phase")},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **result_scores(metrics),
        "scenes": per_scene,
    }
    if out_dir is not None:
        out = make_dir(out_dir)
        for chart in model.charts:
            png = out / f"confusion_{chart}.png"
            plot_confusion(metrics.confusion[chart], chart, png,
                           title=f"{model.name} {chart} on {len(paths)} scene(s), chart grid")
            result["metrics"][chart]["confusion_png"] = png.name
        write_text(out / "evaluation.json", json.dumps(result, indent=1) + "\n")
    return result


def result_scores(metrics: ChartMetrics) -> dict[str, Any]:
    """The score part of a result from a pooled chart-grid tally (with its working companion):
    ``grid``, ``scores``, ``combined_score``, ``pixels``, ``metrics`` and ``working_grid``."""
    summary = metrics.summary()
    out: dict[str, Any] = {
        "grid": metrics.grid, "grid_description": GRID_NOTE[metrics.grid],
        "scores": {c: summary["charts"][c]["score"] for c in metrics.charts},
        "combined_score": summary["combined_score"],
        "pixels": {c: summary["charts"][c]["pixels"] for c in metrics.charts},
        "metrics": summary["charts"],
    }
    if "combined_note" in summary:
        out["combined_note"] = summary["combined_note"]
    if metrics.working is not None:
        wsum = metrics.working.summary()
        out["working_grid"] = {
            "grid_description": GRID_NOTE["working"],
            "scores": {c: wsum["charts"][c]["score"] for c in metrics.charts},
            "combined_score": wsum["combined_score"],
            "pixels": {c: wsum["charts"][c]["pixels"] for c in metrics.charts},
        }
    return out


def plot_confusion(cm: ConfusionMatrix, chart: str, path: str | os.PathLike[str], *,
                   title: str | None = None) -> Path:
    """Row-normalised confusion matrix (recall per reference class) with pixel counts; PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = class_names(chart)
    counts = cm.matrix
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(rows > 0, counts / np.maximum(rows, 1), np.nan)
    k = cm.num_classes
    size = 1.2 + 0.75 * k
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(frac, vmin=0.0, vmax=1.0, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                colour = "white" if frac[i, j] > 0.6 else "black"
                ax.text(j, i, f"{100 * frac[i, j]:.0f}%\n{_count(counts[i, j])}",
                        ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(k), [f"{i} {n}" for i, n in enumerate(names)], rotation=45, ha="right",
                  fontsize=8)
    ax.set_yticks(range(k), [f"{i} {n}" for i, n in enumerate(names)], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(title or f"{chart} confusion matrix", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of reference class")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)


def _require_charts(scene: dict, charts: Sequence[str], path: Any) -> None:
    from tinyicenet.errors import DataError
    missing = [c for c in charts if c not in scene]
    if missing:
        raise DataError(f"{path}: scene has no {', '.join(missing)} reference chart to "
                        "evaluate against")


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(int(n))


def _maybe(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None

"""Full-scene evaluation with the AutoICE metrics.

Each scene is cut into halo tiles (:mod:`tinyicenet.data.tiling`), run through the model and
stitched back, so any scene size works in bounded memory and the result equals a whole-scene
forward. Predictions are scored against the reference charts on every labelled pixel, pooled
over all scenes through streaming confusion matrices (:mod:`tinyicenet.metrics`): R^2 for SIC,
weighted F1 for SOD and FLOE, x100, and the combined score (2 SIC + 2 SOD + 1 FLOE) / 5 over the
heads the model has. :func:`evaluate` writes ``evaluation.json`` and one confusion-matrix PNG per
chart.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.atomic import atomic_path, write_text
from tinyicenet.errors import CheckpointError
from tinyicenet.metrics import ChartMetrics, ConfusionMatrix, class_names

SCHEMA = "tinyicenet-eval"
SCHEMA_VERSION = 1


def predict_logits(model: Any, image: np.ndarray, *, tile: int = 256, halo: int = 16,
                   batch: int = 8, device: Any = "cpu") -> np.ndarray:
    """Logits ``[K, H, W]`` of a whole scene ``image [C, H, W]`` through halo tiles."""
    import torch

    from tinyicenet.data.tiling import run_tiled

    model.eval()

    def run(tiles: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(tiles)).to(device)
            return model(x).float().cpu().numpy()

    return run_tiled(run, np.asarray(image, dtype=np.float32), tile=tile, halo=halo,
                     align=model.stride, batch=batch)


def predict_scene(model: Any, image: np.ndarray, **kwargs: Any) -> dict[str, np.ndarray]:
    """Chart -> predicted class ``uint8 [H, W]`` (argmax of that chart's logits)."""
    logits = predict_logits(model, image, **kwargs)
    out, start = {}, 0
    for chart, k in zip(model.charts, model.num_classes):
        out[chart] = logits[start:start + k].argmax(axis=0).astype(np.uint8)
        start += k
    return out


def score_scenes(model: Any, scenes: Sequence[dict], *, tile: int = 256, halo: int = 16,
                 batch: int = 8, device: Any = "cpu", progress: Any = None,
                 per_scene: list | None = None) -> ChartMetrics:
    """Pooled metrics of ``model`` over loaded scenes (dicts as from tinyicenet.data.load_scene).

    ``per_scene``, if a list, receives one record per scene with its own scores.
    """
    metrics = ChartMetrics(model.charts)
    task = progress.add_task("evaluating scenes", total=len(scenes)) if progress else None
    for scene in scenes:
        pred = predict_scene(model, scene["image"], tile=tile, halo=halo, batch=batch,
                             device=device)
        own = ChartMetrics(model.charts)
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


def evaluate_scene(model: Any, path: str | os.PathLike[str], *, charts: Sequence[str],
                   variables: Sequence[str] | None, downsample: int, tile: int = 256,
                   halo: int = 16, batch: int = 8, device: Any = "cpu"
                   ) -> tuple[ChartMetrics, dict[str, Any]]:
    """One scene's confusion matrices and its record (scene id, path, pixels, own scores).

    The unit of work of :func:`evaluate` (in a loop, or one task per scene on a cluster):
    merging the returned :class:`ChartMetrics` of all scenes gives the pooled scores.
    """
    from tinyicenet.data import load_scene

    kwargs: dict[str, Any] = {"charts": tuple(charts), "downsample": downsample}
    if variables is not None:
        kwargs["variables"] = tuple(variables)
    scene = load_scene(path, **kwargs)
    _require_charts(scene, charts, path)
    records: list[dict] = []
    own = score_scenes(model, [scene], tile=tile, halo=halo, batch=batch, device=device,
                       per_scene=records)
    return own, records[0]


def evaluate(checkpoint: str | os.PathLike[str], scenes: Sequence[str | os.PathLike[str]],
             out_dir: str | os.PathLike[str] | None = None, *, downsample: int | None = None,
             tile: int = 256, halo: int = 16, batch: int = 8, device: str = "auto",
             quiet: bool = True, scene_runner: Any = None) -> dict[str, Any]:
    """Evaluate a checkpoint on scene files/folders; return (and write to ``out_dir``) the result.

    Variables and working resolution default to those the model was trained with (from the
    checkpoint's config); ``downsample`` overrides the latter. ``scene_runner(paths,
    scene_kwargs)``, if given, yields :func:`evaluate_scene`'s ``(metrics, record)`` per path
    in path order (the archive engine runs them on a Dask cluster); default: a local loop.
    """
    from tinyicenet.models import load_checkpoint, parse_name
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
    ds = downsample if downsample is not None else int(data_cfg.get("downsample", 0) or 0) or None
    paths = expand_scene_paths([str(s) for s in scenes], "scenes")

    from tinyicenet.data import DEFAULT_DOWNSAMPLE
    ds = ds or DEFAULT_DOWNSAMPLE
    per_scene: list[dict] = []
    metrics = ChartMetrics(model.charts)
    scene_kwargs = {"charts": tuple(model.charts), "variables": variables, "downsample": ds,
                    "tile": tile, "halo": halo, "batch": batch}
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

    w, a, skips = parse_name(model.name)
    summary = metrics.summary()
    result = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "checkpoint": str(checkpoint), "model": model.name,
        "precision": "fp32" if w is None else f"w{w}a{a}",
        "weight_bits": w, "act_bits": a, "skips": skips,
        "charts": list(model.charts), "downsample": ds, "tile": tile, "halo": halo,
        "scenes": per_scene,
        "scores": {c: summary["charts"][c]["score"] for c in model.charts},
        "combined_score": summary["combined_score"],
        "metrics": summary["charts"],
        "trained": {"epoch": ckpt.get("epoch"), "phase": ckpt.get("phase")},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for chart in model.charts:
            png = out / f"confusion_{chart}.png"
            plot_confusion(metrics.confusion[chart], chart, png,
                           title=f"{model.name} {chart} on {len(paths)} scene(s)")
            result["metrics"][chart]["confusion_png"] = png.name
        write_text(out / "evaluation.json", json.dumps(result, indent=1) + "\n")
    return result


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

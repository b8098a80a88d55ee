"""Pieces every target shares: input tiles, the scene unit, backends as workloads."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.bench.units import SceneUnit, ew_scene
from tinyicenet.bench.workload import BackendWorkload
from tinyicenet.errors import ConfigError

#: backend -> model benchmarked when --model is not given: float backends run the float twin
#: (same topology and work as the quantized model), integer ones the 4-bit model
DEFAULT_MODELS = {"torch": "tinyicenet_float", "onnxruntime": "tinyicenet_float",
                  "cuda-kernels": "tinyicenet_w4a4", "integer": "tinyicenet_w4a4"}
CHANNELS = 2


def scene_unit(options: Any) -> SceneUnit:
    """The per-scene unit for these options (an EW scene unless ``scene_pixels`` is given)."""
    return ew_scene(options.tile, options.halo, options.scene_pixels)


def make_tiles(options: Any, channels: int = CHANNELS) -> np.ndarray:
    """``[batch, C, H, W]`` float32 inputs: tiles of ``scene_path``, else seeded N(0, 1) noise.

    Inputs are z-scored SAR in the model's view, so standard normal noise has the real input's
    scale; dense networks do the same work on any values. Never zeros (they can run faster).
    """
    h, w = options.tile
    if options.scene_path:
        from tinyicenet.data import extract_tiles, load_scene, plan_tiles
        path = Path(options.scene_path)
        from tinyicenet.models.checkpoint import checkpoint_statistics
        scene = load_scene(path, stats=checkpoint_statistics(options.model))
        image = scene["image"]
        plan = plan_tiles(image.shape[1:], tile=h, halo=options.halo)
        tiles = extract_tiles(image, plan)
        idx = np.arange(options.batch) % len(tiles)
        return np.ascontiguousarray(tiles[idx], dtype=np.float32)
    rng = np.random.default_rng(options.seed)
    return rng.standard_normal((options.batch, channels, h, w), dtype=np.float32)


def artefact(options: Any, backend: str = "torch") -> str:
    """The model artefact named by the options: the given path or name, else the default."""
    return options.model or DEFAULT_MODELS.get(backend, "tinyicenet_float")


def model_label(options: Any, backend: str = "torch") -> str:
    """How the model is named in results: a model name, or the artefact's file name."""
    name = artefact(options, backend)
    return Path(name).name if ("/" in name or Path(name).suffix) else name


def is_model_name(text: str) -> bool:
    """A create_model name (no file behind it), as opposed to a checkpoint/ONNX/npz path."""
    return not Path(text).suffix and "/" not in text and not Path(text).exists()


def load_artefact(backend: str, options: Any) -> tuple[Any, list[str], Path | None]:
    """What ``get_backend(backend, ...)`` loads, notes for the result, and a temporary folder
    to delete afterwards (or None).

    Paths go through unchanged. A model name becomes a freshly built model with seeded,
    untrained weights (speed runs only: dense networks do the same work whatever the weights):
    the module itself for the torch backend, an ONNX export of it in a temporary folder for
    onnxruntime; the cuda-kernels backend takes names itself.
    """
    text = artefact(options, backend)
    if not is_model_name(text) or backend == "cuda-kernels":
        return text, [], None
    if backend not in ("torch", "onnxruntime"):
        raise ConfigError(f"backend {backend!r} needs a model file (--model PATH), not the "
                          f"model name {text!r}")
    import torch

    from tinyicenet.models import create_model
    torch.manual_seed(options.seed)
    model = create_model(text).eval()
    notes = [f"{text}: untrained weights (seed {options.seed}); speed and energy do not "
             "depend on the weights' values"]
    if backend == "torch":
        return model, notes, None
    from tinyicenet.export.onnx_export import export_onnx
    folder = Path(tempfile.mkdtemp(prefix="tinyicenet-bench-onnx-"))
    try:
        path = export_onnx(model, folder / "model.onnx", options.tile[0])
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path, notes + ["exported to ONNX for this run (tinyicenet.export.onnx_export)"], folder


def backend_workload(name: str, options: Any, tiles: np.ndarray, variant: str | None = None,
                     **backend_options: Any) -> BackendWorkload:
    """Load backend ``name`` on the model artefact and wrap it as a workload.

    ``backend_options`` (then ``options.backend_options``, which win) go to ``get_backend``,
    e.g. ``compile="max-autotune"`` for the torch backend. A backend with ``prepare`` /
    ``run_prepared`` keeps the tiles on its device (see BackendWorkload).
    """
    try:
        from tinyicenet.backends import available_backends, get_backend
    except ImportError as exc:
        raise ConfigError(f"backends are not available in this installation ({exc})") from None
    names = list(available_backends())
    if name not in names:
        raise ConfigError(f"backend {name!r} is not available; available: {', '.join(names)}")
    opts = {**backend_options, **options.backend_options}
    loaded, notes, scratch = load_artefact(name, options)
    try:
        backend = get_backend(name, loaded, **opts)
        workload = BackendWorkload(backend, tiles, model=model_label(options, name),
                                   variant=variant)
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    if scratch is not None:
        workload.on_close.append(lambda: shutil.rmtree(scratch, ignore_errors=True))
    workload.notes = notes + list(getattr(backend, "notes", [])) + workload.notes
    return workload


def plan_variants(names: Sequence[str], probe: Callable[[str], tuple[bool, str]],
                  ) -> tuple[list[str], list[dict[str, str]]]:
    """Split ``names`` into those usable here and ``dropped`` entries ``{variant, reason}``.

    Used for ``all``: a variant this machine cannot run (no Triton, no onnxruntime, no custom
    kernels) is dropped and says why, instead of silently missing from the results.
    """
    run, dropped = [], []
    for name in names:
        ok, reason = probe(name)
        if ok:
            run.append(name)
        else:
            dropped.append({"variant": name, "reason": reason or "not usable here"})
    return run, dropped


def warn_dropped(dropped: Sequence[dict[str, str]], kind: str = "variant") -> None:
    """One ``warning:`` line on stderr per dropped variant (printed even with --quiet)."""
    for d in dropped:
        print(f"warning: dropped {kind} {d['variant']}: {d['reason']}", file=sys.stderr,
              flush=True)


def failed_entry(name: str, exc: BaseException) -> dict[str, str]:
    """A dropped entry for a variant that was tried and failed (``all`` keeps going)."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return {"variant": name, "reason": f"failed here: {type(exc).__name__}: {text}".rstrip(": ")}


def run_all(names: Sequence[str], measure: Callable[[str], dict[str, Any]],
            dropped: list[dict[str, str]], keep_going: bool, kind: str = "variant",
            ) -> list[dict[str, Any]]:
    """``measure(name)`` for each name; with ``keep_going`` a failure becomes a dropped entry."""
    results = []
    for name in names:
        try:
            results.append(measure(name))
        except Exception as exc:  # noqa: BLE001 - 'all' records the failure and goes on
            if not keep_going:
                raise
            entry = failed_entry(name, exc)
            dropped.append(entry)
            warn_dropped([entry], kind)
    if not results:
        reasons = "; ".join(f"{d['variant']}: {d['reason']}" for d in dropped)
        raise ConfigError(f"no {kind} could run here ({reasons or 'none asked for'})")
    return results


def annotate_run(results: list[dict[str, Any]], dropped: list[dict[str, str]] | None,
                 ) -> list[dict[str, Any]]:
    """Add ``dropped`` (when a whole set was asked for) and the PyTorch ``baseline``.

    The baseline is the fastest PyTorch (``torch`` backend) variant of this run, the same
    configuration by construction; each record gets it with its own ratios against it.
    """
    torch_runs = [r for r in results if r["backend"] == "torch" and r.get("tiles_per_s")]
    base = max(torch_runs, key=lambda r: r["tiles_per_s"]) if torch_runs else None
    for r in results:
        if dropped is not None:
            r["dropped"] = [dict(d) for d in dropped]
        if base is None:
            continue
        e, eb = r["energy_mj"]["per_tile_gross"], base["energy_mj"]["per_tile_gross"]
        r["baseline"] = {
            "variant": base["variant"] or base["backend"],
            "tiles_per_s": base["tiles_per_s"],
            "energy_mj_per_tile": eb,
            "tiles_per_s_ratio": r["tiles_per_s"] / base["tiles_per_s"]
            if r.get("tiles_per_s") else None,
            "energy_ratio": e / eb if e is not None and eb else None,
            "rule": "fastest PyTorch variant of this configuration in the same run",
        }
    return results

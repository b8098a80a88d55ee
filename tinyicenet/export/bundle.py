"""``export_model``: one folder with the exported model, its golden files and the evidence.

Layout of the folder (written atomically: it appears complete or not at all)::

    model.onnx            onnxruntime graph (float model: torch export; quantized: QCDQ), N/H/W free
    model.qonnx.onnx      QONNX graph (quantized models), NCHW, batch 1, the export tile
    intref.npz / .json    the integer reference (quantized models)
    golden_*.npy          golden inputs and outputs (see :mod:`tinyicenet.export.golden`)
    export.json           manifest: model, formats, files, checks

Checks, all on the golden tiles (fresh random tiles, plus scene tiles when a scene is given):
QONNX (qonnx executor) == Brevitas, integer reference == Brevitas and onnxruntime == integer
reference, value for value. Any difference raises VerificationError and nothing is written.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.atomic import atomic_dir, check_output_dir
from tinyicenet.errors import ExportError, VerificationError
from tinyicenet.export.golden import (DEFAULT_SCENE_TILES, GOLDEN_FILES, TileSet, random_tiles,
                                      scene_tiles, write_golden)
from tinyicenet.export.onnx_export import export_onnx, qonnx_model, run_qonnx
from tinyicenet.export.onnxruntime_session import make_session
from tinyicenet.export.qgraph import input_format, output_format
from tinyicenet.progress import info

FORMAT = "tinyicenet-export"
VERSION = 1


@dataclass
class ExportResult:
    out_dir: Path
    manifest: dict[str, Any]
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)


def resolve_model(model_or_ckpt: Any) -> tuple[Any, dict[str, Any], str]:
    """(model in eval mode, checkpoint dict or {}, a label) from a checkpoint path or a model."""
    if isinstance(model_or_ckpt, (str, os.PathLike)):
        from tinyicenet.models.checkpoint import load_checkpoint

        model, ckpt = load_checkpoint(model_or_ckpt)
        return model.eval(), ckpt, str(model_or_ckpt)
    return model_or_ckpt.eval(), {}, getattr(model_or_ckpt, "name", "model")


def verification_tiles(model, tile: int, n_random: int, scene: str | os.PathLike[str] | None,
                       n_scene: int, seed: int | None) -> TileSet:
    """Fresh random tiles plus, if ``scene`` is given, tiles cut from it."""
    tiles = random_tiles(n_random, int(model.in_channels), tile, seed) if n_random else TileSet(
        np.zeros((0, int(model.in_channels), tile, tile), np.float32))
    if scene is not None and n_scene:
        tiles = tiles + scene_tiles(scene, n_scene, tile, align=int(model.stride))
    if not len(tiles):
        raise ExportError("no verification tiles: ask for random and/or scene tiles")
    return tiles


def _torch_logits(model, tiles: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(tiles[i:i + 1])).numpy()
                               for i in range(len(tiles))])


def _compare(name: str, got: np.ndarray, want: np.ndarray) -> dict[str, Any]:
    if got.shape != want.shape:
        raise VerificationError(f"{name}: output shape {list(got.shape)} differs from "
                                f"{list(want.shape)}")
    differing = int(np.count_nonzero(got != want))
    agree = float(np.mean(got.argmax(axis=1) == want.argmax(axis=1)))
    return {"values": int(got.size), "differing": differing, "argmax_agreement": agree}


def export_model(model_or_ckpt: Any, out_dir: str | os.PathLike[str], *, tile: int = 256,
                 n_random: int = 4, scene: str | os.PathLike[str] | None = None,
                 n_scene: int = DEFAULT_SCENE_TILES, seed: int | None = None,
                 quiet: bool = True) -> ExportResult:
    """Export ``model_or_ckpt`` (a checkpoint path or a TinyIceNet) into ``out_dir``."""
    from tinyicenet.export.intref import from_brevitas, save_intref

    check_output_dir(out_dir)
    model, ckpt, label = resolve_model(model_or_ckpt)
    stride = int(getattr(model, "stride", 1))
    if tile <= 0 or tile % stride:
        raise ExportError(f"tile {tile} is not a positive multiple of the model stride {stride}")
    quantized = bool(getattr(model, "quantized", False))
    tiles = verification_tiles(model, tile, n_random, scene, n_scene, seed)
    info(f"exporting {getattr(model, 'name', label)} at {tile}x{tile} ({len(tiles)} golden "
         "tiles)", quiet)
    checks: dict[str, dict[str, Any]] = {}
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "model": {"name": getattr(model, "name", ""), "kwargs": dict(getattr(model, "config", {})),
                  "quantized": quantized, "stride": stride,
                  "bit_widths": getattr(model, "bit_widths", None)},
        "source": label, "tile": [tile, tile], "golden_sources": tiles.sources,
        "random_seed": tiles.seed,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": {k: ckpt[k] for k in ("variables", "data_stats") if k in ckpt},
    }
    brevitas = _torch_logits(model, tiles.tiles)
    with atomic_dir(out_dir) as tmp:
        files = {"onnx": "model.onnx"}
        if quantized:
            qonnx = qonnx_model(model, tile)
            qonnx.save(str(tmp / "model.qonnx.onnx"))
            files["qonnx"] = "model.qonnx.onnx"
            export_onnx(model, tmp / "model.onnx", tile, qonnx=qonnx)
            intmodel = from_brevitas(model)
            save_intref(intmodel, tmp / "intref.npz")
            files["intref"] = "intref.npz"
            files.update(write_golden(tmp, intmodel, tiles.tiles))
            golden = np.load(tmp / GOLDEN_FILES["output"])
            checks["intref_vs_brevitas"] = _compare("integer reference vs Brevitas", golden,
                                                    brevitas)
            checks["qonnx_vs_brevitas"] = _compare("QONNX vs Brevitas",
                                                   run_qonnx(qonnx, tiles.tiles), brevitas)
            checks["onnxruntime_vs_intref"] = _compare(
                "onnxruntime vs integer reference", run_onnxruntime(tmp / "model.onnx",
                                                                    tiles.tiles), golden)
            manifest["input"] = input_format(qonnx).to_dict()
            manifest["output"] = output_format(qonnx).to_dict()
        else:
            export_onnx(model, tmp / "model.onnx", tile)
            for key in ("input", "output"):
                np.save(tmp / GOLDEN_FILES[key], tiles.tiles if key == "input" else brevitas)
                files[f"golden_{key}"] = GOLDEN_FILES[key]
            got = run_onnxruntime(tmp / "model.onnx", tiles.tiles)
            err = float(np.max(np.abs(got - brevitas))) if got.size else 0.0
            checks["onnxruntime_vs_torch"] = {"values": int(got.size), "max_abs_error": err,
                                              "note": "float model: not bit-exact by design"}
        manifest["files"] = files
        manifest["checks"] = checks
        for name, check in checks.items():
            if check.get("differing", 0):
                raise VerificationError(
                    f"export check {name} failed: {check['differing']} of {check['values']} "
                    f"values differ (argmax agreement {100 * check['argmax_agreement']:.3f} %); "
                    "nothing was written")
        (tmp / "export.json").write_text(json.dumps(manifest, indent=1) + "\n")
    info(f"wrote {out_dir}", quiet)
    return ExportResult(Path(out_dir), manifest, checks)


def run_onnxruntime(path: str | os.PathLike[str], tiles: np.ndarray) -> np.ndarray:
    """Run ``model.onnx`` with onnxruntime, graph optimisations off (see onnx_export)."""
    session = make_session(path)
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(tiles, dtype=np.float32)})[0]

"""Scenes in, products out: the ``tinyicenet predict`` workflow.

For each scene: load and normalise (``tinyicenet.data.load_scene``), run the model tile by tile
on the chosen backend, then write

* ``{scene}_{chart}.tif``: Cloud-Optimised GeoTIFF of class ids (GCPs in EPSG:4326, or warped to a
  map grid such as EPSG:3413 when a CRS is given);
* ``{scene}_autoice.nc``: the AutoICE submission arrays of the scene (80 m file grid);
* ``{scene}_quicklook.png``: HH, prediction and labels (when present) with a legend;

and, after all scenes, ``upload_package.nc`` (every written scene in one AutoICE file) and
``summary.json`` (per scene: sizes against the SAR input, timings, metrics when labels exist).
A scene that fails is reported and skipped; its partial products are removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.data.tiling import check_tiling
from tinyicenet.errors import ConfigError, DataError, TinyIceNetError
from tinyicenet.predict import cog, geo
from tinyicenet.predict.runner import DEFAULT_BATCH, DEFAULT_TILE, ModelInfo, predict_classes
from tinyicenet.predict.summary import RunSummary, SceneRecord, product_sizes

SUMMARY_NAME = "summary.json"
PACKAGE_NAME = "upload_package.nc"
SUBMISSION_SUFFIX = "_autoice.nc"


@dataclass
class PredictOptions:
    """Knobs of a predict run (CLI options map one to one)."""

    backend: str = "torch"
    crs: str | None = None  # None: swath geometry with GCPs in EPSG:4326
    resolution: float | None = None  # map-grid metres when warping (default: pixel spacing)
    downsample: int | None = None  # None: the model's training resolution, else the default 5
    tile: int = DEFAULT_TILE
    batch: int = DEFAULT_BATCH
    quicklook: bool = True
    package: bool = True
    quiet: bool = False
    input_scaling: str = "auto"  # physical, standardised, or auto (file metadata, once per file)


def scene_paths(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files and folders -> scene files (folders: every ``*.nc`` but ``*_reference.nc``)."""
    from tinyicenet.data.reader import scene_files
    from tinyicenet.predict.submission import submission_scene_name

    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            # predict's own NetCDF products are not scenes (an output folder may be re-read)
            found = [f for f in scene_files(p) if f.name != PACKAGE_NAME
                     and not f.name.endswith(SUBMISSION_SUFFIX)]
            if not found:
                raise DataError(f"{p}: no scene files (*.nc) in this folder")
            out.extend(found)
        else:
            out.append(p)  # a missing or bad file becomes that scene's error, not the run's
    if not out:
        raise ConfigError("no scenes given")
    out = list(dict.fromkeys(out))
    names: dict[str, Path] = {}
    for p in out:  # products are named by scene: two files of one scene would overwrite
        other = names.setdefault(submission_scene_name(p), p)
        if other != p:
            raise ConfigError(f"{other} and {p} are the same scene "
                              f"({submission_scene_name(p)}): give each scene once")
    return out


def check_options(options: PredictOptions, info: ModelInfo) -> None:
    """What can be refused before an output folder exists: the map grid and the tiling."""
    if options.crs:
        geo.check_crs(options.crs)
    check_tiling(options.tile, info.halo, info.stride)


def check_writable(out_dir: str | os.PathLike[str]) -> Path:
    """Create ``out_dir`` if needed and prove it takes files (before any work is done)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test.", delete=True):
            pass
    except OSError as exc:
        raise ConfigError(f"output folder {out} is not writable: "
                          f"{exc.strerror or exc}") from None
    return out


@dataclass
class _Products:
    """Paths written so far for one scene, removed again if the scene fails."""

    paths: list[Path]

    def add(self, path: Path) -> Path:
        self.paths.append(path)
        return path

    def remove(self) -> None:
        for p in self.paths:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _georeference(meta: dict) -> geo.TiePoints | None:
    """Tie points of a loaded scene (None when the file has no tie-point grid)."""
    if meta.get("lat") is None or meta.get("lon") is None:
        return None
    points = geo.tie_points(meta["lat"], meta["lon"], lines=meta["tie_lines"],
                            samples=meta["tie_samples"])
    return points if len(points) >= 3 else None


def _file_shape(meta: dict, working: tuple[int, int], downsample: int) -> tuple[int, int]:
    if meta.get("full_shape") is not None:
        return (int(meta["full_shape"][0]), int(meta["full_shape"][1]))
    return (working[0] * downsample, working[1] * downsample)


def _scene_metrics(scene: dict, classes: dict[str, np.ndarray], factor: int
                   ) -> dict[str, Any] | None:
    """AutoICE scores of one scene for the charts it has labels for, exactly as ``evaluate``
    computes them: the model's argmax (``classes``, before products mark no-data pixels) on
    every labelled pixel of the charts' own grid in the file (predictions upsampled), and on the
    working grid under its own name."""
    from tinyicenet.evaluate import result_scores
    from tinyicenet.metrics import tally_scene

    charts = [c for c in classes if scene.get(c) is not None]
    if not charts:
        return None
    return result_scores(tally_scene(classes, scene, charts, factor))


def _hh_channel(variables: Sequence[str]) -> int:
    from tinyicenet.data.layout import HH
    return list(variables).index(HH) if HH in variables else 0


def predict_scene(path: Path, info: ModelInfo, run: Callable[[np.ndarray], np.ndarray],
                  out_dir: Path, options: PredictOptions,
                  on_batch: Callable[[int, int], None] | None = None) -> SceneRecord:
    """Predict one scene with ``run`` (a backend's run) and write its products into
    ``out_dir``; raise on failure, after removing what this scene had written."""
    from tinyicenet.data import DEFAULT_DOWNSAMPLE, class_table, load_scene, open_scene
    from tinyicenet.predict.quicklook import write_quicklook
    from tinyicenet.predict.submission import (
        submission_scene_name,
        upsample_nearest,
        write_submission,
    )

    t0 = time.perf_counter()
    downsample = int(options.downsample or info.downsample or DEFAULT_DOWNSAMPLE)
    with open_scene(path) as reader:  # cheap: which label charts does the file carry?
        labelled = [c for c in info.charts if c in reader.charts]
    # only the charts the model predicts (for the metrics): resampling the others costs seconds
    if info.stats is None:
        warning = ("the checkpoint stores no normalisation statistics: inputs z-scored with "
                   "data/ai4arctic/statistics.json as it is now")
    else:
        warning = None
    import warnings as _warnings
    with _warnings.catch_warnings():  # the loader's warnings become this scene's warnings
        _warnings.simplefilter("ignore")
        scene = load_scene(path, variables=list(info.variables), charts=labelled,
                           downsample=downsample, stats=info.stats,
                           input_scaling=options.input_scaling, full_labels=bool(labelled))
    meta = scene.get("meta", {})
    image, valid = np.asarray(scene["image"], dtype=np.float32), np.asarray(scene["valid"])
    if image.shape[0] != len(info.variables):
        raise DataError(f"{path}: loaded {image.shape[0]} input channels, the model expects "
                        f"{len(info.variables)} ({', '.join(info.variables)})")
    name = submission_scene_name(path)
    working = (int(image.shape[1]), int(image.shape[2]))
    file_shape = _file_shape(meta, working, downsample)
    spacing = float(meta.get("pixel_spacing") or 80.0 * downsample)
    record = SceneRecord(scene=name, path=str(path), working_shape=list(working),
                         file_shape=list(file_shape), pixel_spacing_m=spacing,
                         downsample=downsample,
                         input_scaling=meta.get("input_scaling"),
                         input_scaling_source=meta.get("input_scaling_source"),
                         normalisation="checkpoint" if info.stats is not None
                         else "data/ai4arctic/statistics.json",
                         land_pixels=int(meta.get("land_pixels", 0)))
    record.warnings.extend(meta.get("warnings", []))
    if warning:
        record.warnings.append(warning)
    t1 = time.perf_counter()

    def count_tiles(done: int, total: int) -> None:
        record.tiles = total
        if on_batch is not None:
            on_batch(done, total)

    scored = predict_classes(run, image, np.ones_like(valid), info, tile=options.tile,
                             batch=options.batch, on_batch=count_tiles)
    # products: no data where there is no SAR or land; the scores use the argmax everywhere
    classes = {c: np.where(valid, a, np.uint8(cog.NODATA)).astype(np.uint8)
               for c, a in scored.items()}
    t2 = time.perf_counter()

    points = _georeference(meta)
    georefs: dict[str, tuple[cog.Georef | None, np.ndarray]] = {}
    if points is None:
        record.warnings.append(
            "the scene has no tie-point grid (sar_grid2d_latitude/longitude): products written "
            "without georeference" + (f", not warped to {options.crs}" if options.crs else ""))
        record.georeference = None
        georefs = {c: (None, a) for c, a in classes.items()}
    elif options.crs:
        res = float(options.resolution or geo.default_resolution(spacing))
        for c, a in classes.items():
            warped, transform = geo.warp_classes(a, points, options.crs, resolution=res)
            georefs[c] = (cog.Georef(options.crs, transform=transform), warped)
        record.georeference = f"{options.crs} grid at {res:g} m (warped from {len(points)} GCPs)"
    else:
        gcps = points.gcps()
        georefs = {c: (cog.Georef(geo.WGS84, gcps=gcps), a) for c, a in classes.items()}
        record.georeference = f"{len(points)} GCPs in {geo.WGS84} (swath geometry)"

    written = _Products([])
    try:
        tags = {"SCENE": name, "SOURCE_FILE": Path(path).name, "MODEL": info.name,
                "PIXEL_SPACING_M": f"{spacing:g}", "SOFTWARE": "tinyicenet predict"}
        for chart, (georef, arr) in georefs.items():
            table = class_table(chart)
            p = written.add(out_dir / f"{name}_{chart}.tif")
            cog.write_class_cog(p, arr, chart=chart, names=table.names, colours=table.colours,
                                georef=georef, tags=tags)
            record.products[f"cog_{chart}"] = p.name
        full = {c: upsample_nearest(a, file_shape, downsample) for c, a in classes.items()}
        p = written.add(out_dir / f"{name}{SUBMISSION_SUFFIX}")
        write_submission(p, {name: full})
        record.products["autoice"] = p.name
        if options.quicklook:
            chart = "SOD" if "SOD" in classes else next(iter(classes))
            table = class_table(chart)
            p = written.add(out_dir / f"{name}_quicklook.png")
            write_quicklook(p, hh=image[_hh_channel(info.variables)], valid=valid,
                            prediction=classes[chart], labels=scene.get(chart), chart=chart,
                            names=table.names, colours=table.colours,
                            title=f"{name}\n{info.name} on {options.backend}")
            record.products["quicklook"] = p.name
        t3 = time.perf_counter()
        main_chart = "SOD" if "SOD" in classes else next(iter(classes))
        cog_bytes = (out_dir / record.products[f"cog_{main_chart}"]).stat().st_size
        record.sizes = product_sizes(working, file_shape, spacing / downsample, cog_bytes)
        record.metrics = _scene_metrics(scene, scored, downsample)
    except BaseException:
        written.remove()
        raise
    record.seconds = {"load": t1 - t0, "inference": t2 - t1, "write": t3 - t2,
                      "total": time.perf_counter() - t0}
    return record


class ScenesFailedError(TinyIceNetError):
    """Some scenes of a run failed (the others were written): exit code 1."""

    exit_code = 1


def failure_record(path: Path, exc: BaseException) -> SceneRecord:
    """The record of a scene that raised ``exc`` (its message, or an internal-error line)."""
    from tinyicenet.predict.submission import submission_scene_name

    if isinstance(exc, TinyIceNetError):
        message = str(exc)
    else:  # a bug or an environment problem: keep the batch going, but say what it was
        message = f"{path}: internal error: {type(exc).__name__}: {exc}"
    return SceneRecord(scene=submission_scene_name(path), path=str(path), status="failed",
                       error=message)


def predict_scenes(checkpoint: str | os.PathLike[str], scenes: Sequence[str | os.PathLike[str]],
                   out_dir: str | os.PathLike[str],
                   options: PredictOptions | None = None) -> RunSummary:
    """Predict every scene (files or folders of ``*.nc``) into ``out_dir``.

    Bad arguments (no scenes, unwritable folder, bad checkpoint, unknown backend) raise before
    anything is written. A scene that fails is recorded with its error and skipped; the summary
    says which. Nothing at all is left in ``out_dir`` if no scene was written.
    """
    from tinyicenet.predict.runner import model_info, open_backend
    from tinyicenet.predict.submission import merge_submissions
    from tinyicenet.progress import make_progress, stderr

    options = options or PredictOptions()
    paths = scene_paths(scenes)
    info = model_info(checkpoint)
    check_options(options, info)
    out_existed = Path(out_dir).is_dir()
    out = check_writable(out_dir)
    try:
        backend = open_backend(options.backend, checkpoint,
                               quantized=not info.name.startswith("tinyicenet_float"))
    except BaseException:
        _remove_if_empty(out, out_existed)
        raise
    summary = RunSummary(model=info.name, checkpoint=str(checkpoint),
                         backend=str(getattr(backend, "name", options.backend)),
                         device=str(getattr(backend, "device", "cpu")),
                         precision=str(getattr(backend, "precision", "")),
                         crs=options.crs or f"{geo.WGS84} GCPs")
    many = len(paths) > 1
    try:
        with make_progress(options.quiet) as progress:
            scenes_task = progress.add_task("scenes", total=len(paths))
            tiles_task = progress.add_task("tiles", total=None)

            def on_batch(done: int, total: int) -> None:
                progress.update(tiles_task, completed=done, total=total)

            for path in paths:
                progress.update(scenes_task, description=f"scene {path.name}")
                progress.update(tiles_task, completed=0, total=None)
                try:
                    record = predict_scene(path, info, backend.run, out, options, on_batch)
                except Exception as exc:
                    if os.environ.get("TINYICENET_DEBUG") and not isinstance(
                            exc, TinyIceNetError):
                        raise
                    record = failure_record(path, exc)
                summary.scenes.append(record)
                for w in record.warnings:
                    stderr.print(f"warning: {record.scene}: {w}", highlight=False, markup=False,
                                 soft_wrap=True)
                if record.status != "ok" and many:
                    stderr.print(f"failed: {record.error}", highlight=False, markup=False,
                                 soft_wrap=True)
                elif record.status == "ok" and not options.quiet:
                    progress.console.print(
                        f"wrote {record.scene}: {record.working_shape[0]}x"
                        f"{record.working_shape[1]} px in {record.seconds['total']:.1f} s",
                        highlight=False, markup=False, soft_wrap=True)
                progress.advance(scenes_task)
    finally:
        backend.close()

    if not summary.written:
        _remove_if_empty(out, out_existed)
        return summary
    if options.package:
        merge_submissions(out / PACKAGE_NAME,
                          [out / s.products["autoice"] for s in summary.written])
    summary.write_json(out / SUMMARY_NAME)
    return summary


def _remove_if_empty(out: Path, existed: bool) -> None:
    """Leave no empty output folder behind that this run created."""
    if not existed:
        with contextlib.suppress(OSError):
            out.rmdir()

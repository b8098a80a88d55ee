"""``tinyicenet predict``: whole scenes -> COG, AutoICE NetCDF, quicklook, summary."""

from __future__ import annotations

from pathlib import Path

import typer


# One line per paragraph: the CLI's rich help keeps line breaks inside a paragraph.
HELP = "\n\n".join([
    "Predict sea-ice charts for whole scenes and write map products.",
    "Per scene: {scene}_SOD.tif (Cloud-Optimised GeoTIFF of class ids, 255 = no data, GCPs in "
    "EPSG:4326 or a map grid with --crs), {scene}_autoice.nc (AutoICE submission arrays) and "
    "{scene}_quicklook.png; then upload_package.nc (all scenes) and summary.json (sizes, "
    "timings, metrics when the scenes have labels).",
    "Exit code 0: all scenes written; 1: some scenes failed, the others were written; "
    "2: nothing written.",
    "With --workers N (a local Dask cluster) or --scheduler ADDRESS (an existing one) each "
    "scene is one task, and manifest.json in the output folder records every scene's products "
    "with their sha256: running the same command again skips the complete scenes and redoes "
    "the rest (--overwrite redoes all); a lost worker's scene is retried on another.",
])


def register(app: typer.Typer) -> None:
    app.command("predict", help=HELP)(predict)


def predict(
    model: Path = typer.Argument(..., help="Model checkpoint (.pt) written by tinyicenet train.",
                                 show_default=False),
    scenes: list[Path] = typer.Argument(..., help="Scene files (*.nc) and/or folders of them.",
                                        show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if needed).",
                             show_default=False),
    backend: str = typer.Option("torch", "--backend", "-b",
                                help="Backend from the registry (torch, integer, hls-csim when "
                                     "registered) or cuda (CUDA kernels, else torch on the GPU)."),
    crs: str = typer.Option(None, "--crs",
                            help="Warp the class maps to this projected CRS (e.g. EPSG:3413). "
                                 "Default: swath geometry with GCPs in EPSG:4326."),
    resolution: float = typer.Option(None, "--resolution", min=1.0,
                                     help="Map-grid pixel size in metres with --crs "
                                          "(default: the working pixel spacing, 400 m)."),
    downsample: int = typer.Option(None, "--downsample", min=1,
                                   help="Working resolution: file pixels per working pixel "
                                        "(default: the model's training value, else 5: 400 m "
                                        "from 80 m files)."),
    tile: int = typer.Option(256, "--tile", min=8, help="Tile side in working pixels."),
    batch: int = typer.Option(8, "--batch", min=1, help="Tiles per backend call."),
    quicklook: bool = typer.Option(True, "--quicklook/--no-quicklook",
                                   help="Write a quicklook PNG per scene."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON, not a table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    workers: int = typer.Option(None, "--workers", min=1,
                                help="Run on a local Dask cluster of N worker processes (one "
                                     "scene per task; resumable: see manifest.json)."),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="Run on an existing Dask cluster: its address "
                                       "(tcp://HOST:PORT) or the scheduler.json that dask "
                                       "scheduler --scheduler-file writes (SLURM, "
                                       "dask-jobqueue)."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="With --workers/--scheduler: redo every scene, also "
                                        "those the manifest lists as complete."),
    retries: int = typer.Option(None, "--retries", min=0,
                                help="With --workers/--scheduler: times a scene is retried "
                                     "after an error or a lost worker (default 2)."),
    input_scaling: str = typer.Option(
        "auto", "--input-scaling",
        help="physical, standardised or auto (from the file's metadata, once per file)."),
) -> None:
    """Predict sea-ice charts for whole scenes and write map products (see HELP)."""
    import json

    from rich.console import Console

    from tinyicenet.errors import DataError
    from tinyicenet.predict.pipeline import PredictOptions, ScenesFailedError, predict_scenes
    from tinyicenet.predict.summary import render_table

    from tinyicenet.errors import ConfigError
    if input_scaling not in ("auto", "physical", "standardised"):
        raise ConfigError(f"--input-scaling {input_scaling!r} is not one of auto, physical, "
                          "standardised")
    from tinyicenet.commands import refuse_unused

    if crs is None:
        refuse_unused("no --crs (products are on the EPSG:4326 tie-point grid)",
                      {"--resolution": resolution is not None})
    if workers is None and scheduler is None:
        refuse_unused("no --workers or --scheduler (scenes run here, one after another, and "
                      "every scene is written)",
                      {"--retries": retries is not None, "--overwrite": overwrite})
    options = PredictOptions(backend=backend, crs=crs, resolution=resolution,
                             downsample=downsample, tile=tile, batch=batch, quicklook=quicklook,
                             quiet=quiet, input_scaling=input_scaling)
    if workers is not None or scheduler is not None:
        from tinyicenet.archive.engine import DEFAULT_RETRIES
        from tinyicenet.archive.predict import predict_archive
        summary = predict_archive(model, scenes, out, options, workers=workers,
                                  scheduler=scheduler, overwrite=overwrite,
                                  retries=DEFAULT_RETRIES if retries is None else retries)
    else:
        summary = predict_scenes(model, scenes, out, options)
    if summary.written:
        if json_out:
            typer.echo(json.dumps(summary.to_dict(), indent=1))
        else:
            console = Console()
            if not console.is_terminal:  # a file or a pipe: no terminal width to squeeze into
                console = Console(width=240)
            console.print(render_table(summary))
    failed, total = summary.failed, len(summary.scenes)
    if not failed:
        return
    if len(failed) == 1:
        detail = failed[0].error
    else:
        detail = "; ".join(f.error or f.scene for f in failed[:3]) + ("; ..." if len(failed) > 3
                                                                     else "")
    if not summary.written:
        prefix = "" if total == 1 else f"all {total} scenes failed, nothing written: "
        raise DataError(prefix + str(detail))
    raise ScenesFailedError(f"{len(failed)} of {total} scenes failed "
                            f"({len(summary.written)} written to {out}): {detail}")

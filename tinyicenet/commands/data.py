"""``tinyicenet data``: generate sample scenes in the AI4Arctic layout and summarise scene files."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

data_app = typer.Typer(help="AI4Arctic scenes: generate samples in the real layout, inspect files.",
                       no_args_is_help=True)


@data_app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the scenes into."),
    scenes: int = typer.Option(3, "--scenes", min=1, help="Number of scenes."),
    size: tuple[int, int] = typer.Option((1000, 1000), "--size", metavar="LINES SAMPLES",
                                         help="SAR grid size (the real ready-to-train size is "
                                              "about 5000 5000)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives identical files."),
    raw: bool = typer.Option(False, "--raw", help="Raw-style files (polygon_icechart + "
                             "polygon_codes, 40 m) instead of ready-to-train."),
    pixel_spacing: float = typer.Option(None, "--pixel-spacing", help="Metres per pixel "
                                        "(default 80, or 40 with --raw)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Write seeded synthetic scenes in the exact AI4Arctic file layout (*_prep.nc)."""
    from tinyicenet.atomic import check_output_dir
    from tinyicenet.data.synth import write_scenes
    from tinyicenet.errors import ConfigError
    from tinyicenet.progress import info, make_progress

    if min(size) < 8:
        raise ConfigError(f"--size {size[0]} {size[1]}: each side must be at least 8 pixels")
    if pixel_spacing is not None and pixel_spacing <= 0:
        raise ConfigError(f"--pixel-spacing {pixel_spacing}: must be > 0")
    check_output_dir(out)  # before the progress bar starts, so an error is its only line
    with make_progress(quiet) as progress:
        task = progress.add_task(f"scenes {size[0]}x{size[1]}", total=scenes)
        paths = write_scenes(out, scenes, size=size, seed=seed, raw=raw,
                             pixel_spacing=pixel_spacing,
                             on_scene=lambda _p: progress.advance(task))
    for path in paths:
        typer.echo(str(path))
    info(f"wrote {len(paths)} {'raw' if raw else 'ready-to-train'} scene(s) to {out}", quiet)


@data_app.command("info")
def info_cmd(
    files: list[Path] = typer.Argument(..., metavar="FILE...",
                                       help="Scene files (or folders of them)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Per scene: size, pixel spacing, ice service, valid fraction and SOD class histogram."""
    import json

    from rich.console import Console
    from rich.table import Table

    from tinyicenet.data.info import scene_info
    from tinyicenet.data.reader import scene_files
    from tinyicenet.data.tables import class_table
    from tinyicenet.errors import DataError

    paths: list[Path] = []
    errors: list[str] = []
    for f in files:
        if f.is_dir():
            found = scene_files(f)
            if not found:
                errors.append(f"{f}: no scene files (*.nc) in this folder")
            paths.extend(found)
        else:
            paths.append(f)
    infos = []
    for path in paths:
        try:
            infos.append(scene_info(path))
        except DataError as exc:
            errors.append(str(exc))
    if json_out:
        for item in infos:
            typer.echo(json.dumps(item.as_dict()))
    elif infos:
        names = class_table("SOD").names
        table = Table(title="AI4Arctic scenes (SOD columns: % of the scene's pixels)",
                      show_lines=False)
        for col in ("scene", "kind", "size (px)", "spacing", "extent (km)", "service", "valid"):
            table.add_column(col, justify="left" if col in ("scene", "kind", "service")
                             else "right", no_wrap=True)
        for name in names:
            table.add_column(_short(name), justify="right")
        table.add_column("ignore", justify="right")
        for item in infos:
            hist = item.sod_histogram
            total = item.lines * item.samples
            if hist is None:
                sod = ["-"] * len(names) + ["no labels"]
            else:
                sod = [f"{100 * hist[n] / total:.1f}" for n in [*names, "ignore"]]
            ext = item.extent_km
            table.add_row(item.scene_id, item.kind, f"{item.lines} x {item.samples}",
                          f"{item.pixel_spacing_m:g} m", f"{ext[0]:.0f} x {ext[1]:.0f}",
                          item.ice_service, f"{100 * item.valid_fraction:.1f} %", *sod)
        Console(width=max(Console().width, 190)).print(table)
    if errors:
        for message in errors[:-1]:
            print(f"error: {message}", file=sys.stderr)
        raise DataError(errors[-1])


def _short(name: str) -> str:
    return {"open water": "OW", "new ice": "new", "young ice": "young",
            "thin first-year ice": "thinFY", "thick first-year ice": "thickFY",
            "old ice": "old"}.get(name, name)


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the root CLI."""
    app.add_typer(data_app, name="data")

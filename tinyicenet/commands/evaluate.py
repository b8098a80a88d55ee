"""``tinyicenet evaluate CKPT DATA...``: AutoICE metrics of a checkpoint on full scenes."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        checkpoint: Path = typer.Argument(..., help="A tinyicenet checkpoint (.pt)."),
        data: list[Path] = typer.Argument(
            ..., help="Scene files or folders with reference charts."),
        out: Path = typer.Option(
            None, "--out", "-o",
            help="Folder for evaluation.json and confusion-matrix PNGs (default: none written)."),
        downsample: int = typer.Option(
            None, "--downsample", min=1, help="Working resolution factor (default: as trained)."),
        tile: int = typer.Option(256, "--tile", min=8, help="Tile side in working pixels."),
        halo: int = typer.Option(16, "--halo", min=0, help="Tile halo (overlap) in pixels."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        json_out: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
        workers: int = typer.Option(
            None, "--workers", min=1,
            help="Score on a local Dask cluster of N worker processes (one scene per task)."),
        scheduler: str = typer.Option(
            None, "--scheduler",
            help="Score on an existing Dask cluster at this address (tcp://HOST:PORT) or "
                 "scheduler file (scheduler.json)."),
        retries: int = typer.Option(
            2, "--retries", min=0,
            help="With --workers/--scheduler: times a scene is retried after an error or a "
                 "lost worker."),
    ) -> None:
        """Score CKPT on DATA: R^2 (SIC), weighted F1 (SOD, FLOE), combined, per-class F1."""
        import json

        from tinyicenet.errors import ConfigError
        from tinyicenet.evaluate import evaluate as run

        if device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device {device!r} is not one of auto, cpu, cuda")
        if workers is not None or scheduler is not None:
            from tinyicenet.archive.evaluate import evaluate_archive
            result = evaluate_archive(checkpoint, data, out, workers=workers,
                                      scheduler=scheduler, retries=retries, downsample=downsample,
                                      tile=tile, halo=halo, device=device, quiet=quiet)
        else:
            result = run(checkpoint, data, out, downsample=downsample, tile=tile, halo=halo,
                         device=device, quiet=quiet)
        if json_out:
            typer.echo(json.dumps(result, indent=1))
            return
        _print_summary(result, out)


def _print_summary(result: dict, out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    n = len(result["scenes"])
    console.print(f"{result['model']} on {n} scene(s), downsample {result['downsample']}")
    for chart, entry in result["metrics"].items():
        metric = "R²" if entry["metric"] == "r2" else "weighted F1"
        table = Table(title=f"{chart}: {metric} {_fmt(entry['score'])}  "
                            f"({entry['pixels']} labelled pixels)")
        table.add_column("class")
        table.add_column("F1", justify="right")
        table.add_column("reference px", justify="right")
        table.add_column("predicted px", justify="right")
        for row in entry["per_class"]:
            table.add_row(f"{row['class']} {row['name']}", _fmt(row["f1"]), str(row["support"]),
                          str(row["predicted"]))
        console.print(table)
    console.print(f"combined score {_fmt(result['combined_score'])} "
                  f"(over {', '.join(result['charts'])})")
    if out is not None:
        console.print(f"wrote {out / 'evaluation.json'}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"

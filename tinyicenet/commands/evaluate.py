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
        halo: int = typer.Option(
            None, "--halo", min=0,
            help="Tile halo in pixels (default: the model's receptive radius; smaller is refused)."),
        input_scaling: str = typer.Option(
            "auto", "--input-scaling",
            help="physical, standardised or auto (from the file's metadata, once per file)."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        chart_rule: str = typer.Option(
            "project", "--chart-rule",
            help="Raw files: egg-code conversion, project or autoice (convert_raw_icechart)."),
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
            None, "--retries", min=0,
            help="With --workers/--scheduler: times a scene is retried after an error or a "
                 "lost worker (default 2)."),
    ) -> None:
        """Score CKPT on DATA as AutoICE does: on each chart's own grid (80 m), R^2 (SIC),
        weighted F1 (SOD, FLOE), combined when all three are predicted, per-class F1; the
        working-grid score is shown beside it."""
        import json

        from tinyicenet.errors import ConfigError
        from tinyicenet.evaluate import evaluate as run

        if device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device {device!r} is not one of auto, cpu, cuda")
        if input_scaling not in ("auto", "physical", "standardised"):
            raise ConfigError(f"--input-scaling {input_scaling!r} is not one of auto, physical, "
                              "standardised")
        if chart_rule not in ("project", "autoice"):
            raise ConfigError(f"--chart-rule {chart_rule!r} is not one of project, autoice")
        options = {"downsample": downsample, "tile": tile, "halo": halo, "device": device,
                   "input_scaling": input_scaling,
                   "compat": None if chart_rule == "project" else chart_rule, "quiet": quiet}
        if out is not None:
            from tinyicenet.atomic import check_output_dir
            check_output_dir(out)  # before the scoring, not after it
        if workers is not None or scheduler is not None:
            from tinyicenet.archive.engine import DEFAULT_RETRIES
            from tinyicenet.archive.evaluate import evaluate_archive
            result = evaluate_archive(checkpoint, data, out, workers=workers,
                                      scheduler=scheduler, **options,
                                      retries=DEFAULT_RETRIES if retries is None else retries)
        else:
            from tinyicenet.commands import refuse_unused
            refuse_unused("no --workers or --scheduler (scenes are scored here)",
                          {"--retries": retries is not None})
            result = run(checkpoint, data, out, **options)
        if json_out:
            typer.echo(json.dumps(result, indent=1))
            return
        _print_summary(result, out)


def _print_summary(result: dict, out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    n = len(result["scenes"])
    console.print(f"{result['model']} on {n} scene(s), downsample {result['downsample']}; "
                  f"scored on {result.get('grid_description', 'the chart grid')}")
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
    if result.get("combined_score") is None and result.get("combined_note"):
        console.print(f"combined score: {result['combined_note']}")
    else:
        console.print(f"combined score {_fmt(result['combined_score'])}")
    working = result.get("working_grid")
    if working:
        console.print("working grid (not AutoICE): " + ", ".join(
            f"{c} {_fmt(v)}" for c, v in working["scores"].items())
            + (f", combined {_fmt(working['combined_score'])}"
               if working.get("combined_score") is not None else ""))
    if out is not None:
        console.print(f"wrote {out / 'evaluation.json'}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"

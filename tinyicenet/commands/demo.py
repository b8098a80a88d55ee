"""``tinyicenet demo``: the whole path on generated sample scenes."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Path = typer.Option(Path("demo"), "--out", help="Output folder (replaced if a previous "
                                                          "demo wrote it)."),
    train_scenes: int = typer.Option(8, min=2, help="Generated training scenes."),
    test_scenes: int = typer.Option(2, min=1, help="Generated held-out test scenes."),
    size: int = typer.Option(1000, min=400, help="Scene side in 80 m pixels."),
    no_hls: bool = typer.Option(False, "--no-hls", help="Skip the hls4ml C simulation step."),
    no_sweep: bool = typer.Option(False, "--no-sweep",
                                  help="Skip the small precision sweep (and its report chart)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Run the whole path on generated scenes and write the planners' report.

    Generates scenes, trains w4a4 QAT, evaluates, exports, verifies the HLS C simulation,
    predicts map products, benchmarks, and sweeps a few precisions under an FPGA energy
    budget (accuracy against modelled energy, Pareto front in the report).
    """
    from tinyicenet.demo import DemoOptions, run_demo

    result = run_demo(DemoOptions(out=out, train_scenes=train_scenes, test_scenes=test_scenes,
                                  size=size, hls=not no_hls, sweep=not no_sweep,
                                  quiet=quiet))
    total = sum(result.steps.values())
    typer.echo(f"demo finished in {total:.0f} s; report: {result.report}")

"""``tinyicenet report``: the mission planners' report from bench (and accuracy) results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    results: list[Path] = typer.Argument(..., help="bench result files or folders of them "
                                         "(accuracy result files are recognised too)"),
    out: Path = typer.Option(..., "--out", "-o", help="report folder (new, empty, or an "
                             "earlier report)"),
    accuracy: list[Path] = typer.Option([], "--accuracy", help="accuracy result file "
                                        "(repeatable)"),
    scenes_per_orbit: float = typer.Option(25.0, help="scenes acquired and mapped per orbit"),
    orbit_period: float = typer.Option(98.6, help="orbit period, minutes (Sentinel-1: 98.6)"),
    duty_cycle: float = typer.Option(0.25, help="fraction of each orbit the accelerator is "
                                     "powered"),
    raw: str = typer.Option("grd", help="raw SAR volume: grd (EW GRD medium resolution, "
                            "16-bit, 2 pol) or input (the model's float32 input)"),
    product: Optional[Path] = typer.Option(None, help="a SOD product raster (GeoTIFF or .npy) "
                                           "whose compressed size to report"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="list unreadable result "
                                      "files as gaps instead of stopping"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing but errors"),
) -> None:
    """Write report.html, report.md, report.json and PNG charts into --out."""
    from tinyicenet.progress import info
    from tinyicenet.report import OrbitPlan, write_report

    plan = OrbitPlan(scenes_per_orbit=scenes_per_orbit, orbit_period_min=orbit_period,
                     duty_cycle=duty_cycle)
    html = write_report(results, out, accuracy_paths=accuracy, plan=plan, raw=raw,
                        product=product, skip_invalid=skip_invalid)
    import json
    verdict = json.loads((html.parent / "report.json").read_text())["verdict"]
    info(verdict, quiet)
    info(f"wrote {html}", quiet)

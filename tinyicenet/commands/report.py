"""``tinyicenet report``: the mission planners' report from bench (and accuracy) results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


#: what --help says of the plan's defaults (the numbers live in OrbitPlan alone)
_PLAN = "Sentinel-1 plan, stated in the report"


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    results: list[Path] = typer.Argument(..., help="bench result files or folders of them "
                                         "(accuracy result files are recognised too)"),
    out: Path = typer.Option(..., "--out", "-o", help="report folder (new, empty, or an "
                             "earlier report)"),
    accuracy: list[Path] = typer.Option([], "--accuracy", help="accuracy result file "
                                        "(repeatable)"),
    # defaults None: the library's plan (tinyicenet.report.OrbitPlan) fills in what is not given
    scenes_per_orbit: Optional[float] = typer.Option(
        None, help="scenes acquired and mapped per orbit", show_default=_PLAN),
    orbit_period: Optional[float] = typer.Option(None, help="orbit period, minutes",
                                                 show_default=_PLAN),
    duty_cycle: Optional[float] = typer.Option(
        None, help="fraction of each orbit the accelerator is powered", show_default=_PLAN),
    raw: Optional[str] = typer.Option(None, help="raw SAR volume: grd (EW GRD medium resolution, "
                                      "16-bit, 2 pol) or input (the model's float32 input)",
                                      show_default="grd"),
    product: Optional[Path] = typer.Option(None, help="a SOD product raster (GeoTIFF or .npy) "
                                           "whose compressed size to report"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="list unreadable result "
                                      "files as gaps instead of stopping"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing but errors"),
) -> None:
    """Write report.html, report.md, report.json and PNG charts into --out."""
    from tinyicenet.progress import info
    from tinyicenet.report import OrbitPlan, write_report

    given = {"scenes_per_orbit": scenes_per_orbit, "orbit_period_min": orbit_period,
             "duty_cycle": duty_cycle}
    plan = OrbitPlan(**{k: v for k, v in given.items() if v is not None})
    html = write_report(results, out, accuracy_paths=accuracy, plan=plan,
                        **({"raw": raw} if raw is not None else {}), product=product,
                        skip_invalid=skip_invalid)
    import json
    verdict = json.loads((html.parent / "report.json").read_text())["verdict"]
    info(verdict, quiet)
    info(f"wrote {html}", quiet)

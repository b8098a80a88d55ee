"""The mission planners' report: HTML, Markdown and JSON from bench (and accuracy) results.

Public API::

    write_report(result_paths, out_dir, *, accuracy_paths=(), plan=OrbitPlan(), raw="grd",
                 product=None, skip_invalid=False) -> Path   # out_dir/report.html
    OrbitPlan(scenes_per_orbit=25, orbit_period_min=98.6, duty_cycle=0.25)
    load_accuracy(path)  # the accuracy-result format is documented in report.accuracy

``out_dir`` receives ``report.html``, ``report.md``, ``report.json``, ``fps.png``,
``energy.png``, with accuracy results ``pareto.png`` and with sweep records (``tinyicenet
sweep``) one ``sweep.png`` (``sweep_2.png``, ...) each. The folder is built under a
temporary name and renamed into place, so a failure leaves no partial report; an existing
``out_dir`` is replaced only if it is empty or an earlier report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from tinyicenet.atomic import atomic_dir, check_output_dir
from tinyicenet.errors import ConfigError
from tinyicenet.report.accuracy import load_accuracy
from tinyicenet.report.planning import DEFAULT_RAW, OrbitPlan

REPORT_FILES = ("report.html", "report.md", "report.json", "fps.png", "energy.png",
                "pareto.png")


def _check_out_dir(out_dir: Path) -> None:
    check_output_dir(out_dir)
    if not out_dir.exists():
        return
    entries = list(out_dir.iterdir())
    if not entries:
        return
    previous = out_dir / "report.json"
    try:
        ours = json.loads(previous.read_text()).get("schema") == "tinyicenet-report"
    except (OSError, ValueError, AttributeError):
        ours = False
    stray = [p.name for p in entries if p.name not in REPORT_FILES
             and not (p.name.startswith("sweep") and p.name.endswith(".png"))]
    if not ours or stray:
        raise ConfigError(f"{out_dir}: folder exists and holds other files"
                          f"{' (' + ', '.join(sorted(stray)[:5]) + ')' if stray else ''}; "
                          "choose a new or empty folder")


def write_report(result_paths: Sequence[str | Path], out_dir: str | Path, *,
                 accuracy_paths: Sequence[str | Path] = (), plan: OrbitPlan | None = None,
                 raw: str = DEFAULT_RAW, product: str | Path | None = None,
                 skip_invalid: bool = False, target: float | None = None) -> Path:
    """Write the report for ``result_paths`` (files or folders of ``*.json``) into ``out_dir``.

    Returns the path of ``report.html``. Raises ``ResultError`` for a corrupt result file or
    one of another schema version (or lists it as a gap with ``skip_invalid``), and
    ``ConfigError`` for a bad plan or an ``out_dir`` holding other files.
    """
    from tinyicenet.report import charts, render
    from tinyicenet.report.build import build

    out_dir = Path(out_dir)
    if not result_paths:
        raise ConfigError("no result files given")
    _check_out_dir(out_dir)
    report = build(list(result_paths), accuracy_paths=list(accuracy_paths), plan=plan, raw=raw,
                   product=product, skip_invalid=skip_invalid, target=target)
    with atomic_dir(out_dir) as tmp:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a report is for reading
        ours = report["platforms"]
        paper = report["paper_rows"]
        fps_rows = [{"label": r["label"], "kind": r["kind"], "value": r["tiles_per_s"]}
                    for r in ours] + [{"label": p["label"], "kind": "paper", "value": p["fps"]}
                                      for p in paper]
        energy_rows = [{"label": r["label"], "kind": r["kind"] if r["energy_kind"] != "modelled"
                        else "modelled", "value": r["energy_scene_mj"],
                        "above": r["energy_scene_above_mj"]} for r in ours] + [
            {"label": p["label"], "kind": "paper", "value": p["energy_scene_mj"]}
            for p in paper]
        charts.bar_chart(fps_rows, "value", tmp / "fps.png",
                         title="Throughput per platform",
                         xlabel="frames per second (ours: 256\u00d7256 tiles; paper: as published)")
        charts.bar_chart(energy_rows, "value", tmp / "energy.png",
                         title="Energy per scene per platform",
                         xlabel="mJ per scene (ours: 400 km Sentinel-1 EW scene; paper: as "
                                "published)", overlay="above", overlay_label="above idle")
        report["charts"] = {"fps": "fps.png", "energy": "energy.png", "pareto": None}
        if report["pareto"]:
            paper_fpga = next((p for p in paper if p["target"] == "fpga"), None)
            paper_point = ({"energy_mj": paper_fpga["energy_scene_mj"],
                            "sod_f1": report["paper"]["sod_f1"],
                            "label": "paper: ZCU102, 75.2 % (AI4Arctic data, its own scene)"}
                           if paper_fpga else None)
            charts.pareto_chart(report["pareto"], tmp / "pareto.png", paper=paper_point)
            report["charts"]["pareto"] = "pareto.png"
        report["charts"]["sweeps"] = []
        for i, section in enumerate(report["sweeps"]):
            name = "sweep.png" if i == 0 else f"sweep_{i + 1}.png"
            charts.sweep_chart(section, tmp / name)
            section["chart"] = name
            report["charts"]["sweeps"].append(name)
        (tmp / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
        (tmp / "report.md").write_text(render.markdown(report))
        (tmp / "report.html").write_text(render.html(report))
    return out_dir / "report.html"


__all__ = ["OrbitPlan", "REPORT_FILES", "load_accuracy", "write_report"]

"""The report's PNG charts (matplotlib's object API: no pyplot, no global backend switch)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from tinyicenet.sweep.pareto import pareto_front as _front

COLOURS = {"measured": "#1f77b4", "modelled": "#ff7f0e", "paper": "#8c8c8c"}
HATCH = {"measured": "", "modelled": "//", "paper": ""}
MARKERS = {"cpu": "s", "cuda": "o", "jetson": "^", "fpga": "D", "paper": "*"}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, format="png", bbox_inches="tight")
    return path


def bar_chart(rows: Sequence[dict[str, Any]], key: str, path: Path, *, title: str,
              xlabel: str, overlay: str | None = None, overlay_label: str = "") -> Path:
    """Horizontal bars of ``row[key]`` (log scale), coloured by ``row['kind']``.

    Rows whose value is None are drawn as an empty slot marked 'n/a' (a gap, not a zero).
    """
    n = max(len(rows), 1)
    fig = Figure(figsize=(9.0, 1.2 + 0.42 * n))
    ax = fig.add_subplot(1, 1, 1)
    values = [r.get(key) for r in rows]
    present = [v for v in values if v]
    lo = min(present) / 3 if present else 0.1
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        y = n - 1 - i
        kind = row["kind"]
        if value:
            ax.barh(y, value, color=COLOURS[kind], hatch=HATCH[kind], edgecolor="white"
                    if kind != "modelled" else "#7f3f00", height=0.7)
            if kind == "paper":
                text = f"{value:,g}"          # as published
            else:
                text = f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"
            ax.text(value * 1.08, y, text, va="center", fontsize=8)
            if overlay and (row.get(overlay) or 0) > 0:
                ax.barh(y, row[overlay], color="white", alpha=0.45, height=0.35)
        else:
            ax.text(lo * 1.1, y, "n/a", va="center", fontsize=8, color="#b00000")
    ax.set_yticks(range(n))
    ax.set_yticklabels([r["label"] for r in reversed(rows)], fontsize=8)
    ax.set_xscale("log")
    if present:
        ax.set_xlim(lo, max(present) * 4)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    handles = [Patch(facecolor=COLOURS[k], hatch=HATCH[k], label=label)
               for k, label in (("measured", "ours, measured"), ("modelled", "ours, modelled"),
                                ("paper", "paper (unit not published)"))
               if any(r["kind"] == k for r in rows)]
    if overlay:
        handles.append(Patch(facecolor="#aac4de", label=overlay_label))
    if handles:  # below the axes, never over a bar
        ax.legend(handles=handles, fontsize=8, loc="upper center", ncol=len(handles),
                  bbox_to_anchor=(0.5, -0.5 / (1.2 + 0.42 * n) - 0.12), frameon=False)
    ax.grid(axis="x", which="both", alpha=0.25)
    fig.tight_layout()
    return _save(fig, path)


def pareto_chart(points: Sequence[dict[str, Any]], path: Path, *,
                 paper: dict[str, Any] | None = None) -> Path:
    """SOD F1 (%) against energy per scene (mJ, log), Pareto front drawn over our points."""
    fig = Figure(figsize=(8.0, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    for p in points:
        kind = p["kind"]
        ax.scatter(p["energy_mj"], 100 * p["sod_f1"], marker=MARKERS.get(p["target"], "o"),
                   s=60, color=COLOURS[kind], edgecolor="black", zorder=3)
        ax.annotate(p["label"], (p["energy_mj"], 100 * p["sod_f1"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=7)
    front = pareto_front(points)
    if len(front) > 1:
        ax.step([p["energy_mj"] for p in front], [100 * p["sod_f1"] for p in front],
                where="post", color="#2ca02c", lw=1.5, label="Pareto front (ours)", zorder=2)
    if paper:
        ax.scatter(paper["energy_mj"], 100 * paper["sod_f1"], marker="*", s=160,
                   color=COLOURS["paper"], edgecolor="black", zorder=3,
                   label=paper["label"])
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.1)
    ax.set_xlabel("energy per scene (mJ, log scale)")
    ax.set_ylabel("SOD F1 (%)")
    ax.set_title("Accuracy against energy per scene, by bit width", fontsize=10)
    ax.grid(alpha=0.25, which="both")
    handles, _labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def pareto_front(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points no other beats in energy (``energy_mj``) and SOD F1 (:mod:`tinyicenet.sweep.pareto`,
    the one definition), cheapest first."""
    return _front(points, cost="energy_mj", value="sod_f1")


def sweep_chart(section: dict[str, Any], path: Path) -> Path:
    """A sweep's SOD F1 (%) against modelled energy per scene (mJ, log), the low-high range as
    horizontal bars, the Pareto front marked, the accuracy target and the configuration that
    meets it at the lowest energy."""
    fig = Figure(figsize=(8.0, 5.0))
    ax = fig.add_subplot(1, 1, 1)
    points = section["points"]
    for p in points:
        x, y = p["energy_mj_per_scene"], 100 * p["sod_f1"]
        lo, hi = p["energy_mj_per_scene_low"], p["energy_mj_per_scene_high"]
        on = p["on_front"]
        ax.errorbar([x], [y], xerr=[[x - lo], [hi - x]], fmt="none", ecolor="#bbbbbb",
                    elinewidth=1, capsize=2, zorder=1)
        ax.scatter([x], [y], s=70 if on else 40, marker="D",
                   color="#2ca02c" if on else COLOURS["modelled"], edgecolor="black",
                   zorder=3)
        ax.annotate(p["label"], (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7)
    front = [p for p in sorted(points, key=lambda p: p["energy_mj_per_scene"]) if p["on_front"]]
    if front:
        ax.step([p["energy_mj_per_scene"] for p in front], [100 * p["sod_f1"] for p in front],
                where="post", color="#2ca02c", lw=1.5, zorder=2,
                label="Pareto front (accuracy up, energy down)")
    ax.axhline(100 * section["target"], color="#b00000", lw=1, ls="--",
               label=f"stated accuracy: SOD F1 {100 * section['target']:.0f} %")
    best = next((p for p in points if p["key"] == section["meets_target"]), None)
    if best is not None:
        ax.scatter([best["energy_mj_per_scene"]], [100 * best["sod_f1"]], marker="*", s=260,
                   facecolor="none", edgecolor="#b00000", lw=1.5, zorder=4,
                   label=f"least energy meeting it: {best['label']}")
    ax.set_xscale("log")
    ax.margins(x=0.2, y=0.12)
    ax.set_xlabel("energy per 400 km EW scene on the ZCU102 (mJ, modelled; bars: low\u2013high)")
    ax.set_ylabel(f"SOD F1 (%), held-out {section['data_label']} scenes")
    ax.set_title("Precision sweep: accuracy against modelled FPGA energy", fontsize=10)
    ax.grid(alpha=0.25, which="both")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, path)

"""Per-scene records of a predict run: product sizes against the raw SAR, timings, metrics.

The size figures feed the downlink section of the planners' report. Two SAR baselines are given
because "the raw input" means two things:

* ``sar_float32_bytes``: what the model read, the two SAR channels (HH, HV) of the scene file as
  float32 on the file's grid (80 m in ready-to-train files);
* ``s1_grd_uint16_bytes``: the Sentinel-1 EW GRD medium-resolution product those channels came
  from, modelled as 2 polarisations x 16-bit digital numbers at 40 m pixel spacing, uncompressed
  (the footprint of the file's grid resampled to 40 m). This is an equivalent size, not a file.

The product side: ``sod_uint8_bytes`` (one byte per working pixel, uncompressed) and
``sod_cog_bytes`` (the written Cloud-Optimised GeoTIFF: deflate, with overviews).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinyicenet.atomic import write_text

S1_EW_GRD_SPACING_M = 40.0
S1_POLARISATIONS = 2
S1_BYTES_PER_SAMPLE = 2
SIZE_ASSUMPTIONS = [
    "sar_float32_bytes: HH and HV as float32 on the scene file's grid (80 m in RTT files)",
    ("s1_grd_uint16_bytes: Sentinel-1 EW GRDM equivalent, 2 polarisations x uint16 at 40 m "
     "pixel spacing over the same footprint, uncompressed (modelled, not a measured file size)"),
    "sod_uint8_bytes: one uint8 class id per working-resolution pixel, uncompressed",
    "sod_cog_bytes: size of the written SOD Cloud-Optimised GeoTIFF (deflate, overviews included)",
]


def product_sizes(working_shape: Sequence[int], file_shape: Sequence[int],
                  file_spacing_m: float, cog_bytes: int | None) -> dict[str, Any]:
    """Size of the SOD product against the SAR input of one scene (see module doc)."""
    h, w = int(working_shape[0]), int(working_shape[1])
    fh, fw = int(file_shape[0]), int(file_shape[1])
    sar = 2 * fh * fw * 4
    grd_pixels = fh * fw * (float(file_spacing_m) / S1_EW_GRD_SPACING_M) ** 2
    grd = round(S1_POLARISATIONS * S1_BYTES_PER_SAMPLE * grd_pixels)
    sod = h * w
    return {
        "sod_uint8_bytes": sod,
        "sod_cog_bytes": cog_bytes,
        "sar_float32_bytes": sar,
        "s1_grd_uint16_bytes": grd,
        "ratio_sar_float32_to_sod_uint8": sar / sod if sod else None,
        "ratio_s1_grd_to_sod_cog": grd / cog_bytes if cog_bytes else None,
    }


@dataclass
class SceneRecord:
    """One scene of a predict run (``status`` ``ok`` or ``failed``)."""

    scene: str
    path: str
    status: str = "ok"
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    working_shape: list[int] | None = None
    file_shape: list[int] | None = None
    pixel_spacing_m: float | None = None
    downsample: int | None = None
    georeference: str | None = None
    products: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    tiles: int | None = None
    metrics: dict[str, Any] | None = None
    #: How the file's inputs were read (physical or standardised) and why; whose statistics.
    input_scaling: str | None = None
    input_scaling_source: str | None = None
    normalisation: str | None = None
    land_pixels: int | None = None


@dataclass
class RunSummary:
    """All scenes of one ``tinyicenet predict`` call."""

    model: str
    checkpoint: str
    backend: str
    device: str
    precision: str
    crs: str
    scenes: list[SceneRecord] = field(default_factory=list)
    size_assumptions: list[str] = field(default_factory=lambda: list(SIZE_ASSUMPTIONS))

    @property
    def failed(self) -> list[SceneRecord]:
        return [s for s in self.scenes if s.status != "ok"]

    @property
    def written(self) -> list[SceneRecord]:
        return [s for s in self.scenes if s.status == "ok"]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema"] = "tinyicenet-predict"
        d["schema_version"] = 1
        d["counts"] = {"scenes": len(self.scenes), "written": len(self.written),
                       "failed": len(self.failed)}
        return d

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        return write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")


def _mb(n: int | None) -> str:
    return "-" if n is None else (f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB")


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}x"


def render_table(summary: RunSummary) -> Any:
    """A rich Table: one row per scene."""
    from rich.table import Table

    charts_with_scores = sorted({c for s in summary.scenes if s.metrics
                                 for c in s.metrics.get("charts", {})})
    t = Table(title=f"tinyicenet predict: {summary.model} on {summary.backend} "
                    f"({summary.device})", title_justify="left")
    for col in ("scene", "status", "pixels", "spacing", "SOD uint8", "SOD COG", "SAR f32",
                "S1 GRD", "SAR/SOD", "GRD/COG", "seconds"):
        t.add_column(col, justify="left" if col in ("scene", "status") else "right")
    for chart in charts_with_scores:
        t.add_column(f"{chart} score", justify="right")
    for s in summary.scenes:
        if s.status != "ok":
            t.add_row(s.scene, "[red]failed[/red]", *["-"] * 9,
                      *["-"] * len(charts_with_scores))
            continue
        z = s.sizes
        scores = []
        for chart in charts_with_scores:
            v = (s.metrics or {}).get("charts", {}).get(chart, {}).get("score")
            scores.append("-" if v is None else f"{v:.1f}")
        t.add_row(s.scene, "ok", f"{s.working_shape[0]}x{s.working_shape[1]}",
                  f"{s.pixel_spacing_m:g} m", _mb(z.get("sod_uint8_bytes")),
                  _mb(z.get("sod_cog_bytes")), _mb(z.get("sar_float32_bytes")),
                  _mb(z.get("s1_grd_uint16_bytes")),
                  _ratio(z.get("ratio_sar_float32_to_sod_uint8")),
                  _ratio(z.get("ratio_s1_grd_to_sod_cog")),
                  f"{s.seconds.get('total', 0.0):.1f}", *scores)
    return t

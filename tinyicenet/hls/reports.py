"""Parsers of vendor reports: Vitis/Vivado HLS ``csynth.rpt`` and Vivado ``report_utilization``.

When these exist (``tinyicenet hls --synth`` where the tools are installed, or a project built
elsewhere), their numbers replace the modelled ones and are labelled with the tool that reported
them (Vivado's tables through ``tinyicenet_io.vivado``, the one reader the board build shares). Both
formats are ASCII tables (``|``-separated); the parsers read them by header name, so the
column sets of different tool versions (``DSP48E`` vs ``DSP``, with or without ``URAM`` or
``Prohibited``) are handled alike.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyicenet_io import vivado
from tinyicenet_io.errors import FormatError

from tinyicenet.errors import ResultError


def _section(text: str, title: str) -> str:
    """The text after a ``== title`` banner up to the next banner."""
    m = re.search(rf"==\s*{re.escape(title)}\s*\n=+\n(.*?)(?=\n=+\n==|\Z)", text, re.S)
    return m.group(1) if m else ""


@dataclass
class HlsSynthReport:
    """Numbers of an HLS synthesis report (csynth.rpt)."""

    path: str
    tool: str
    version: str
    part: str
    clock_target_ns: float | None
    clock_estimated_ns: float | None
    latency_cycles: tuple[int, int] | None
    interval_cycles: tuple[int, int] | None
    used: dict[str, float] = field(default_factory=dict)  # bram18, dsp, ff, lut, uram
    available: dict[str, float] = field(default_factory=dict)

    @property
    def bram36(self) -> float | None:
        return None if "bram18" not in self.used else self.used["bram18"] / 2

    def to_dict(self) -> dict[str, Any]:
        return {"provenance": f"reported by {self.tool} {self.version} (csynth estimate)",
                "path": self.path, "part": self.part,
                "clock_target_ns": self.clock_target_ns,
                "clock_estimated_ns": self.clock_estimated_ns,
                "latency_cycles": list(self.latency_cycles) if self.latency_cycles else None,
                "interval_cycles": list(self.interval_cycles) if self.interval_cycles else None,
                "used": dict(self.used), "available": dict(self.available),
                "bram36": self.bram36, "tiles_per_s_at_target_clock": self.tiles_per_s()}

    def tiles_per_s(self, clock_mhz: float | None = None) -> float | None:
        """Tiles per second from the top function's interval (dataflow: one tile per interval)."""
        period = 1000.0 / clock_mhz if clock_mhz else self.clock_target_ns
        if not period or not self.interval_cycles:
            return None
        return 1e9 / (period * self.interval_cycles[1])


_HLS_COLUMNS = {"BRAM_18K": "bram18", "DSP": "dsp", "DSP48E": "dsp", "FF": "ff", "LUT": "lut",
                "URAM": "uram"}


def parse_csynth(path: str | os.PathLike[str]) -> HlsSynthReport:
    """Parse a Vitis HLS / Vivado HLS ``*_csynth.rpt``; ResultError if it is not one."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        raise ResultError(f"{p}: cannot read the HLS report ({exc})") from None
    head = re.search(r"==\s*(Vitis|Vivado) HLS Report for '([^']+)'", text)
    if head is None:
        raise ResultError(f"{p}: not a Vitis/Vivado HLS synthesis report (no 'HLS Report for' "
                          "banner)")
    tool = f"{head.group(1)} HLS"
    version = re.search(r"\*\s*Version:\s*(\S+)", text)
    part = re.search(r"\*\s*Target device:\s*(\S+)", text)
    perf = _section(text, "Performance Estimates")
    target = estimated = None
    m = re.search(r"\|\s*ap_clk\s*\|\s*([\d.]+)\s*ns\s*\|\s*([\d.]+)\s*ns", perf)
    if m:
        target, estimated = float(m.group(1)), float(m.group(2))
    latency = interval = None
    lat = re.search(r"\+ Latency:.*?\n(.*?)(?:\n\s*\n|\Z)", perf, re.S)
    if lat:
        for line in lat.group(1).splitlines():
            cells = vivado.cells(line) if line.strip().startswith("|") else []
            nums = [vivado.number(c) for c in cells]
            if len(cells) >= 6 and nums[0] is not None and nums[1] is not None:
                # min, max cycles | min, max absolute | interval min, max | pipeline type
                ints = [c for c in cells if re.fullmatch(r"\d+", c.replace(",", ""))]
                if len(ints) >= 4:
                    latency = (int(ints[0]), int(ints[1]))
                    interval = (int(ints[2]), int(ints[3]))
                    break
    util = _section(text, "Utilization Estimates")
    used, available, columns = {}, {}, None
    for line in util.splitlines():
        if not line.strip().startswith("|"):
            continue
        cells = vivado.cells(line)
        if cells and cells[0] == "Name":
            columns = [_HLS_COLUMNS.get(c) for c in cells[1:]]
            continue
        if columns is None or not cells:
            continue
        row = cells[0]
        target_map = used if row == "Total" else available if row == "Available" else None
        if target_map is None:
            continue
        for key, cell in zip(columns, cells[1:]):
            value = vivado.number(cell)
            if key and value is not None:
                target_map[key] = value
        if row == "Available":
            break
    if not used:
        raise ResultError(f"{p}: HLS report has no utilisation 'Total' row")
    return HlsSynthReport(path=str(p), tool=tool, version=version.group(1) if version else "",
                          part=part.group(1) if part else "", clock_target_ns=target,
                          clock_estimated_ns=estimated, latency_cycles=latency,
                          interval_cycles=interval, used=used, available=available)


@dataclass
class UtilizationReport:
    """Numbers of a Vivado ``report_utilization`` (post-synthesis or post-route)."""

    path: str
    version: str
    device: str
    state: str
    used: dict[str, float] = field(default_factory=dict)  # lut, ff, bram36, dsp, uram, lutram, srl
    available: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"provenance": f"reported by Vivado {self.version} report_utilization "
                              f"({self.state or 'unknown state'})",
                "path": self.path, "device": self.device, "used": dict(self.used),
                "available": dict(self.available)}


def parse_utilization(path: str | os.PathLike[str]) -> UtilizationReport:
    """Parse a Vivado utilisation report; ResultError if it is not one.

    The tables are read by ``tinyicenet_io.vivado`` (the board build reads its reports there too).
    """
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        raise ResultError(f"{p}: cannot read the utilisation report ({exc})") from None
    if "report_utilization" not in text and "Utilization Design Information" not in text:
        raise ResultError(f"{p}: not a Vivado utilisation report")
    try:
        util = vivado.parse_utilization(text)
    except FormatError as exc:
        raise ResultError(f"{p}: {exc}") from None
    return UtilizationReport(path=str(p), version=util.version, device=util.device,
                             state=util.state, used=util.used, available=util.available)


def find_reports(project_dir: str | os.PathLike[str], project_name: str) -> dict[str, Path]:
    """Report files of a synthesised hls4ml project, where the tools put them."""
    root = Path(project_dir)
    found: dict[str, Path] = {}
    for pattern in (f"{project_name}_prj/solution1/syn/report/{project_name}_csynth.rpt",
                    f"{project_name}_prj/solution1/syn/report/csynth.rpt",
                    "**/syn/report/*_csynth.rpt"):
        hits = sorted(root.glob(pattern))
        if hits:
            found["csynth"] = hits[0]
            break
    for pattern in ("vivado_synth.rpt", "**/*utilization*.rpt", "**/*_utilization_synth.rpt"):
        hits = sorted(root.glob(pattern))
        if hits:
            found["utilization"] = hits[0]
            break
    return found

"""Vivado's ``report_utilization`` and ``report_timing_summary`` tables (standard library only).

The one reader of these reports: the host (``tinyicenet.hls.reports``, numbers of a synthesised
hls4ml project) and the board build (``boards/zcu102``, the implemented design) both call it.
The utilisation tables are ASCII (``|``-separated) and read by header name, so the column sets
of different Vivado versions (with or without ``Prohibited``, ``Fixed``) and the UltraScale
(``CLB LUTs``) and 7-series (``Slice LUTs``) row names are handled alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import FormatError

#: site type (as printed, without '*') -> our key
SITES = {"CLB LUTs": "lut", "Slice LUTs": "lut", "CLB Registers": "ff",
         "Slice Registers": "ff", "Block RAM Tile": "bram36", "DSPs": "dsp", "URAM": "uram",
         "LUT as Distributed RAM": "lutram", "LUT as Shift Register": "srl"}


def cells(line: str) -> list:
    """The cells of one ``| a | b |`` table line, stripped."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def number(text: str) -> float | None:
    """A report cell as a number (``~0`` is 0, ``-``/empty/``N/A`` None, commas dropped)."""
    text = text.strip().replace(",", "")
    if text in ("", "-", "~0", "N/A", "?"):
        return 0.0 if text == "~0" else None
    m = re.match(r"^-?\d+(\.\d+)?", text)
    return float(m.group(0)) if m else None


@dataclass
class Utilization:
    """Used and available sites of a ``report_utilization`` (lut, ff, bram36, dsp, uram, ...)."""

    version: str = ""
    device: str = ""
    state: str = ""
    used: dict = field(default_factory=dict)
    available: dict = field(default_factory=dict)


def parse_utilization(text: str) -> Utilization:
    """Read a ``report_utilization``; FormatError when it holds no LUT row."""
    version = re.search(r"Tool Version\s*:\s*Vivado v\.?(\S+)", text)
    device = re.search(r"\|\s*Device\s*:\s*(\S+)", text)
    state = re.search(r"\|\s*Design State\s*:\s*(.+)", text)
    out = Utilization(version=version.group(1) if version else "",
                      device=device.group(1) if device else "",
                      state=state.group(1).strip().rstrip("|").strip() if state else "")
    header = None
    for line in text.splitlines():
        if not line.strip().startswith("|"):
            header = None if not line.strip().startswith("+") else header
            continue
        row_cells = cells(line)
        if row_cells and row_cells[0] == "Site Type":
            header = row_cells
            continue
        if header is None:
            continue
        key = SITES.get(row_cells[0].rstrip("*").strip())
        if key is None or key in out.used:
            continue  # the first table naming a site is the summary; later ones break it down
        row = dict(zip(header, row_cells))
        value = number(row.get("Used", ""))
        if value is not None:
            out.used[key] = value
        avail = number(row.get("Available", ""))
        if avail:
            out.available[key] = avail
    if "lut" not in out.used:
        raise FormatError("no LUT row found in the utilisation tables (not a Vivado "
                          "report_utilization file?)")
    return out


def parse_timing(text: str) -> dict:
    """``report_timing_summary`` -> {wns_ns, tns_ns, whs_ns, ths_ns} (Design Timing Summary)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.strip().startswith("WNS(ns)"):
            continue
        names = re.split(r"\s{2,}", line.strip())
        for row in lines[i + 1:i + 5]:
            values = row.split()
            if not values or set(values[0]) <= {"-"}:
                continue  # the dashes under the header
            table = dict(zip(names, values))
            try:
                return {"wns_ns": float(table["WNS(ns)"]), "tns_ns": float(table["TNS(ns)"]),
                        "whs_ns": float(table["WHS(ns)"]), "ths_ns": float(table["THS(ns)"])}
            except (KeyError, ValueError):
                break
    raise FormatError("timing summary: no 'Design Timing Summary' table with WNS/TNS/WHS/THS")

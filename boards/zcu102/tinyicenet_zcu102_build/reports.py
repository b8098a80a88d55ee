"""The implemented design's Vivado reports, read by the shared reader ``tinyicenet_io.vivado``."""

from __future__ import annotations

from tinyicenet_io import vivado
from tinyicenet_io.errors import FormatError

from .errors import BuildError

#: the sites the build summary lists
SUMMARY_SITES = ("lut", "ff", "bram36", "dsp", "uram")


def parse_utilization(text: str) -> dict:
    """report_utilization -> {lut, ff, bram36, dsp, uram}: {used, available}."""
    try:
        util = vivado.parse_utilization(text)
    except FormatError as exc:
        raise BuildError(f"utilization report: {exc}") from None
    return {key: {"used": util.used[key], "available": util.available.get(key, 0.0)}
            for key in SUMMARY_SITES if key in util.used}


def parse_timing(text: str) -> dict:
    """report_timing_summary -> {wns_ns, tns_ns, whs_ns, ths_ns} (Design Timing Summary)."""
    try:
        return vivado.parse_timing(text)
    except FormatError as exc:
        raise BuildError(str(exc)) from None

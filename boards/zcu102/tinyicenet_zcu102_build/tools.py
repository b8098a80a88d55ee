"""Which AMD/GNU tools are on PATH (looked up before anything runs; a missing one is named)."""

from __future__ import annotations

import shutil

from .errors import BuildError


#: HLS compilers, newest first: (executable, how to run a Tcl script, what provides it)
HLS_TOOLS = (
    ("vitis-run", ["--mode", "hls", "--tcl"], "Vitis >= 2024.1"),
    ("vitis_hls", ["-f"], "Vitis HLS 2020.2 - 2024.2"),
    ("vivado_hls", ["-f"], "Vivado HLS <= 2020.1"),
)


def find_hls(which=shutil.which):
    """``(path, args)`` of the first HLS compiler on PATH, or None."""
    for exe, args, _ in HLS_TOOLS:
        path = which(exe)
        if path:
            return path, args
    return None


def missing_tools(steps: tuple, which=shutil.which) -> list:
    """Names of the tools ``steps`` need that are not on PATH, with what provides them."""
    missing = []
    if "csim" in steps and not which("g++"):
        missing.append("g++ (the C++ compiler: apt install g++)")
    if "hls" in steps and find_hls(which) is None:
        missing.append("an HLS compiler: "
                       + ", ".join(f"{exe} ({what})" for exe, _, what in HLS_TOOLS))
    if "vivado" in steps and not which("vivado"):
        missing.append("vivado (Vivado Design Suite; source <install>/settings64.sh)")
    return missing


def require_tools(steps: tuple, which=shutil.which) -> None:
    missing = missing_tools(steps, which)
    if missing:
        raise BuildError("missing on PATH: " + "; ".join(missing), code=4)

"""External tools of the HLS flow: found on PATH at run time, or a clear ToolNotFoundError."""

from __future__ import annotations

import shutil

from tinyicenet.errors import ToolNotFoundError

COMPILER = "g++"
#: hls4ml 1.3.0's Vitis backend (the one tinyicenet generates) synthesises with ``vitis-run``.
SYNTH_TOOL = "vitis-run"


def require(tool: str, why: str) -> str:
    """Absolute path of ``tool`` or ToolNotFoundError naming it and what it is needed for."""
    path = shutil.which(tool)
    if path is None:
        raise ToolNotFoundError(f"{tool} not found on PATH: it is needed to {why}")
    return path


def compiler() -> str:
    """The C++ compiler of the C simulation (g++, as hls4ml's build_lib.sh)."""
    return require(COMPILER, "compile the hls4ml C simulation (install g++, e.g. "
                             "apt-get install g++)")


def synthesis_tool() -> str:
    """``vitis-run`` (AMD Vitis >= 2024.1), which hls4ml's Vitis backend calls for build()."""
    return require(SYNTH_TOOL, "synthesise the project (--synth): install AMD Vitis >= 2024.1 "
                               "and source its settings64.sh; boards/zcu102/build.py also "
                               "accepts vitis_hls or vivado_hls for the board IP")

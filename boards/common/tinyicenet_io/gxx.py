"""The g++ flags of an hls4ml C simulation, for every C-simulation build of this repository.

The same as hls4ml's ``build_lib.sh``: ``-fPIC``, C++23 when the compiler has it, else C++11,
and ``-fno-gnu-unique`` where supported (so a reloaded library is really reloaded). The host's
``tinyicenet.hls.csim_build`` (hls4ml's bridge) and the board build's C simulation of the IP
(``tinyicenet_zcu102_build.csim``: shell + network) both take their flags here. Standard library
only.
"""

from __future__ import annotations

import functools
import subprocess


@functools.lru_cache(maxsize=4)
def std_flag(cxx: str) -> str:
    """``-std=c++23`` when ``cxx`` accepts it, else ``-std=c++11``."""
    probe = subprocess.run([cxx, "-Werror", "-fsyntax-only", "-std=c++23", "-xc++", "-"],
                           input="", capture_output=True, text=True)
    return "-std=c++23" if probe.returncode == 0 else "-std=c++11"


@functools.lru_cache(maxsize=4)
def no_gnu_unique(cxx: str) -> list:
    """``["-fno-gnu-unique"]`` when ``cxx`` accepts it (GCC), else nothing."""
    probe = subprocess.run([cxx, "-Werror", "-fsyntax-only", "-fno-gnu-unique", "-xc++", "-"],
                           input="", capture_output=True, text=True)
    return ["-fno-gnu-unique"] if probe.returncode == 0 else []


def csim_flags(cxx: str, opt: str = "-O3") -> list:
    """Optimisation, ``-fPIC``, the standard and ``-fno-gnu-unique`` for a C-simulation build."""
    return [*opt.split(), "-fPIC", std_flag(cxx), *no_gnu_unique(cxx)]


def first_error(text: str) -> str:
    """The first line of compiler output that names an error (else the last line), shortened."""
    for line in text.splitlines():
        if "error" in line:
            return line.strip()[:300]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"

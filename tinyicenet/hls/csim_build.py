"""Compile an hls4ml project's C simulation into a shared library with g++ (no Xilinx tools).

The same two translation units and flags as hls4ml's ``build_lib.sh`` (``-O3 -fPIC``, C++23 when
the compiler has it, else C++11, ``-fno-gnu-unique``: ``tinyicenet_io.gxx``, which the board
build's C simulation of the IP uses too), compiled in parallel, plus one
C-simulation-only change: the weights directory is found beside the library at run time
(``hls/csim/weights_dir.h``, copied into the project's ``tinyicenet_csim/``) instead of being the
absolute build path, so a project stays usable after :func:`tinyicenet.atomic.atomic_dir` renames
it (or a user moves it). Synthesis never sees it (the firmware is unchanged). The library is
written atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tinyicenet_io.gxx import csim_flags, first_error, std_flag

from tinyicenet.atomic import atomic_path
from tinyicenet.errors import ExportError
from tinyicenet.hls.tools import compiler
from tinyicenet.resources import resource_dir

WEIGHTS_HEADER = "tinyicenet_csim/weights_dir.h"


def install_csim_headers(project_dir: Path) -> Path:
    """Copy ``hls/csim/*.h`` into the project's ``tinyicenet_csim/`` (C simulation only)."""
    folder = Path(project_dir) / "tinyicenet_csim"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(resource_dir("hls") / "csim" / "weights_dir.h",
                    Path(project_dir) / WEIGHTS_HEADER)
    return folder


def compile_library(project_dir: str | os.PathLike[str], project_name: str, stamp: str,
                    opt: str = "-O3") -> Path:
    """Build ``firmware/<project>-<stamp>.so`` of the project at ``project_dir``; its path."""
    cxx = compiler()
    root = Path(project_dir).resolve()
    header = root / WEIGHTS_HEADER
    if not header.is_file():
        install_csim_headers(root)
    flags = [*csim_flags(cxx, opt), "-Ifirmware/ap_types/", "-include", str(header),
             "-DWEIGHTS_DIR=tinyicenet_csim::weights_dir()"]
    sources = [root / "firmware" / f"{project_name}.cpp", root / f"{project_name}_bridge.cpp"]
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise ExportError(f"{root}: not an hls4ml project (missing {', '.join(missing)})")
    target = root / "firmware" / f"{project_name}-{stamp}.so"
    with tempfile.TemporaryDirectory(prefix="tinyicenet-csim-") as work:
        objects = [Path(work) / f"{s.stem}.o" for s in sources]
        procs = [subprocess.Popen([cxx, *flags, "-c", str(s), "-o", str(o)], cwd=root,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for s, o in zip(sources, objects)]  # the two units in parallel
        outputs = [p.communicate()[0] for p in procs]
        for proc, out, src in zip(procs, outputs, sources):
            if proc.returncode != 0:
                raise ExportError(f"g++ failed on {src.name}: {first_error(out)}")
        with atomic_path(target) as tmp:
            link = subprocess.run([cxx, *opt.split(), "-fPIC", "-shared", *map(str, objects), "-o",
                                   str(tmp)], cwd=root, capture_output=True, text=True)
            if link.returncode != 0:
                raise ExportError(f"g++ failed to link {target.name}: "
                                  f"{first_error(link.stdout + link.stderr)}")
    return target


def compile_testbench(project_dir: str | os.PathLike[str], project_name: str,
                      output: str | os.PathLike[str], opt: str = "-O2") -> Path:
    """Build hls4ml's C++ testbench (``<project>_test.cpp``) as a plain executable.

    It reads ``tb_data/tb_input_features.dat`` and writes ``tb_data/csim_results.log``; the weights
    come from the project's absolute path (the executable is for this checkout).
    """
    cxx = compiler()
    root = Path(project_dir).resolve()
    weights = f'-DWEIGHTS_DIR="{root / "firmware" / "weights"}"'
    cmd = [cxx, *opt.split(), std_flag(cxx), "-Ifirmware", "-Ifirmware/ap_types", weights,
           f"{project_name}_test.cpp", f"firmware/{project_name}.cpp", "-o", str(output)]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExportError(f"g++ failed on the testbench: {first_error(proc.stdout + proc.stderr)}")
    return Path(output)

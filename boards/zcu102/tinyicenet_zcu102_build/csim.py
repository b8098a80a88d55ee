"""The IP's C simulation: the AXI-stream shell + network compiled with g++ into one library.

The emulated accelerator of the driver's tests (``tinyicenet_zcu102.emulate.CSimKernel``) loads
it. The host's ``tinyicenet.hls.csim_build`` compiles hls4ml's own bridge (other translation
units, relocatable weights); both take hls4ml's C-simulation flags from ``tinyicenet_io.gxx``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tinyicenet_io import iospec
from tinyicenet_io.gxx import csim_flags

from .hls_project import HlsProject
from .paths import HLS_DIR
from .run import run_logged
from .tcl import net_header


def csim_library(project: HlsProject, spec: iospec.IOSpec, out: Path, cxx: str = "g++") -> Path:
    """Compile shell + network with g++ into ``out/libtinyicenet_axis_csim.so`` (atomically)."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    target = out / "libtinyicenet_axis_csim.so"
    with tempfile.TemporaryDirectory(prefix=".csim.", dir=out) as tmp:
        gen = Path(tmp)
        (gen / "tinyicenet_net.h").write_text(net_header(project, spec))
        fw = project.firmware
        part = gen / "lib.so"
        cmd = [cxx, *csim_flags(cxx, "-O2"), "-shared", "-w",
               f"-I{fw}", f"-I{fw / 'ap_types'}", f"-I{gen}", f"-I{HLS_DIR}",
               f'-DWEIGHTS_DIR="{fw / "weights"}"',
               str(fw / f"{project.name}.cpp"), str(HLS_DIR / "tinyicenet_axis.cpp"),
               str(HLS_DIR / "tinyicenet_axis_csim.cpp"), "-o", str(part)]
        run_logged(cmd, gen, out / "csim_gxx.log", "g++ (C simulation of the IP)")
        os.replace(part, target)
    return target

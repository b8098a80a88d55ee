#!/usr/bin/env python3
"""Build the ZCU102 bitstream of a tinyicenet hls4ml project, or the C simulation of its IP.

    python3 build.py check     --hls-project DIR --io-spec FILE
    python3 build.py csim      --hls-project DIR --io-spec FILE --out DIR
    python3 build.py bitstream --hls-project DIR --io-spec FILE --out DIR
                               [--work DIR] [--clock-mhz MHZ] [--jobs N] [--allow-timing-violation]

``bitstream`` runs: HLS synthesis of the network in its AXI-stream shell and IP export
(hls/build_ip.tcl with vitis-run, vitis_hls or vivado_hls), then Vivado: block design, synthesis,
implementation, write_bitstream, .hwh and .xsa export (vivado/block_design.tcl). Every tool is
looked up on PATH before anything runs; a missing one is named with what provides it. The
outputs appear in --out only when everything succeeded (written to <out>.partial, then renamed).

``csim`` compiles the same shell + network with g++ into libtinyicenet_axis_csim.so: the
emulated accelerator of the driver's tests (tinyicenet_zcu102.emulate.CSimKernel).

It runs where Vivado is installed, without the tinyicenet package: it needs the standard
library and the shared ``tinyicenet_io`` package (``pip install boards/common``; jsonschema).
This file is the command line; the jobs are the ``tinyicenet_zcu102_build`` package beside it
(``tools``: tool discovery, ``hls_project``: the project and its check against the io spec,
``tcl``: the shell header and Tcl parameters, ``csim``: the C-simulation library, ``reports``:
Vivado reports, ``steps``: the three commands).
Exit codes: 2 bad input, 4 missing tool, 5 a tool failed, 6 timing not met.
"""

from __future__ import annotations

import argparse
import os
import sys

from tinyicenet_io.cli import run_command

from tinyicenet_zcu102_build.errors import BuildError
from tinyicenet_zcu102_build.steps import cmd_bitstream, cmd_check, cmd_csim


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
            ("check", cmd_check, "check the inputs and report which tools are on PATH"),
            ("csim", cmd_csim, "compile the IP's C simulation (g++) for the emulated accelerator"),
            ("bitstream", cmd_bitstream,
             "HLS synthesis + Vivado implementation + bitstream + .hwh")):
        s = sub.add_parser(name, help=help_text)
        s.add_argument("--hls-project", required=True, help="hls4ml project folder (io_stream)")
        s.add_argument("--io-spec", required=True, help="io_spec.json of the network")
        if name != "check":
            s.add_argument("--out", required=True, help="output folder")
        if name == "bitstream":
            s.add_argument("--work", help="work folder (default: <out>.work)")
            s.add_argument("--clock-mhz", type=float, default=None,
                           help="PL clock (default: the HLS project's clock period)")
            s.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
            s.add_argument("--allow-timing-violation", action="store_true")
        s.set_defaults(func=func)
    return p


def main(argv=None) -> int:
    return run_command(parser(), argv, BuildError)


if __name__ == "__main__":
    sys.exit(main())

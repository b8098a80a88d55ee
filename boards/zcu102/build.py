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

Standard library only: it runs where Vivado is installed, without the tinyicenet package.
Exit codes: 2 bad input, 4 missing tool, 5 a tool failed, 6 timing not met.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from tinyicenet_zcu102 import iospec  # noqa: E402  (numpy-free module of the driver)

BOARD = json.loads((HERE / "board.json").read_text())
BIT_NAME = "tinyicenet"
IP_NAME = "tinyicenet_axis"
IP_VERSION = "1.0"


class BuildError(Exception):
    """A user-fixable problem, one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


# ---- tools ------------------------------------------------------------------------------------

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


# ---- the hls4ml project -----------------------------------------------------------------------

_TYPE = re.compile(
    r"typedef\s+nnet::array<\s*(ap_u?fixed|ap_u?int)<\s*(\d+)\s*(?:,\s*(-?\d+))?[^>]*>\s*,"
    r"\s*([\d\s*]+)>\s*(input_t|result_t)\s*;")


@dataclass(frozen=True)
class FixedType:
    """An hls4ml stream element: ``values`` fixed-point numbers of ``bits`` (LSB 2**exponent)."""

    signed: bool
    bits: int
    exponent: int
    values: int

    def describe(self) -> str:
        kind = "int" if self.signed else "uint"
        return f"{self.values} x {kind}{self.bits} * 2**{self.exponent}"


@dataclass(frozen=True)
class HlsProject:
    path: Path
    name: str
    part: str
    clock_period_ns: float
    input: FixedType
    output: FixedType
    first_shape: tuple  # (in_height, in_width) of the first spatial layer, if any

    @property
    def firmware(self) -> Path:
        return self.path / "firmware"


def _tcl_var(text: str, name: str, source: Path) -> str:
    match = re.search(rf'^\s*set\s+{name}\s+"?([^"\n]+?)"?\s*$', text, re.M)
    if not match:
        raise BuildError(f"{source}: no '{name}' setting (is this an hls4ml project?)")
    return match.group(1).strip()


def read_hls_project(path: str | os.PathLike) -> HlsProject:
    """Facts of an hls4ml project folder (project.tcl, firmware/defines.h, parameters.h)."""
    root = Path(path).resolve()
    project_tcl = root / "project.tcl"
    if not project_tcl.is_file():
        raise BuildError(f"{root}: not an hls4ml project (no project.tcl)")
    text = project_tcl.read_text()
    name = _tcl_var(text, "project_name", project_tcl)
    part = _tcl_var(text, "part", project_tcl)
    try:
        period = float(_tcl_var(text, "clock_period", project_tcl))
    except ValueError:
        raise BuildError(f"{project_tcl}: clock_period is not a number") from None
    defines = root / "firmware" / "defines.h"
    top = root / "firmware" / f"{name}.cpp"
    for needed in (defines, top, root / "firmware" / f"{name}.h"):
        if not needed.is_file():
            raise BuildError(f"{root}: incomplete hls4ml project, "
                             f"{needed.relative_to(root)} is missing")
    types = {}
    for kind, bits, ibits, count, which in _TYPE.findall(defines.read_text()):
        values = 1
        for factor in count.replace(" ", "").split("*"):
            values *= int(factor)
        bits_i = int(bits)
        int_bits = int(ibits) if ibits else bits_i  # ap_int<W> = ap_fixed<W, W>
        types[which] = FixedType(signed=not kind.startswith("ap_u"), bits=bits_i,
                                 exponent=int_bits - bits_i, values=values)
    for which in ("input_t", "result_t"):
        if which not in types:
            raise BuildError(f"{defines}: no fixed-point nnet::array {which} (io_parallel project, "
                             "or an unsupported type); the board needs an io_stream project")
    params = root / "firmware" / "parameters.h"
    first = ()
    if params.is_file():
        ptext = params.read_text()
        h = re.search(r"in_height\s*=\s*(\d+)", ptext)
        w = re.search(r"in_width\s*=\s*(\d+)", ptext)
        if h and w:
            first = (int(h.group(1)), int(w.group(1)))
    return HlsProject(root, name, part, period, types["input_t"], types["result_t"], first)


def check_project(project: HlsProject, spec: iospec.IOSpec) -> None:
    """The HLS project must be the network the io spec describes, for the ZCU102's part."""
    if project.part != BOARD["part"]:
        raise BuildError(f"{project.path}: HLS project targets part {project.part}, the ZCU102 is "
                         f"{BOARD['part']}")
    want_in = FixedType(True, spec.in_bits, spec.in_exponent, len(spec.channels))
    want_out = FixedType(True, spec.out_bits, spec.out_exponent, spec.classes)
    for what, got, want in (("input", project.input, want_in),
                            ("output", project.output, want_out)):
        if got != want:
            raise BuildError(f"{project.path}: precision mismatch on the {what}: HLS project has "
                             f"{got.describe()}, io spec says {want.describe()}")
    if project.first_shape and project.first_shape != (spec.tile, spec.tile):
        raise BuildError(f"{project.path}: HLS project takes {project.first_shape[0]} x "
                         f"{project.first_shape[1]} images, io spec tile is {spec.tile} x "
                         f"{spec.tile}")


def load_spec(path: str | os.PathLike) -> iospec.IOSpec:
    try:
        return iospec.load(path)
    except iospec.BoardError as exc:
        raise BuildError(str(exc)) from None


def net_header(project: HlsProject, spec: iospec.IOSpec) -> str:
    """tinyicenet_net.h: what the shell needs to know about the network."""
    return (f"// generated by boards/zcu102/build.py for {project.path.name}; do not edit\n"
            "#ifndef TINYICENET_NET_H_\n#define TINYICENET_NET_H_\n"
            f'#include "{project.name}.h"\n'
            f"#define TINYICENET_NET_TOP {project.name}\n"
            f"#define TINYICENET_TILE_PIXELS ({spec.tile} * {spec.tile})\n#endif\n")


# ---- outputs ---------------------------------------------------------------------------------

def _publish(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` (a finished folder) in one rename."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def _run(cmd: list, cwd: Path, log: Path, what: str) -> None:
    print(f"[build] {what}: {' '.join(cmd)}  (log: {log})", flush=True)
    with open(log, "w") as handle:
        code = subprocess.call(cmd, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    if code != 0:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        tail = lines[-1:] or [""]
        raise BuildError(f"{what} failed (exit {code}); see {log}: {tail[0].strip()[:200]}", code=5)


def _tcl_params(path: Path, values: dict) -> None:
    lines = [f"set {k} {{{v}}}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")


# ---- Vivado reports --------------------------------------------------------------------------

def _table_rows(text: str) -> dict:
    """Rows of every '| a | b | ...' table in a Vivado report, keyed by their first cell."""
    rows, header = {}, None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None if not line.startswith("+") else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "Site Type":
            header = cells
            continue
        if header and len(cells) == len(header):
            rows.setdefault(cells[0], dict(zip(header, cells)))
    return rows


def parse_utilization(text: str) -> dict:
    """report_utilization -> {lut, ff, bram36, dsp, uram}: {used, available}."""
    rows = _table_rows(text)
    names = {"lut": ("CLB LUTs", "CLB LUTs*", "Slice LUTs", "Slice LUTs*"),
             "ff": ("CLB Registers", "Slice Registers"),
             "bram36": ("Block RAM Tile",),
             "dsp": ("DSPs",),
             "uram": ("URAM",)}
    out = {}
    for key, candidates in names.items():
        row = next((rows[n] for n in candidates if n in rows), None)
        if row is None:
            continue
        try:
            out[key] = {"used": float(row["Used"]), "available": float(row["Available"])}
        except (KeyError, ValueError):
            raise BuildError(f"utilization report: unreadable row {row}") from None
    if "lut" not in out:
        raise BuildError("utilization report: no LUT row (not a Vivado report_utilization file?)")
    return out


def parse_timing(text: str) -> dict:
    """report_timing_summary -> {wns_ns, tns_ns, whs_ns, ths_ns} (Design Timing Summary)."""
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
    raise BuildError("timing summary: no 'Design Timing Summary' table with WNS/TNS/WHS/THS")


# ---- steps ------------------------------------------------------------------------------------

def cmd_check(args) -> int:
    project = read_hls_project(args.hls_project)
    spec = load_spec(args.io_spec)
    check_project(project, spec)
    print(f"hls project: {project.name} ({project.path}), part {project.part}, "
          f"clock {project.clock_period_ns} ns")
    print(f"input stream:  {project.input.describe()} -> {spec.in_word_bits}-bit AXI words")
    print(f"output stream: {project.output.describe()} -> {spec.out_word_bits}-bit AXI words")
    print(f"tile {spec.tile} (halo {spec.halo}, align {spec.align}): {spec.pixels} words per "
          "transfer")
    missing = missing_tools(("csim", "hls", "vivado"))
    print("tools: " + ("all found" if not missing else "missing " + "; ".join(missing)))
    return 0


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
        cmd = [cxx, "-O2", "-fPIC", "-shared", "-std=c++11", "-w",
               f"-I{fw}", f"-I{fw / 'ap_types'}", f"-I{gen}", f"-I{HERE / 'hls'}",
               f'-DWEIGHTS_DIR="{fw / "weights"}"',
               str(fw / f"{project.name}.cpp"), str(HERE / "hls" / "tinyicenet_axis.cpp"),
               str(HERE / "hls" / "tinyicenet_axis_csim.cpp"), "-o", str(part)]
        _run(cmd, gen, out / "csim_gxx.log", "g++ (C simulation of the IP)")
        os.replace(part, target)
    return target


def cmd_csim(args) -> int:
    require_tools(("csim",))
    project = read_hls_project(args.hls_project)
    spec = load_spec(args.io_spec)
    check_project(project, spec)
    lib = csim_library(project, spec, Path(args.out))
    print(f"[build] wrote {lib}")
    return 0


def cmd_bitstream(args) -> int:
    require_tools(("hls", "vivado"))
    project = read_hls_project(args.hls_project)
    spec = load_spec(args.io_spec)
    check_project(project, spec)
    clock_mhz = args.clock_mhz or 1000.0 / project.clock_period_ns
    if not 10.0 <= clock_mhz <= 500.0:
        raise BuildError(f"clock {clock_mhz:.1f} MHz is outside 10-500 MHz")
    out = Path(args.out).resolve()
    work = Path(args.work).resolve() if args.work else out.with_name(out.name + ".work")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    gen = work / "gen"
    gen.mkdir(exist_ok=True)
    (gen / "tinyicenet_net.h").write_text(net_header(project, spec))

    hls_exe, hls_args = find_hls()
    _tcl_params(work / "hls_params.tcl", {
        "project_name": project.name, "firmware": project.firmware.resolve(), "gen_dir": gen,
        "shell_dir": HERE / "hls", "part": BOARD["part"],
        "clock_period": f"{1000.0 / clock_mhz:.4f}",
        "ip_version": IP_VERSION})
    shutil.copy(HERE / "hls" / "build_ip.tcl", work / "build_ip.tcl")
    _run([hls_exe, *hls_args, "build_ip.tcl"], work, work / "hls.log",
         "HLS synthesis and IP export")
    ip_repo = work / "tinyicenet_axis_prj" / "solution1" / "impl" / "ip"
    if not (ip_repo / "component.xml").is_file():
        raise BuildError(f"HLS finished but exported no IP in {ip_repo}; see {work / 'hls.log'}",
                         code=5)

    _tcl_params(work / "vivado_params.tcl", {
        "part": BOARD["part"], "board_part_pattern": BOARD["vivado_board_part"],
        "ip_repo": ip_repo, "ip_name": IP_NAME, "pl_clk_mhz": f"{clock_mhz:.3f}",
        "in_word_bits": spec.in_word_bits, "out_word_bits": spec.out_word_bits,
        "proj_dir": work / "vivado", "bd_name": "tinyicenet_bd", "out_dir": staging,
        "bit_name": BIT_NAME, "jobs": args.jobs})
    _run(["vivado", "-mode", "batch", "-nojournal", "-log", str(work / "vivado.log"), "-source",
          str(HERE / "vivado" / "block_design.tcl"), "-tclargs", str(work / "vivado_params.tcl")],
         work, work / "vivado.out", "Vivado block design, implementation and bitstream")
    for name in (f"{BIT_NAME}.bit", f"{BIT_NAME}.hwh"):
        if not (staging / name).is_file():
            raise BuildError(f"Vivado finished but wrote no {name} in {staging}", code=5)

    timing = parse_timing((staging / "timing_summary.rpt").read_text())
    util = parse_utilization((staging / "utilization.rpt").read_text())
    summary = {"format": "tinyicenet-build", "board": "zcu102", "part": BOARD["part"],
               "hls_project": str(project.path), "hls_tool": Path(hls_exe).name,
               "clock_mhz": clock_mhz, "timing": timing, "utilization": util,
               "io_spec": spec.to_dict()}
    (staging / "build_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (staging / "io_spec.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    if timing["wns_ns"] < 0 and not args.allow_timing_violation:
        raise BuildError(f"timing not met at {clock_mhz:.1f} MHz (WNS {timing['wns_ns']} ns): "
                         f"lower --clock-mhz; reports kept in {staging}", code=6)
    _publish(staging, out)
    print(f"[build] wrote {out / (BIT_NAME + '.bit')}, .hwh, .xsa; WNS {timing['wns_ns']} ns, "
          f"LUT {util['lut']['used']:.0f}/{util['lut']['available']:.0f}")
    return 0


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
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The hls4ml project the IP wraps: its part, clock and stream types, checked against the io
spec."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tinyicenet_io import iospec
from tinyicenet_io.errors import FormatError

from .errors import BuildError
from .paths import BOARD


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
    except FormatError as exc:
        raise BuildError(str(exc)) from None

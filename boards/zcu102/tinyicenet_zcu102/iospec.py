"""The io spec: the one format the host and the board share about the accelerator's I/O.

The host writes ``io_spec.json`` beside the HLS project (exponents from the integer reference);
the driver reads it and never imports the host package. Format (see ../io_spec.md)::

    {"format": "tinyicenet-io-spec", "version": 1, "model": "tinyicenet_w4a4",
     "precision": "w4a4", "channels": ["nersc_sar_primary", "nersc_sar_secondary"],
     "charts": {"SOD": 6}, "classes": 6,
     "input":  {"bits": 8, "exponent": -4, "signed": true,
                "rounding": "half_even", "overflow": "saturate"},
     "output": {"bits": 8, "exponent": -3, "signed": true},
     "tile": 256, "halo": 16, "align": 4,
     "stream": {"lane_bits_in": 8, "lane_bits_out": 8, "input_word_bits": 16,
                "output_word_bits": 64, "byte_order": "little", "pixel_order": "row_major",
                "tlast": "tile"}}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .errors import BoardError

FORMAT = "tinyicenet-io-spec"
VERSION = 1
# AXI DMA stream widths (PG021): a power of two from 8 to 1024 bits.
_STREAM_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)


def lane_bits(bits: int) -> int:
    """Bits one value occupies in a word: whole bytes, so the PS can view words as int8/int16."""
    return 8 if bits <= 8 else 16


def word_bits(values: int, bits: int) -> int:
    """TDATA width for one pixel of ``values`` lanes: the next AXI DMA stream width."""
    need = values * lane_bits(bits)
    for width in _STREAM_WIDTHS:
        if width >= need:
            return width
    raise BoardError(f"{values} values of {bits} bits do not fit one 1024-bit AXI-stream word")


@dataclass(frozen=True)
class IOSpec:
    """Fixed-point I/O of the accelerator and the tiling it expects."""

    model: str
    channels: tuple
    classes: int
    in_bits: int
    in_exponent: int
    out_bits: int
    out_exponent: int
    tile: int
    halo: int
    align: int
    precision: str = ""
    charts: dict = field(default_factory=dict)

    @property
    def in_lane_bits(self) -> int:
        return lane_bits(self.in_bits)

    @property
    def out_lane_bits(self) -> int:
        return lane_bits(self.out_bits)

    @property
    def in_word_bits(self) -> int:
        return word_bits(len(self.channels), self.in_bits)

    @property
    def out_word_bits(self) -> int:
        return word_bits(self.classes, self.out_bits)

    @property
    def in_word_bytes(self) -> int:
        return self.in_word_bits // 8

    @property
    def out_word_bytes(self) -> int:
        return self.out_word_bits // 8

    @property
    def pixels(self) -> int:
        return self.tile * self.tile

    def to_dict(self) -> dict:
        """The JSON form (what the host writes)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model,
            "precision": self.precision,
            "channels": list(self.channels),
            "charts": dict(self.charts),
            "classes": self.classes,
            "input": {"bits": self.in_bits, "exponent": self.in_exponent, "signed": True,
                      "rounding": "half_even", "overflow": "saturate"},
            "output": {"bits": self.out_bits, "exponent": self.out_exponent, "signed": True},
            "tile": self.tile,
            "halo": self.halo,
            "align": self.align,
            "stream": {"lane_bits_in": self.in_lane_bits, "lane_bits_out": self.out_lane_bits,
                       "input_word_bits": self.in_word_bits,
                       "output_word_bits": self.out_word_bits,
                       "byte_order": "little", "pixel_order": "row_major", "tlast": "tile"},
        }


def _int(d: dict, key: str, where: str, lo: int, hi: int) -> int:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BoardError(f"{where}: '{key}' must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def from_dict(d: dict, where: str = "io spec") -> IOSpec:
    """Validate a parsed io spec; every inconsistency is one BoardError line."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        got = d.get("format") if isinstance(d, dict) else None
        raise BoardError(f"{where}: not a {FORMAT} file (format={got!r})")
    if d.get("version") != VERSION:
        raise BoardError(f"{where}: io spec version {d.get('version')!r} is not supported "
                         f"(want {VERSION})")
    for part in ("input", "output"):
        if not isinstance(d.get(part), dict):
            raise BoardError(f"{where}: missing '{part}' section")
    inp, out = d["input"], d["output"]
    if inp.get("signed", True) is not True or out.get("signed", True) is not True:
        raise BoardError(f"{where}: input and output must be signed fixed point")
    rounding, overflow = inp.get("rounding", "half_even"), inp.get("overflow", "saturate")
    if rounding != "half_even" or overflow != "saturate":
        raise BoardError(f"{where}: the input quantizer must round half to even and saturate "
                         f"(got {rounding!r}/{overflow!r})")
    channels = d.get("channels")
    if not (isinstance(channels, list) and channels and all(isinstance(c, str) for c in channels)):
        raise BoardError(f"{where}: 'channels' must be a non-empty list of variable names")
    spec = IOSpec(
        model=str(d.get("model", "")),
        precision=str(d.get("precision", "")),
        channels=tuple(channels),
        charts=dict(d.get("charts") or {}),
        classes=_int(d, "classes", where, 1, 128),
        in_bits=_int(inp, "bits", f"{where} input", 2, 16),
        in_exponent=_int(inp, "exponent", f"{where} input", -32, 32),
        out_bits=_int(out, "bits", f"{where} output", 2, 16),
        out_exponent=_int(out, "exponent", f"{where} output", -32, 32),
        tile=_int(d, "tile", where, 4, 4096),
        halo=_int(d, "halo", where, 0, 2048),
        align=_int(d, "align", where, 1, 256),
    )
    if spec.tile % spec.align:
        raise BoardError(f"{where}: tile {spec.tile} is not a multiple of align {spec.align}")
    if 2 * spec.halo >= spec.tile:
        raise BoardError(f"{where}: halo {spec.halo} leaves no core in a {spec.tile}-pixel tile")
    if spec.charts and sum(spec.charts.values()) != spec.classes:
        raise BoardError(f"{where}: charts {spec.charts} do not add up to {spec.classes} classes")
    stream = d.get("stream") or {}
    for key, derived in (("input_word_bits", spec.in_word_bits),
                         ("output_word_bits", spec.out_word_bits)):
        if key in stream and stream[key] != derived:
            raise BoardError(f"{where}: stream.{key} is {stream[key]} but {derived} follows from "
                             "the channel count and bit width (word layout mismatch)")
    return spec


def load(path: str | os.PathLike) -> IOSpec:
    """Read and validate ``io_spec.json``."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise BoardError(f"{path}: io spec not found") from None
    except (OSError, ValueError) as exc:
        raise BoardError(f"{path}: cannot read io spec ({exc})") from None
    return from_dict(data, where=str(path))

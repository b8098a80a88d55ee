"""The io spec: the one format the host and the board share about the accelerator's I/O.

The host writes ``io_spec.json`` (exponents from the integer reference or the HLS project) and
validates it here before writing; the board driver and ``build.py`` read it here. The format is
the JSON schema ``io_spec.schema.json`` (checked with jsonschema) plus the rules across fields a
schema cannot state (see ../io_spec.md)::

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
from functools import lru_cache

from .errors import FormatError

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
    raise FormatError(f"{values} values of {bits} bits do not fit one 1024-bit AXI-stream word")


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


SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "io_spec.schema.json")


@lru_cache(maxsize=1)
def schema() -> dict:
    """The io spec's JSON schema (``io_spec.schema.json`` beside this module)."""
    with open(SCHEMA_PATH) as handle:
        return json.load(handle)


def _jsonschema():
    try:
        import jsonschema  # noqa: PLC0415 - only when a spec is read
    except ImportError:
        raise FormatError("reading an io spec needs the jsonschema package (pip install "
                          "jsonschema)") from None
    return jsonschema


@lru_cache(maxsize=1)
def _validator():
    cls = _jsonschema().validators.validator_for(schema())  # the schema's draft (07)
    cls.check_schema(schema())
    return cls(schema())


def _schema_at(path) -> dict:
    """The schema of the value at ``path`` (keys into the spec), or {} past what it describes."""
    node = schema()
    for key in path:
        if isinstance(key, int):
            node = node.get("items", {})
        else:
            props = node.get("properties", {})
            node = props.get(key, node.get("additionalProperties") or {})
    return node if isinstance(node, dict) else {}


def _message(error, where: str) -> str:
    """One line for the first thing jsonschema refuses: the refused value's ``x-error`` (or that
    of the list it is an item of), the shared integer-range message, else jsonschema's own."""
    path = list(error.absolute_path)
    value_here = error.instance
    if error.validator == "required":  # a missing key: report it as that key's value None
        path.append(next(k for k in error.validator_value if k not in error.instance))
        value_here = None
    for depth in range(len(path), 0, -1):
        node = _schema_at(path[:depth])
        key = path[depth - 1]
        value = value_here if depth == len(path) else None
        if "minimum" in node and "maximum" in node and node.get("type") == "integer":
            label = f"{where} {path[0]}" if depth > 1 else where
            return (f"{label}: '{key}' must be an integer in [{node['minimum']}, "
                    f"{node['maximum']}], got {value!r}")
        if "x-error" in node:
            return node["x-error"].format(where=where, key=key, value=value)
        if not isinstance(key, int):
            break  # a list item takes its list's message; anything else its own
    return f"{where}: {'/'.join(map(str, path)) or 'io spec'}: {error.message}"


def validate(d: dict, where: str = "io spec") -> None:
    """Check ``d`` against the JSON schema; FormatError naming the first refused value."""
    if not isinstance(d, dict):
        raise FormatError(f"{where}: not a {FORMAT} file (format=None)")
    errors = list(_validator().iter_errors(d))
    if errors:
        # what the file is (format, version) first: a spec of another version fails on that
        first = [e for e in errors if _concerns(e) in ("format", "version")]
        first.sort(key=lambda e: _concerns(e) != "format")
        error = first[0] if first else _jsonschema().exceptions.best_match(errors)
        raise FormatError(_message(error, where))


def _concerns(error) -> object:
    """The top-level key an error is about (for a missing key: the first one missing)."""
    path = list(error.absolute_path)
    if path:
        return path[0]
    if error.validator == "required":
        return next((k for k in error.validator_value if k not in error.instance), None)
    return None


def from_dict(d: dict, where: str = "io spec") -> IOSpec:
    """Validate a parsed io spec (schema, then the rules across fields); one FormatError line."""
    validate(d, where)
    inp, out = d["input"], d["output"]
    spec = IOSpec(
        model=str(d.get("model", "")),
        precision=str(d.get("precision", "")),
        channels=tuple(d["channels"]),
        charts=dict(d.get("charts") or {}),
        classes=d["classes"],
        in_bits=inp["bits"],
        in_exponent=inp["exponent"],
        out_bits=out["bits"],
        out_exponent=out["exponent"],
        tile=d["tile"],
        halo=d["halo"],
        align=d["align"],
    )
    if spec.tile % spec.align:
        raise FormatError(f"{where}: tile {spec.tile} is not a multiple of align {spec.align}")
    if 2 * spec.halo >= spec.tile:
        raise FormatError(f"{where}: halo {spec.halo} leaves no core in a {spec.tile}-pixel tile")
    if spec.charts and sum(spec.charts.values()) != spec.classes:
        raise FormatError(f"{where}: charts {spec.charts} do not add up to {spec.classes} classes")
    stream = d.get("stream") or {}
    for key, derived in (("input_word_bits", spec.in_word_bits),
                         ("output_word_bits", spec.out_word_bits)):
        if key in stream and stream[key] != derived:
            raise FormatError(f"{where}: stream.{key} is {stream[key]} but {derived} follows from "
                              "the channel count and bit width (word layout mismatch)")
    return spec


def load(path: str | os.PathLike) -> IOSpec:
    """Read and validate ``io_spec.json``."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise FormatError(f"{path}: io spec not found") from None
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot read io spec ({exc})") from None
    return from_dict(data, where=str(path))

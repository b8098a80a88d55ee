"""The io spec the host writes for the ZCU102 driver: from an integer model or an HLS project.

The format is ``tinyicenet_io.iospec`` (its JSON schema, validated with jsonschema); every spec
written here has passed the same validation the board's driver and ``build.py`` apply when
they read it, and carries the derived word layout (``stream``).
"""

from __future__ import annotations

from pathlib import Path

from tinyicenet_io import iospec
from tinyicenet_io.errors import FormatError

from tinyicenet.errors import ConfigError, ExportError


def io_spec_dict(intmodel, *, tile: int, halo: int, channels: list[str] | None = None) -> dict:
    """The io spec of an integer model (tinyicenet.export.intref.IntModel)."""
    facts = intmodel.model
    stride = int(facts["stride"])
    if tile % stride or halo % stride:
        raise ConfigError(f"tile {tile} and halo {halo} must be multiples of the model stride "
                          f"{stride}")
    if 2 * halo >= tile:
        raise ConfigError(f"halo {halo} leaves no core in a {tile}-pixel tile")
    if not intmodel.output_layer.out_signed:
        raise ExportError("the head output is unsigned; the board's word layout needs signed "
                          "logits")
    names = channels or _default_channels(int(facts["in_channels"]))
    if len(names) != int(facts["in_channels"]):
        raise ConfigError(f"{len(names)} channel names for a model with {facts['in_channels']} "
                          "input channels")
    bits = facts.get("bit_widths") or {}
    if isinstance(bits, dict) and "weight" in bits and "activation" in bits:
        precision = f"w{bits['weight']}a{bits['activation']}"
    else:
        precision = str(facts.get("name", "")).split("_")[-1]
    return _spec(facts, precision=precision, channels=names,
                 classes=int(sum(facts["num_classes"])),
                 fin=(intmodel.input_bits, intmodel.input_exp),
                 fout=(intmodel.output_bits, intmodel.output_exp), tile=tile, halo=halo,
                 stride=stride)


def io_spec_from_project(manifest: dict, *, halo: int, channels: list[str] | None = None) -> dict:
    """The io spec of a tinyicenet HLS project (its ``tinyicenet_project.json`` manifest)."""
    try:
        facts, fin, fout = manifest["model"], manifest["input"], manifest["output"]
        tile, stride = int(manifest["tile"]), int(facts["stride"])
        fmt_in, fmt_out = fin["format"], fout["format"]
        if not (fmt_in["signed"] and fmt_out["signed"]):
            raise ExportError("HLS project input or output is unsigned; the board's word layout "
                              "needs signed values")
        if halo % stride or 2 * halo >= tile:
            raise ConfigError(f"halo {halo} must be a multiple of the model stride {stride} and "
                              f"leave a core in the project's {tile}-pixel tile")
        names = channels or _default_channels(int(fin["channels"]))
        bits = facts.get("bit_widths") or {}
        precision = (f"w{bits['weight']}a{bits['activation']}"
                     if "weight" in bits and "activation" in bits else "")
        return _spec(facts, precision=precision, channels=names, classes=int(fout["channels"]),
                     fin=(int(fmt_in["bits"]), int(fmt_in["exponent"])),
                     fout=(int(fmt_out["bits"]), int(fmt_out["exponent"])), tile=tile,
                     halo=halo, stride=stride)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"HLS project manifest lacks {exc} (not a tinyicenet HLS project "
                          "manifest of this version?)") from None


def _spec(facts: dict, *, precision: str, channels: list[str], classes: int,
          fin: tuple[int, int], fout: tuple[int, int], tile: int, halo: int,
          stride: int) -> dict:
    """The io spec's fields (before validation) from the model facts and (bits, exponent) of the
    input and the output."""
    return {
        "format": iospec.FORMAT, "version": iospec.VERSION, "model": facts["name"],
        "precision": precision, "channels": channels,
        "charts": dict(zip(facts["charts"], facts["num_classes"], strict=True)),
        "classes": classes,
        "input": {"bits": fin[0], "exponent": fin[1], "signed": True, "rounding": "half_even",
                  "overflow": "saturate"},
        "output": {"bits": fout[0], "exponent": fout[1], "signed": True},
        "tile": tile, "halo": halo, "align": stride,
    }


def _default_channels(count: int) -> list[str]:
    from tinyicenet.data import DEFAULT_VARIABLES

    if count != len(DEFAULT_VARIABLES):
        raise ConfigError(f"the model takes {count} input channels; name them with --channels")
    return list(DEFAULT_VARIABLES)


def validated(spec: dict, where: str) -> dict:
    """``spec`` checked by the shared validator, with the derived word layout added."""
    try:
        return iospec.from_dict(spec, where).to_dict()
    except FormatError as exc:
        raise ConfigError(str(exc)) from None


def make_io_spec(checkpoint: Path | None = None, project: Path | None = None, *, tile: int = 256,
                 halo: int = 16, channels: list[str] | None = None,
                 where: str = "io spec") -> dict:
    """The validated io spec of a quantized checkpoint or (instead) a tinyicenet HLS project."""
    if (checkpoint is None) == (project is None):
        raise ConfigError("give either a checkpoint or --project (an HLS project folder)")
    if project is not None:
        from tinyicenet.hls.csim import read_manifest

        spec = io_spec_from_project(read_manifest(project), halo=halo, channels=channels)
    else:
        from tinyicenet.export.intref import from_brevitas
        from tinyicenet.models.checkpoint import load_quantized_checkpoint

        model, ckpt = load_quantized_checkpoint(checkpoint)
        spec = io_spec_dict(from_brevitas(model), tile=tile, halo=halo,
                            channels=channels or ckpt.get("variables"))
    return validated(spec, where)

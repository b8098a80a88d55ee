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
    return {
        "format": "tinyicenet-io-spec", "version": 1, "model": facts["name"],
        "precision": precision, "channels": names,
        "charts": dict(zip(facts["charts"], facts["num_classes"], strict=True)),
        "classes": int(sum(facts["num_classes"])),
        "input": {"bits": intmodel.input_bits, "exponent": intmodel.input_exp, "signed": True,
                  "rounding": "half_even", "overflow": "saturate"},
        "output": {"bits": intmodel.output_bits, "exponent": intmodel.output_exp, "signed": True},
        "tile": tile, "halo": halo, "align": stride,
    }


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
        return {
            "format": "tinyicenet-io-spec", "version": 1, "model": facts["name"],
            "precision": (f"w{bits['weight']}a{bits['activation']}"
                          if "weight" in bits and "activation" in bits else ""),
            "channels": names,
            "charts": dict(zip(facts["charts"], facts["num_classes"], strict=True)),
            "classes": int(fout["channels"]),
            "input": {"bits": int(fmt_in["bits"]), "exponent": int(fmt_in["exponent"]),
                      "signed": True, "rounding": "half_even", "overflow": "saturate"},
            "output": {"bits": int(fmt_out["bits"]), "exponent": int(fmt_out["exponent"]),
                       "signed": True},
            "tile": tile, "halo": halo, "align": stride,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"HLS project manifest lacks {exc} (not a tinyicenet HLS project "
                          "manifest of this version?)") from None


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

"""``create_model(name, **kwargs)``: model names -> TinyIceNet float or quantized twin.

One parser (:func:`parse_model_name`) reads every model name of the project:

* ``tinyicenet``: the family; bits come from ``weight_bits`` / ``act_bits`` / ``precision``
  (none of them: the float model), ``skips`` from the keyword (default True);
* aliases: ``tinyicenet_float`` and ``tinyicenet_w{W}a{A}`` (2 <= W, A <= 8, uniform bits);
* ``tinyicenet_mixed``: a per-layer precision (``precision=`` gives every quantizer's bits);

each optionally with the suffix ``_noskip`` (no skip connections; same as ``skips=False``).
A built model is named by what it is: ``tinyicenet_float``, ``tinyicenet_w{W}a{A}`` for a
uniform precision (input and output 8 bits), else ``tinyicenet_mixed``; plus ``_noskip``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tinyicenet.errors import ConfigError
from tinyicenet.models.bits import MAX_BITS, MIN_BITS
from tinyicenet.models.deps import require_brevitas
from tinyicenet.models.precision import Precision
from tinyicenet.models.tinyicenet import FloatLayers, QuantLayers, TinyIceNet

FAMILY = "tinyicenet"
_NAME = re.compile(r"^tinyicenet(?:_(?:(?P<float>float)|(?P<mixed>mixed)"
                   r"|w(?P<w>\d+)a(?P<a>\d+)))?(?P<noskip>_noskip)?$")
_KWARGS = ("in_channels", "widths", "charts", "skips", "precision")


@dataclass(frozen=True)
class ModelName:
    """What a model name says: ``kind`` is ``family`` (bare ``tinyicenet``), ``float``,
    ``uniform`` (with ``weight_bits``/``act_bits``) or ``mixed``; ``skips`` False for _noskip."""

    name: str
    kind: str
    weight_bits: int | None
    act_bits: int | None
    skips: bool


def parse_model_name(name: str) -> ModelName:
    """The one model-name parser (see module doc); a bad name is one ConfigError."""
    m = _NAME.match(str(name))
    if m is None:
        raise ConfigError(f"unknown model name {name!r}: use tinyicenet_float or "
                          f"tinyicenet_w{{W}}a{{A}} with W, A in {MIN_BITS}..{MAX_BITS}, "
                          "optionally with the suffix _noskip (e.g. tinyicenet_w4a4_noskip), "
                          "or tinyicenet / tinyicenet_mixed with weight_bits, act_bits or "
                          "precision")
    skips = m["noskip"] is None
    if m["w"] is None:
        kind = "float" if m["float"] else "mixed" if m["mixed"] else "family"
        return ModelName(str(name), kind, None, None, skips)
    w, a = int(m["w"]), int(m["a"])
    for bits, what in ((w, "weight"), (a, "activation")):
        if not MIN_BITS <= bits <= MAX_BITS:
            raise ConfigError(f"model {name!r}: {what} bit width {bits} is not supported; valid "
                              f"bit widths are {MIN_BITS}..{MAX_BITS} "
                              f"(e.g. tinyicenet_w4a4, tinyicenet_w8a8)")
    return ModelName(str(name), "uniform", w, a, skips)


def is_model_name(name: str) -> bool:
    """True for every name :func:`parse_model_name` accepts."""
    try:
        parse_model_name(name)
    except ConfigError:
        return False
    return True


def available_models() -> list[str]:
    """Every valid alias name (the family ``tinyicenet`` and ``tinyicenet_mixed`` need bits)."""
    names = ["tinyicenet_float"]
    names += [f"tinyicenet_w{w}a{a}" for w in range(MIN_BITS, MAX_BITS + 1)
              for a in range(MIN_BITS, MAX_BITS + 1)]
    return names + [f"{n}_noskip" for n in names]


def parse_name(name: str) -> tuple[int | None, int | None, bool]:
    """``name`` -> (weight bits or None for float, activation bits or None, skips).

    Kept for the alias names; ``tinyicenet_mixed`` has no single pair of bits (read
    ``model.precision``) and is a ConfigError here.
    """
    parsed = parse_model_name(name)
    if parsed.kind == "mixed":
        raise ConfigError(f"model {name!r} has a per-layer precision, not one weight/activation "
                          "bit width: read model.precision")
    return parsed.weight_bits, parsed.act_bits, parsed.skips


def model_name(precision: Precision | None, skips: bool) -> str:
    """The canonical name of a model of this precision (see module doc)."""
    if precision is None:
        base = "tinyicenet_float"
    else:
        uni = precision.uniform_bits()
        base = f"tinyicenet_w{uni[0]}a{uni[1]}" if uni else "tinyicenet_mixed"
    return base + ("" if skips else "_noskip")


def resolve_precision(name: str, *, levels: int, weight_bits: int | None = None,
                      act_bits: int | None = None,
                      precision: Precision | Mapping[str, Any] | None = None,
                      skips: bool | None = None) -> tuple[Precision | None, bool]:
    """(precision or None for float, skips) that ``create_model(name, ...)`` builds."""
    parsed = parse_model_name(name)
    if skips is None:
        skips = parsed.skips
    elif skips and not parsed.skips:
        raise ConfigError(f"model {name!r} has no skips but skips=True was given")
    skips = bool(skips) and parsed.skips
    w, a = weight_bits, act_bits
    if parsed.kind == "uniform":
        for given, own, what in ((w, parsed.weight_bits, "weight_bits"),
                                 (a, parsed.act_bits, "act_bits")):
            if given is not None and given != own:
                raise ConfigError(f"model {name!r} has {what} {own}, but {what}={given} was given")
        w, a = parsed.weight_bits, parsed.act_bits
    elif parsed.kind in ("float", "mixed") and (w is not None or a is not None):
        raise ConfigError(f"model {name!r}: weight_bits/act_bits do not apply (use "
                          f"{FAMILY} with weight_bits and act_bits, or precision=)")
    if parsed.kind == "float" or (parsed.kind == "family" and w is None and a is None
                                  and precision is None):
        if precision is not None:
            raise ConfigError(f"model {name!r} is a float model: it takes no precision")
        return None, skips
    if parsed.kind == "mixed" and precision is None:
        raise ConfigError(f"model {name!r} needs precision= (every quantizer's bits)")
    if (w is None) != (a is None):
        raise ConfigError(f"model {name!r}: give both weight_bits and act_bits, or neither "
                          "(with a complete precision=)")
    base = Precision.uniform(w, a, levels, skips) if w is not None else None
    if precision is None:
        return base, skips
    return Precision.overlay(base, precision, levels, skips), skips


def create_model(name: str = FAMILY, *, weight_bits: int | None = None,
                 act_bits: int | None = None,
                 precision: Precision | Mapping[str, Any] | None = None,
                 skips: bool | None = None, in_channels: int = 2,
                 widths: Sequence[int] = (16, 32, 64),
                 charts: Sequence[str] = ("SOD",)) -> TinyIceNet:
    """Build a TinyIceNet by name (see module doc). ``skips=False`` equals the ``_noskip`` name.

    ``weight_bits`` / ``act_bits``: uniform bits (with the family name ``tinyicenet``; with an
    alias they must agree with it). ``precision``: a :class:`~tinyicenet.models.precision.
    Precision` or its plain-data form, complete or (over uniform bits) any subset of it, e.g.
    ``create_model("tinyicenet", weight_bits=4, act_bits=4, precision={"weights": {"head": 8}})``.

    The model remembers its canonical ``name`` and constructor ``kwargs`` (``model.config``, with
    ``precision`` for a mixed model) so that checkpoints can rebuild it; ``model.precision`` is
    its Precision (None for float). Quantized models need Brevitas (imported only here, for
    them); without it they raise MissingDependencyError (a ToolNotFoundError and an ImportError).
    """
    levels = len(tuple(widths)) - 1
    if levels < 1:
        raise ConfigError(f"widths {tuple(widths)} is not valid: give at least two positive "
                          "channel counts (encoder levels..., bottleneck)")
    prec, use_skips = resolve_precision(name, levels=levels, weight_bits=weight_bits,
                                        act_bits=act_bits, precision=precision, skips=skips)
    full_name = model_name(prec, use_skips)
    if prec is not None:
        require_brevitas(f"model {full_name!r}")
    layers = FloatLayers() if prec is None else QuantLayers(prec)
    model = TinyIceNet(layers, in_channels=in_channels, widths=widths, charts=charts,
                       skips=use_skips)
    model.name = full_name
    model.config = {"in_channels": model.in_channels, "widths": list(model.widths),
                    "charts": list(model.charts)}
    if prec is not None and not prec.is_uniform:  # uniform models keep their old config
        model.config["precision"] = prec.to_dict()
    return model


def create_from_config(name: str, kwargs: dict[str, Any]) -> TinyIceNet:
    """Rebuild a model from a checkpoint's ``model`` entry; unknown keys are a ConfigError."""
    bad = sorted(set(kwargs) - set(_KWARGS))
    if bad:
        raise ConfigError(f"model {name!r}: unknown keyword(s) {', '.join(bad)}; "
                          f"valid: {', '.join(_KWARGS)}")
    return create_model(name, **kwargs)


def quantize_from_float(float_model: TinyIceNet, name: str = FAMILY, *,
                        weight_bits: int | None = None, act_bits: int | None = None,
                        precision: Precision | Mapping[str, Any] | None = None) -> TinyIceNet:
    """The quantized twin ``name`` initialised with ``float_model``'s weights and biases (for QAT).

    ``name``/``weight_bits``/``act_bits``/``precision`` as in :func:`create_model`. Architecture
    (widths, charts, skips, in_channels) is taken from the float model; an alias name's
    ``_noskip`` suffix must agree with it (the family name ``tinyicenet`` takes the float
    model's skips). Activation quantizers start uncalibrated: calibrate
    (``tinyicenet.models.calibrate``) or train before reading their scales.
    """
    parsed = parse_model_name(name)
    if parsed.kind == "float" or (parsed.kind == "family" and weight_bits is None
                                  and act_bits is None and precision is None):
        raise ConfigError(f"quantize_from_float needs a quantized model name, not {name!r}")
    skips = float_model.skips if parsed.kind == "family" else parsed.skips
    if skips != float_model.skips:
        raise ConfigError(f"model {name!r} and the float model differ in skips "
                          f"({skips} vs {float_model.skips}): use the matching _noskip suffix")
    qmodel = create_model(name, weight_bits=weight_bits, act_bits=act_bits, precision=precision,
                          skips=skips, **float_model.config)
    missing, unexpected = qmodel.load_state_dict(float_model.state_dict(), strict=False)
    # Only quantizer state (scales being learnt) may be missing; every conv parameter must load.
    not_quant = [k for k in missing if k.endswith((".weight", ".bias")) and "quant" not in k]
    if not_quant or unexpected:
        raise ConfigError(f"cannot load float weights into {qmodel.name!r}: missing {not_quant}, "
                          f"unexpected {list(unexpected)}")
    return qmodel.to(next(float_model.parameters()).device)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable conv parameters (weights + biases), quantizer scales excluded."""
    return sum(p.numel() for n, p in model.named_parameters() if n.endswith((".weight", ".bias"))
               and "quant" not in n)

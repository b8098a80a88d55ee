"""``create_model(name, **kwargs)``: model names -> TinyIceNet float or quantized twin.

Names: ``tinyicenet_float`` and ``tinyicenet_w{W}a{A}`` (2 <= W, A <= 8), each optionally with
the suffix ``_noskip`` (no skip connections; same as ``skips=False``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

from tinyicenet.errors import ConfigError
from tinyicenet.models.bits import MAX_BITS, MIN_BITS
from tinyicenet.models.deps import require_brevitas
from tinyicenet.models.tinyicenet import FloatLayers, QuantLayers, TinyIceNet

_NAME = re.compile(r"^tinyicenet_(?:(?P<float>float)|w(?P<w>\d+)a(?P<a>\d+))(?P<noskip>_noskip)?$")
_KWARGS = ("in_channels", "widths", "charts", "skips")


def available_models() -> list[str]:
    """Every valid model name."""
    names = ["tinyicenet_float"]
    names += [f"tinyicenet_w{w}a{a}" for w in range(MIN_BITS, MAX_BITS + 1)
              for a in range(MIN_BITS, MAX_BITS + 1)]
    return names + [f"{n}_noskip" for n in names]


def parse_name(name: str) -> tuple[int | None, int | None, bool]:
    """``name`` -> (weight bits or None for float, activation bits or None, skips)."""
    m = _NAME.match(str(name))
    if m is None:
        raise ConfigError(f"unknown model name {name!r}: use tinyicenet_float or "
                          f"tinyicenet_w{{W}}a{{A}} with W, A in {MIN_BITS}..{MAX_BITS}, "
                          "optionally with the suffix _noskip (e.g. tinyicenet_w4a4_noskip)")
    skips = m["noskip"] is None
    if m["float"]:
        return None, None, skips
    w, a = int(m["w"]), int(m["a"])
    for bits, what in ((w, "weight"), (a, "activation")):
        if not MIN_BITS <= bits <= MAX_BITS:
            raise ConfigError(f"model {name!r}: {what} bit width {bits} is not supported; valid "
                              f"bit widths are {MIN_BITS}..{MAX_BITS} "
                              f"(e.g. tinyicenet_w4a4, tinyicenet_w8a8)")
    return w, a, skips


def create_model(name: str, *, in_channels: int = 2, widths: Sequence[int] = (16, 32, 64),
                 charts: Sequence[str] = ("SOD",), skips: bool | None = None) -> TinyIceNet:
    """Build a TinyIceNet by name (see module doc). ``skips=False`` equals the ``_noskip`` name.

    The model remembers its ``name`` and constructor ``kwargs`` (``model.config``) so that
    checkpoints can rebuild it. Quantized names need Brevitas (imported only here, for them);
    without it they raise MissingDependencyError (a ToolNotFoundError and an ImportError).
    """
    w, a, name_skips = parse_name(name)
    if skips is not None and not skips and name_skips:
        name, name_skips = f"{name}_noskip", False
    elif skips and not name_skips:
        raise ConfigError(f"model {name!r} has no skips but skips=True was given")
    if w is not None:
        require_brevitas(f"model {name!r}")
    layers = FloatLayers() if w is None else QuantLayers(w, a)
    model = TinyIceNet(layers, in_channels=in_channels, widths=widths, charts=charts,
                       skips=name_skips)
    model.name = name
    model.config = {"in_channels": model.in_channels, "widths": list(model.widths),
                    "charts": list(model.charts)}
    return model


def create_from_config(name: str, kwargs: dict[str, Any]) -> TinyIceNet:
    """Rebuild a model from a checkpoint's ``model`` entry; unknown keys are a ConfigError."""
    bad = sorted(set(kwargs) - set(_KWARGS))
    if bad:
        raise ConfigError(f"model {name!r}: unknown keyword(s) {', '.join(bad)}; "
                          f"valid: {', '.join(_KWARGS)}")
    return create_model(name, **kwargs)


def quantize_from_float(float_model: TinyIceNet, name: str) -> TinyIceNet:
    """The quantized twin ``name`` initialised with ``float_model``'s weights and biases (for QAT).

    Architecture (widths, charts, skips, in_channels) is taken from the float model; the name's
    ``_noskip`` suffix must agree with it. Activation quantizers start uncalibrated: calibrate
    (``tinyicenet.models.calibrate``) or train before reading their scales.
    """
    w, _, skips = parse_name(name)
    if w is None:
        raise ConfigError(f"quantize_from_float needs a quantized model name, not {name!r}")
    if skips != float_model.skips:
        raise ConfigError(f"model {name!r} and the float model differ in skips "
                          f"({skips} vs {float_model.skips}): use the matching _noskip suffix")
    qmodel = create_model(name, **float_model.config)
    missing, unexpected = qmodel.load_state_dict(float_model.state_dict(), strict=False)
    # Only quantizer state (scales being learnt) may be missing; every conv parameter must load.
    not_quant = [k for k in missing if k.endswith((".weight", ".bias")) and "quant" not in k]
    if not_quant or unexpected:
        raise ConfigError(f"cannot load float weights into {name!r}: missing {not_quant}, "
                          f"unexpected {list(unexpected)}")
    return qmodel.to(next(float_model.parameters()).device)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable conv parameters (weights + biases), quantizer scales excluded."""
    return sum(p.numel() for n, p in model.named_parameters() if n.endswith((".weight", ".bias"))
               and "quant" not in n)

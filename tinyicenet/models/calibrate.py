"""Initialise the quantized twin from data: activation radix points and shared-branch ranges.

Three steps, used by the trainer when QAT starts (``train.calibration``, ``train.equalize``):

* :func:`calibrate` ``method="percentile"``: Brevitas calibration; each activation quantizer
  takes the 99.999th percentile of its input as its range (``2**A - 1`` levels up to it).
* ``method="mse"``: then, quantizer by quantizer in graph order, the power-of-two scale is moved
  to the one with the least quantization error over *all* of that quantizer's call sites. A
  percentile range is right at 8 bits but at 2 bits (levels 0, 1, 2, 3) it puts the first
  rounding threshold above most positive activations, which then quantize to zero (range
  setting by error rather than by extremes: Nagel et al., "A White Paper on Neural Network
  Quantization", arXiv:2106.08295).
* :func:`equalize_shared_ranges` (float model, before quantizing): with skips one quantizer
  serves an encoder tensor and a decoder/bottleneck tensor whose ranges differ several-fold in
  a float-trained model; the coarse grid fitted to the wider one zeroes the narrower one (the
  first encoder level, i.e. the whole network's input). A ReLU commutes with a positive factor,
  so multiplying the decoder-side conv's weights and bias by ``2**k`` and dividing the weights
  its output meets downstream by ``2**k`` leaves the float function unchanged, bit for bit
  (powers of two), while bringing both branches to one range (cross-layer range equalisation,
  Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias Correction",
  ICCV 2019, arXiv:1906.04721).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from tinyicenet.errors import ConfigError
from tinyicenet.models.deps import quiet_brevitas_import

CALIBRATION_METHODS = ("percentile", "mse")
#: Exponent shifts (relative to the percentile scale) the MSE refinement tries.
_MSE_SHIFTS = range(-8, 3)
_MSE_SWEEPS = 4


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[torch.Tensor], *,
              method: str = "percentile") -> nn.Module:
    """Set the activation quantizers' radix points of ``model`` from float ``[N, C, H, W]`` batches.

    ``percentile``: Brevitas calibration mode (each quantizer's learnable log2-scale is fixed
    to the 99.999th percentile of its input). ``mse``: percentile first, then each quantizer's
    scale moves to the power of two with the least summed relative squared error over its call
    sites (see module doc). A float model is returned unchanged (also where Brevitas is not
    installed: then no model can hold quantized layers).
    """
    if method not in CALIBRATION_METHODS:
        raise ConfigError(f"calibration method {method!r} is not one of "
                          f"{', '.join(CALIBRATION_METHODS)}")
    try:
        from brevitas.nn.mixin.base import QuantLayerMixin
    except ImportError:
        return model
    if not any(isinstance(m, QuantLayerMixin) for m in model.modules()):
        return model
    with quiet_brevitas_import():
        from brevitas.graph.calibrate import calibration_mode
    batches = list(batches)
    was_training = model.training
    model.eval()
    with calibration_mode(model):
        for x in batches:
            model(x)
    if method == "mse":
        _refine_mse(model, batches)
    model.train(was_training)
    return model


def activation_sites(model: nn.Module) -> list[tuple[nn.Module, list[str]]]:
    """Each activation quantizer of a TinyIceNet with the conv nodes it follows, graph order."""
    sites: dict[int, tuple[nn.Module, list[str]]] = {}
    for node in model.graph():
        if node.op == "conv" and node.act is not None:
            sites.setdefault(id(node.act), (node.act, []))[1].append(node.name)
    return list(sites.values())


def quant_relu_error(pre: torch.Tensor, scale: float, bits: int) -> float:
    """Relative squared error ``|q(relu(x)) - relu(x)|^2 / |relu(x)|^2`` of an unsigned grid."""
    r = torch.relu(pre)
    energy = float((r * r).sum())
    if energy == 0.0:
        return 0.0
    q = torch.clamp(torch.round(r / scale), 0, 2 ** bits - 1) * scale
    return float(((q - r) ** 2).sum()) / energy


def _scaling_param(act: nn.Module) -> torch.nn.Parameter:
    """The learnable log2-domain scale of a Brevitas fixed-point activation quantizer."""
    return act.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value


def capture_inputs(model: nn.Module, act: nn.Module, batches: Sequence[torch.Tensor]
                   ) -> list[torch.Tensor]:
    """The float pre-activations ``act`` receives at each of its calls, over ``batches``."""
    seen: list[torch.Tensor] = []

    def hook(_mod: nn.Module, inputs: tuple, _out: Any) -> None:
        x = inputs[0]
        seen.append((x.value if hasattr(x, "value") else x).detach())

    handle = act.register_forward_hook(hook)
    try:
        for x in batches:
            model(x)
    finally:
        handle.remove()
    return seen


def _refine_mse(model: nn.Module, batches: Sequence[torch.Tensor]) -> None:
    # In graph order, so that later quantizers see the already refined earlier ones. A shared
    # quantizer's decoder-side call depends on quantizers refined after it, hence more sweeps
    # until no scale moves.
    for _sweep in range(_MSE_SWEEPS):
        moved = False
        for act, _names in activation_sites(model):
            bits = int(act.act_quant.bit_width())
            scale = float(act.act_quant.scale().detach())
            inputs = capture_inputs(model, act, batches)
            errors = {k: sum(quant_relu_error(x, scale * 2.0 ** k, bits) for x in inputs)
                      for k in _MSE_SHIFTS}
            best = min(errors, key=lambda k: (errors[k], abs(k)))
            if best:
                _scaling_param(act).data += best
                moved = True
        if not moved:
            break


@torch.no_grad()
def equalize_shared_ranges(model: nn.Module, batches: Sequence[torch.Tensor], *,
                           q: float = 0.999) -> list[dict[str, Any]]:
    """Match, in place, the ranges of the branches that share one activation quantizer.

    For every activation shared by several conv nodes of ``model.graph()`` (the skips of a
    TinyIceNet), each later node (decoder side) is scaled by the power of two ``2**k`` nearest
    to ``range(first node) / range(node)`` (``range``: the ``q`` quantile of the ReLU output on
    ``batches``); its weights and bias are multiplied by ``2**k`` and the input-channel slice
    of the conv that consumes it is divided by ``2**k``. Works on a float or quantized model
    (before calibration); the float function is unchanged. Returns one record per moved node.
    """
    model_was_training = model.training
    model.eval()
    nodes = model.graph()
    by_name = {n.name: n for n in nodes}
    ranges: dict[str, float] = {}
    records: list[dict[str, Any]] = []
    for act, names in activation_sites(model):
        if len(names) < 2:
            continue
        inputs = capture_inputs(model, act, batches)
        per_call = len(inputs) // len(batches)
        if per_call != len(names):  # pragma: no cover - graph and forward disagree: a bug
            raise RuntimeError(f"activation of {names} ran {per_call} times per forward")
        for i, name in enumerate(names):
            r = torch.cat([torch.relu(x).flatten() for x in inputs[i::per_call]])
            ranges[name] = _quantile(r, q)
        ref = names[0]
        for name in names[1:]:
            if ranges[name] <= 0.0 or ranges[ref] <= 0.0:
                continue  # a dead branch: no range to match
            k = round(math.log2(ranges[ref] / ranges[name]))
            if k == 0:
                continue
            consumer, lo, hi = _consumer_slice(nodes, by_name, name)
            producer = by_name[name].module
            factor = 2.0 ** k
            producer.weight.data.mul_(factor)
            producer.bias.data.mul_(factor)
            consumer.module.weight.data[:, lo:hi].div_(factor)
            records.append({"node": name, "shares_with": ref, "shift": k,
                            "range_before": ranges[name], "range_ref": ranges[ref],
                            "consumer": consumer.name})
    model.train(model_was_training)
    return records


def _quantile(values: torch.Tensor, q: float) -> float:
    # torch.quantile is limited to 16M elements; a strided subsample is plenty for a range
    step = max(1, values.numel() // 4_000_000)
    return float(torch.quantile(values[::step].float(), q))


def _consumer_slice(nodes: list, by_name: dict, name: str) -> tuple[Any, int, int]:
    """The conv node reading tensor ``name`` (through upsample/concat) and its channel slice."""
    tensor, lo, hi = name, 0, by_name[name].channels
    while True:
        readers = [n for n in nodes if tensor in n.inputs]
        if len(readers) != 1:
            raise ConfigError(f"cannot equalise {name}: {tensor} is read by "
                              f"{[n.name for n in readers]} (expected one reader)")
        reader = readers[0]
        if reader.op == "conv":
            return reader, lo, hi
        if reader.op == "concat":
            offset = sum(by_name[i].channels for i in reader.inputs[:reader.inputs.index(tensor)])
            lo, hi = lo + offset, hi + offset
        elif reader.op != "upsample":
            raise ConfigError(f"cannot equalise {name}: {tensor} goes through a {reader.op}")
        tensor = reader.name

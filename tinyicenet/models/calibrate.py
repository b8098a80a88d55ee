"""Initialise the activation quantizers' radix points from data (Brevitas calibration)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from tinyicenet.models.deps import quiet_brevitas_import


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Run float ``[N, C, H, W]`` ``batches`` through ``model`` in Brevitas calibration mode.

    Each activation quantizer collects its runtime statistic (percentile of |x|) and then fixes
    its learnable log2-scale to it, so a freshly built quantized model has sensible
    power-of-two scales before QAT or export. A float model is returned unchanged (also where
    Brevitas is not installed: then no model can hold quantized layers).
    """
    try:
        from brevitas.nn.mixin.base import QuantLayerMixin
    except ImportError:
        return model
    if not any(isinstance(m, QuantLayerMixin) for m in model.modules()):
        return model
    with quiet_brevitas_import():
        from brevitas.graph.calibrate import calibration_mode
    was_training = model.training
    model.eval()
    with calibration_mode(model):
        for x in batches:
            model(x)
    model.train(was_training)
    return model

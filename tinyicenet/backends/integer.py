"""``integer`` backend: the integer reference model (numpy, exact; the one truth for numbers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.backends import Backend
from tinyicenet.errors import ConfigError


def load_intmodel(artefact: Any) -> Any:
    """IntModel from an IntModel, an intref ``.npz``, a checkpoint path or a quantized model."""
    import torch

    from tinyicenet.export.intref import IntModel, from_brevitas, load_intref

    if isinstance(artefact, IntModel):
        return artefact
    if isinstance(artefact, torch.nn.Module):
        return from_brevitas(artefact)
    if isinstance(artefact, (str, os.PathLike)):
        path = Path(artefact)
        if path.suffix == ".npz":
            return load_intref(path)
        from tinyicenet.models.checkpoint import load_checkpoint
        return from_brevitas(load_checkpoint(path)[0])
    raise ConfigError(f"integer backend: artefact must be an integer model (.npz), a quantized "
                      f"checkpoint or model, not {type(artefact).__name__}")


class IntegerBackend(Backend):
    """Run the integer reference on the CPU; returns dequantised head logits.

    Options: ``batch_size`` (tiles per integer forward, bounds memory), ``conv_impl``
    ("auto": the fastest float convolution that is exact for each layer's static accumulator
    bound; "float32", "float64", or "int64": pure integer, slow).
    """

    name = "integer"

    def __init__(self, artefact: Any, *, batch_size: int = 4, conv_impl: str = "auto") -> None:
        from tinyicenet.export.intref import CONV_IMPLS

        if conv_impl not in CONV_IMPLS:
            raise ConfigError(f"integer backend: conv_impl {conv_impl!r} is not one of "
                              f"{', '.join(CONV_IMPLS)}")
        if int(batch_size) < 1:
            raise ConfigError(f"integer backend: batch_size must be >= 1, got {batch_size}")
        self.intmodel = load_intmodel(artefact)
        self.batch_size = int(batch_size)
        self.conv_impl = conv_impl
        bits = self.intmodel.model.get("bit_widths") or {}
        from tinyicenet.models.precision import precision_label
        self.precision = precision_label(bits) + "-int"
        self.device = "cpu"
        self.in_channels = int(self.intmodel.model["in_channels"])
        self.stride = self.intmodel.stride
        self.model_name = self.intmodel.model.get("name", "")

    def run_codes(self, tiles: np.ndarray) -> np.ndarray:
        """Head integer codes (int32) instead of dequantised logits, for bit-exact comparisons."""
        im = self.intmodel
        outs = [im.run_int(im.quantize_input(tiles[i:i + self.batch_size]),
                           conv_impl=self.conv_impl)
                for i in range(0, len(tiles), self.batch_size)]
        return np.concatenate(outs)

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        return self.intmodel.dequantize_output(self.run_codes(tiles))

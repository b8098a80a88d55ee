"""``torch`` backend: the float model or the Brevitas twin in PyTorch (CPU or CUDA)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.backends import Backend
from tinyicenet.errors import ConfigError

_DTYPES = ("fp32", "tf32", "fp16")


def load_model_artefact(artefact: Any) -> Any:
    """A TinyIceNet from a checkpoint path or an ``nn.Module`` (returned as is)."""
    import torch

    if isinstance(artefact, torch.nn.Module):
        return artefact
    if isinstance(artefact, (str, os.PathLike)):
        from tinyicenet.models.checkpoint import load_checkpoint
        return load_checkpoint(Path(artefact))[0]
    raise ConfigError(f"torch backend: artefact must be a checkpoint path or a model, not "
                      f"{type(artefact).__name__}")


class TorchBackend(Backend):
    """Run a float or quantized TinyIceNet with torch.

    Options: ``device`` ("cpu", "cuda", "cuda:1"), ``dtype`` ("fp32", "tf32" (CUDA convolutions
    in TensorFloat-32; the same as fp32 on the CPU) or "fp16"; the quantized twin runs in true
    fp32 only: its fixed-point simulation is exact only there, so TF32 is switched off for it),
    ``channels_last`` (memory format, often faster on GPU).
    Precision reports "fp32"/"fp16" for the float model and "w{W}a{A}" for the quantized one.
    """

    name = "torch"

    def __init__(self, artefact: Any, *, device: str = "cpu", dtype: str = "fp32",
                 channels_last: bool = False) -> None:
        import torch

        if dtype not in _DTYPES:
            raise ConfigError(f"torch backend: dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"torch backend: unknown device {device!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("torch backend: device 'cuda' asked for but no CUDA device is "
                              "available (use device='cpu')")
        model = load_model_artefact(artefact)
        quantized = bool(getattr(model, "quantized", False))
        if quantized and dtype != "fp32":
            raise ConfigError("torch backend: the quantized model runs in fp32 only "
                              "(its fixed-point simulation is exact only in fp32)")
        self._dtype = torch.float16 if dtype == "fp16" else torch.float32
        self._allow_tf32 = dtype == "tf32"
        self._memory = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.eval().to(device=dev, dtype=self._dtype, memory_format=self._memory)
        self._torch_device = dev
        self.device = str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev)
        bits = getattr(model, "bit_widths", None)
        self.precision = f"w{bits['weight']}a{bits['activation']}" if quantized else dtype
        self.in_channels = getattr(model, "in_channels", None)
        self.stride = int(getattr(model, "stride", 1))
        self.model_name = getattr(model, "name", type(model).__name__)

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        import torch

        # cuDNN allows TF32 by default; "fp32" here means IEEE fp32 (exact fixed-point simulation)
        with torch.inference_mode(), torch.backends.cudnn.flags(
                enabled=torch.backends.cudnn.enabled, allow_tf32=self._allow_tf32):
            x = torch.from_numpy(np.ascontiguousarray(tiles)).to(self._torch_device)
            x = x.to(dtype=self._dtype, memory_format=self._memory)
            out = self.model(x)
            return out.float().cpu().numpy()

    def synchronize(self) -> None:
        """Wait for queued GPU work (for timing windows)."""
        import torch
        if self._torch_device.type == "cuda":
            torch.cuda.synchronize(self._torch_device)

    def close(self) -> None:
        self.model = None
        import torch
        if self._torch_device.type == "cuda":
            torch.cuda.empty_cache()

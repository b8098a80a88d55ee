"""``torch`` backend: the float model or the Brevitas twin in PyTorch (CPU or CUDA).

Two ways to call it:

* ``run(tiles)``: host float32 ``[N, C, H, W]`` in, host float32 logits out (the backend
  contract); it returns when the device has finished.
* ``x = prepare(tiles)`` once, then ``run_prepared(x)`` per call: inputs and logits stay on the
  device and the call only queues the work (asynchronous on CUDA); ``synchronize()`` waits for
  it. The bench times this path, so host transfers are not in its figures.

``compile="max-autotune"`` (any ``torch.compile`` mode) runs the float model through
``torch.compile``; compilation (and autotuning) happens in the first call for each input shape.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.backends import Backend
from tinyicenet.errors import ConfigError, DataError
from tinyicenet.models.precision import precision_label

_DTYPES = ("fp32", "tf32", "fp16")
#: torch.compile modes (torch 2.11 .. 2.13)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
#: modes that capture CUDA graphs (on CUDA): outputs live in graph-owned memory
_CUDAGRAPH_MODES = ("reduce-overhead", "max-autotune")


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
    ``channels_last`` (memory format, often faster on GPU), ``compile`` (None: eager; or a
    ``torch.compile`` mode from :data:`COMPILE_MODES`, float model only).
    Precision reports "fp32"/"fp16" for the float model and "w{W}a{A}" for the quantized one.

    ``model`` is the eager module (also when compiled); ``notes`` says how it runs.
    """

    name = "torch"

    def __init__(self, artefact: Any, *, device: str = "cpu", dtype: str = "fp32",
                 channels_last: bool = False, compile: str | None = None) -> None:  # noqa: A002
        import torch

        if dtype not in _DTYPES:
            raise ConfigError(f"torch backend: dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
        if compile is not None and compile not in COMPILE_MODES:
            raise ConfigError(f"torch backend: compile mode {compile!r} is not one of "
                              f"{', '.join(COMPILE_MODES)} (or None for eager)")
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"torch backend: unknown device {device!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("torch backend: device 'cuda' asked for but no CUDA device is "
                              "available (use device='cpu')")
        if dev.type == "cuda" and dev.index is None:
            # pin "cuda" to one index so prepared tensors (on "cuda:0") compare equal to it
            dev = torch.device("cuda", torch.cuda.current_device())
        model = load_model_artefact(artefact)
        quantized = bool(getattr(model, "quantized", False))
        if quantized and dtype != "fp32":
            raise ConfigError("torch backend: the quantized model runs in fp32 only "
                              "(its fixed-point simulation is exact only in fp32)")
        if quantized and compile is not None:
            # Brevitas' QuantTensor flow is not what torch.compile is built for, and fused
            # kernels could reorder the float sums that simulate the fixed-point arithmetic
            raise ConfigError("torch backend: compile is for the float model; the quantized "
                              "model runs eager (use the cuda-kernels backend for speed)")
        self._dtype = torch.float16 if dtype == "fp16" else torch.float32
        self._allow_tf32 = dtype == "tf32"
        self._memory = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.eval().to(device=dev, dtype=self._dtype, memory_format=self._memory)
        self.compile_mode = compile
        self.notes: list[str] = []
        self._forward = self.model
        if compile is not None:
            # dynamic=False: one specialised graph per input shape (the bench uses one shape,
            # predict at most two: full batches and the last one)
            self._forward = torch.compile(self.model, mode=compile, dynamic=False)
            self.notes.append(f"torch.compile(mode={compile!r}, dynamic=False): compilation and "
                              "autotuning happen in the first calls (the warm-up)")
        self._cudagraphs = dev.type == "cuda" and compile in _CUDAGRAPH_MODES
        self._torch = torch
        self._torch_device = dev
        self.device = str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev)
        bits = getattr(model, "bit_widths", None)
        self.precision = precision_label(bits) if quantized else dtype
        self.in_channels = getattr(model, "in_channels", None)
        self.stride = int(getattr(model, "stride", 1))
        self.model_name = getattr(model, "name", type(model).__name__)

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        # .cpu() waits for the device: the contract's run() is synchronous
        return self._call(self._to_device(tiles)).float().cpu().numpy()

    def prepare(self, tiles: np.ndarray) -> Any:
        """Checked ``tiles`` as a tensor on the backend's device, dtype and memory format."""
        return self._to_device(self.check_tiles(tiles))

    def run_prepared(self, x: Any) -> Any:
        """Logits ``[N, K, H, W]`` on the device, in the compute dtype, for a prepared tensor.

        Asynchronous on CUDA: it returns once the work is queued; call ``synchronize()`` before
        timing or reading. Under CUDA graphs (compile modes ``reduce-overhead`` and
        ``max-autotune``) the next call reuses the output memory: ``clone()`` it to keep it.
        """
        torch = self._torch
        if not isinstance(x, torch.Tensor):
            raise DataError(f"backend {self.name}: run_prepared takes the tensor returned by "
                            f"prepare(), not {type(x).__name__}")
        if x.device != self._torch_device:
            raise DataError(f"backend {self.name}: the tensor is on {x.device}, the model on "
                            f"{self._torch_device}: prepare() it with this backend")
        if not x.is_floating_point():
            raise DataError(f"backend {self.name}: tiles must be floating point, got {x.dtype}")
        self.check_shape(tuple(x.shape))
        # no-ops for a tensor from prepare(); converts a foreign float tensor on the device
        return self._call(x.to(dtype=self._dtype, memory_format=self._memory))

    def _to_device(self, tiles: np.ndarray) -> Any:
        x = self._torch.from_numpy(np.ascontiguousarray(tiles)).to(self._torch_device)
        return x.to(dtype=self._dtype, memory_format=self._memory)

    def _call(self, x: Any) -> Any:
        torch = self._torch
        if self._forward is None:
            raise ConfigError(f"backend {self.name}: used after close()")
        # cuDNN allows TF32 by default; "fp32" here means IEEE fp32 (exact fixed-point simulation)
        with torch.inference_mode(), torch.backends.cudnn.flags(
                enabled=torch.backends.cudnn.enabled, allow_tf32=self._allow_tf32):
            if self._cudagraphs:
                # a new inference step: lets CUDA-graph trees reuse the previous step's memory
                torch.compiler.cudagraph_mark_step_begin()
            return self._forward(x)

    def synchronize(self) -> None:
        """Wait for queued GPU work (for timing windows); nothing to wait for on the CPU."""
        if self._torch_device.type == "cuda":
            self._torch.cuda.synchronize(self._torch_device)

    def close(self) -> None:
        self.model = None
        self._forward = None
        if self._torch_device.type == "cuda":
            self._torch.cuda.empty_cache()

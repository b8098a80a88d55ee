"""``cuda-kernels`` backend: the integer TinyIceNet on an NVIDIA GPU through custom kernels.

Artefacts (``get_backend("cuda-kernels", artefact, device="cuda", graphs=True)``):

* an integer reference file ``*.npz`` (``save_intref``): needs only numpy and torch, so it is
  what to carry to a GPU machine without Brevitas; also an ``IntModel`` or a checkpoint /
  quantized model (converted with ``from_brevitas``, which needs Brevitas);
* a model name ``tinyicenet_w{W}a{A}[_noskip]``: with Brevitas, the untrained model after a
  calibration pass on seeded noise; without Brevitas, a seeded random integer model of that
  name's bit widths and topology. Either way for speed runs only: ``notes`` says so.

The kernels are the runner's default, ``design="auto"``: per call the fastest exact design
measured for its size (``tinyicenet.kernels.plan.resolve_design``; ``bench/gpu_kernels_notes.md``).
``run(tiles)`` returns the dequantised head output (float32 ``[N, K, H, W]``) and
``run_codes(tiles)`` the int8 codes, equal value for value to the integer reference.
``prepare``/``run_prepared``/``synchronize`` keep the tiles on the GPU so that the bench times
the network, not host transfers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyicenet.backends import Backend
from tinyicenet.errors import ConfigError, ToolNotFoundError


def _uniform_name(artefact: Any) -> Any:
    """The parsed ``tinyicenet_w{W}a{A}[_noskip]`` name ``artefact`` is, else None."""
    from tinyicenet.models.registry import is_model_name, parse_model_name

    if not isinstance(artefact, str) or not is_model_name(artefact):
        return None
    parsed = parse_model_name(artefact)
    return parsed if parsed.kind == "uniform" else None


def load_integer_model(artefact: Any) -> tuple[Any, list[str]]:
    """(IntModel, notes) from an IntModel, an ``.npz``, a checkpoint, a model or a model name."""
    m = _uniform_name(artefact)
    if m is None:
        from tinyicenet.backends.integer import load_intmodel
        if isinstance(artefact, str) and not artefact.endswith((".npz", ".pt", ".pth", ".ckpt")):
            raise ConfigError(f"cuda-kernels: cannot load {artefact!r}: give an integer model "
                              ".npz, a checkpoint .pt or a quantized model name "
                              "(tinyicenet_w4a4, ...)")
        return load_intmodel(artefact), []
    name = m.name
    try:
        import brevitas  # noqa: F401
    except ImportError:
        from tinyicenet.kernels.synthetic import random_intmodel
        model = random_intmodel(weight_bits=m.weight_bits, act_bits=m.act_bits,
                                skips=m.skips, seed=0)
        return model, [f"{name}: seeded random integer weights (Brevitas is not installed "
                       "here); speed does not depend on the weights' values"]
    import torch

    from tinyicenet.export.intref import from_brevitas
    from tinyicenet.models import calibrate, create_model
    torch.manual_seed(0)
    model = create_model(name)
    g = torch.Generator().manual_seed(0)
    calibrate(model, [torch.randn(2, model.in_channels, 64, 64, generator=g)])
    return from_brevitas(model.eval()), [f"{name}: untrained weights, calibrated on noise "
                                          "(speed runs only)"]


class CudaKernelsBackend(Backend):
    """The integer network on one CUDA GPU (Triton kernels, CUDA graphs); see module doc."""

    name = "cuda-kernels"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            return False, "PyTorch is not installed"
        if not torch.cuda.is_available():
            return False, "no CUDA device (torch.cuda.is_available() is False)"
        try:
            import triton  # noqa: F401
        except ImportError:
            return False, "Triton is not installed (it ships with CUDA builds of PyTorch)"
        return True, ""

    def __init__(self, artefact: Any, *, device: str = "cuda", graphs: bool = True) -> None:
        ok, why = self.availability()
        if not ok:
            raise ToolNotFoundError(f"cuda-kernels: {why}")
        import torch

        from tinyicenet.kernels.runner import IntTinyIceNetGPU

        self.intmodel, self.notes = load_integer_model(artefact)
        self.runner = IntTinyIceNetGPU(self.intmodel, device=device, graphs=graphs)
        self._torch = torch
        self.device = torch.cuda.get_device_name(self.runner.device)
        bits = self.intmodel.model.get("bit_widths") or {}
        from tinyicenet.models.precision import precision_label
        self.precision = precision_label(bits) + "-int"
        self.in_channels = int(self.intmodel.model["in_channels"])
        self.stride = self.intmodel.stride
        self.model_name = self.intmodel.model.get("name", "")

    def design_note(self, batch: int, height: int, width: int) -> str:
        """Which kernel design a call of ``batch`` tiles of ``height x width`` runs, for records."""
        chosen = self.runner.resolve(batch * height * width)
        how = ("chosen per call size by tinyicenet.kernels.plan.resolve_design"
               if chosen != self.runner.design else "fixed by the caller")
        extras = [name for name, on in (("programmatic dependent launches", self.runner.pdl),
                                        ("4-byte output stores",
                                         self.runner.wide_stores(batch * height * width)))
                  if on]
        return f"kernel design {chosen} ({how}){''.join(', ' + e for e in extras)}"

    def run_codes(self, tiles: np.ndarray) -> np.ndarray:
        """Head integer codes (int8 ``[N, K, H, W]``), for bit-exact comparisons."""
        return self.runner.forward_int(self.prepare(tiles)).cpu().numpy()

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        return self.runner(self.prepare(tiles)).cpu().numpy()

    def prepare(self, tiles: np.ndarray) -> Any:
        x = self._torch.from_numpy(np.ascontiguousarray(tiles, dtype=np.float32))
        return x.to(self.runner.device)

    def run_prepared(self, handle: Any) -> Any:
        return self.runner.forward_int(handle, copy=False)

    def synchronize(self) -> None:
        self._torch.cuda.synchronize(self.runner.device)

    def close(self) -> None:
        self.runner = None  # type: ignore[assignment]

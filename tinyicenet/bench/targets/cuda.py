"""The ``cuda`` target: NVIDIA GPUs, energy from NVML's counter.

Variants (``--variant``, comma-separated, or ``all``):

============== ==================================================================
eager-fp32     torch backend, float32, eager
eager-fp16     torch backend, float16, eager
compile-fp16   torch backend, float16, ``torch.compile(mode="max-autotune")``
kernels        the custom integer kernels (``cuda-kernels`` backend), once they exist
============== ==================================================================

One idle measurement (before anything runs) serves all variants of a call. Nothing here
imports brevitas, qonnx, hls4ml or the data stack at module import time: the GPU machine has
only torch and the light dependencies.
"""

from __future__ import annotations

import gc
from typing import Any

from tinyicenet.bench.harness import measure_idle, run_bench
from tinyicenet.bench.meters import open_meter_or_unavailable
from tinyicenet.bench.targets.common import backend_workload, make_tiles, scene_unit
from tinyicenet.errors import ConfigError, ToolNotFoundError

#: variant -> (backend, backend options, compile mode or None)
VARIANTS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "eager-fp32": ("torch", {"device": "cuda", "dtype": "fp32"}, None),
    "eager-fp16": ("torch", {"device": "cuda", "dtype": "fp16"}, None),
    "compile-fp16": ("torch", {"device": "cuda", "dtype": "fp16"}, "max-autotune"),
    "kernels": ("cuda-kernels", {}, None),   # its default device is the current GPU
}
DEFAULT_VARIANT = "eager-fp32"


def variants(spec: str | None) -> list[str]:
    """Parse ``--variant``: one name, a comma list, or ``all`` (kernels only if available)."""
    if not spec:
        return [DEFAULT_VARIANT]
    if spec == "all":
        names = [v for v in VARIANTS if v != "kernels"]
        try:
            from tinyicenet.backends import available_backends
            if "cuda-kernels" in available_backends():
                names.append("kernels")
        except ImportError:
            pass
        return names
    names = [v.strip() for v in spec.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"cuda target: unknown variant(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(VARIANTS)} or all")
    return names


def _nvml_spec(index: int) -> dict[str, Any]:
    import torch
    props = torch.cuda.get_device_properties(index)
    domain = getattr(props, "pci_domain_id", None)
    bus = getattr(props, "pci_bus_id", None)
    dev = getattr(props, "pci_device_id", None)
    if None in (domain, bus, dev):
        return {"index": index}
    return {"pci_bus_id": f"{domain:08X}:{bus:02X}:{dev:02X}.0"}


class _TorchResident:
    """Calls the torch backend's module on tiles kept on the GPU (no host copies timed).

    Used until the torch backend offers ``prepare``/``run_prepared`` like cuda-kernels does;
    it reads only the backend's public ``model`` and the model's own parameters.
    """

    def __init__(self, workload: Any) -> None:
        import torch
        self._inner = workload
        backend = workload.backend_object
        self._model = backend.model
        param = next(self._model.parameters())
        channels_last = param.dim() == 4 and param.is_contiguous(
            memory_format=torch.channels_last) and not param.is_contiguous()
        x = torch.from_numpy(workload.tiles_array).to(param.device)
        self._x = x.to(dtype=param.dtype, memory_format=torch.channels_last if channels_last
                       else torch.contiguous_format)
        self._torch = torch
        for key in ("backend", "device", "precision", "model", "variant", "batch", "tile"):
            setattr(self, key, getattr(workload, key))
        self.notes = [n for n in workload.notes if "copies tiles" not in n] + [
            "inputs resident on the GPU: host transfers not timed"]

    def run(self) -> None:
        with self._torch.inference_mode():
            self._model(self._x)

    def synchronize(self) -> None:
        if self._x.is_cuda:
            self._torch.cuda.synchronize(self._x.device)

    def close(self) -> None:
        self._inner.close()


def device_resident(workload: Any) -> Any:
    """The workload itself if it already keeps inputs on the device, else a torch adapter."""
    if getattr(workload, "_handle", None) is not None:
        return workload
    if hasattr(getattr(workload, "backend_object", None), "model"):
        return _TorchResident(workload)
    return workload


def run(options: Any) -> list[dict]:
    import torch
    if not torch.cuda.is_available():
        raise ToolNotFoundError("cuda target: no CUDA device here (torch.cuda.is_available() is "
                                "False)")
    names = variants(options.variant)
    if options.backend and options.backend not in {VARIANTS[n][0] for n in names}:
        raise ConfigError(f"cuda target: --backend {options.backend} does not match the "
                          f"variants {', '.join(names)}; choose variants instead")
    index = torch.cuda.current_device()
    device_name = torch.cuda.get_device_name(index)
    scene = scene_unit(options)
    tiles = make_tiles(options)
    meter = open_meter_or_unavailable(options.meter or "nvml",
                                      **(_nvml_spec(index) if not options.meter else {}))
    results = []
    try:
        idle = None
        if options.config.measure_idle:
            idle = measure_idle(meter, options.config.idle_s or options.config.window_s,
                                torch.cuda.synchronize)
        for name in names:
            backend, backend_opts, compile_mode = VARIANTS[name]
            wrap = (lambda m, mode=compile_mode: torch.compile(m, mode=mode)) \
                if compile_mode else None
            workload = backend_workload(backend, options, tiles, variant=name, wrap=wrap,
                                        **backend_opts)
            workload = device_resident(workload)
            workload.device = device_name
            if compile_mode:
                workload.notes.append(f"torch.compile(mode={compile_mode!r}); compilation and "
                                      "autotuning happen in the warm-up")
            try:
                results.append(run_bench(workload, meter, options.config, target="cuda",
                                         scene=scene, idle=idle, quiet=options.quiet))
            finally:
                workload.close()
                del workload
                gc.collect()
                torch.cuda.empty_cache()
    finally:
        meter.close()
    return results

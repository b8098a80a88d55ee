"""The ``cuda`` target: NVIDIA GPUs, energy from NVML's counter.

Variants (``--variant``, comma-separated, or ``all``):

============== ==================================================================
eager-fp32     torch backend, float32, eager
eager-fp16     torch backend, float16, eager
compile-fp16   torch backend, float16, ``compile="max-autotune"`` (torch.compile)
kernels        the custom integer kernels (``cuda-kernels`` backend)
============== ==================================================================

Every variant keeps its inputs on the GPU (the backends' ``prepare``/``run_prepared``), so the
timed calls are the network, not host transfers. One idle measurement (before anything runs)
serves all variants of a call. Nothing here imports brevitas, qonnx, hls4ml or the data stack at
module import time: the GPU machine has only torch and the light dependencies (the float model
needs no Brevitas; ``kernels`` on a model name builds a seeded integer model without it).
"""

from __future__ import annotations

import gc
from typing import Any

from tinyicenet.bench.harness import measure_idle, run_bench
from tinyicenet.bench.meters import open_meter_or_unavailable
from tinyicenet.bench.targets.common import backend_workload, make_tiles, scene_unit
from tinyicenet.errors import ConfigError, ToolNotFoundError

#: variant -> (backend, backend options)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "eager-fp32": ("torch", {"device": "cuda", "dtype": "fp32"}),
    "eager-fp16": ("torch", {"device": "cuda", "dtype": "fp16"}),
    "compile-fp16": ("torch", {"device": "cuda", "dtype": "fp16", "compile": "max-autotune"}),
    "kernels": ("cuda-kernels", {}),   # its default device is the current GPU
}
DEFAULT_VARIANT = "eager-fp32"


def variants(spec: str | None) -> list[str]:
    """Parse ``--variant``: one name, a comma list, or ``all`` (kernels only if usable here)."""
    if not spec:
        return [DEFAULT_VARIANT]
    if spec == "all":
        names = [v for v in VARIANTS if v != "kernels"]
        from tinyicenet.backends import available_backends
        if "cuda-kernels" in available_backends(check=True):
            names.append("kernels")
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
            backend, backend_opts = VARIANTS[name]
            workload = backend_workload(backend, options, tiles, variant=name, **backend_opts)
            workload.device = device_name
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

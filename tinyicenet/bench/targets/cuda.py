"""The ``cuda`` target: NVIDIA GPUs, energy from NVML's counter.

Variants (``--variant``, comma-separated, or ``all``):

============== ==================================================================
eager-fp32     torch backend, float32, eager
eager-fp16     torch backend, float16, eager
compile-fp16   torch backend, float16, ``compile="max-autotune"`` (torch.compile)
kernels        the custom integer kernels (``cuda-kernels`` backend)
============== ==================================================================

``all`` runs every variant usable here; one that cannot run (no Triton for torch.compile, no
custom kernels) or fails is dropped with a ``warning:`` line and listed in every record's
``dropped``. Every record of a run with a PyTorch variant names the fastest one as its
``baseline``, with its ratios against it.

Every variant keeps its inputs on the GPU (the backends' ``prepare``/``run_prepared``), so the
timed calls are the network, not host transfers. One idle measurement (before anything runs)
serves all variants of a call. Nothing here imports brevitas, qonnx, hls4ml or the data stack at
module import time: the GPU machine has only torch and the light dependencies (the float model
needs no Brevitas; ``kernels`` on a model name builds a seeded integer model without it).
"""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Callable
from typing import Any

from tinyicenet.bench.harness import measure_idle, run_bench
from tinyicenet.bench.meters import open_meter_or_unavailable
from tinyicenet.bench.targets.common import (annotate_run, backend_workload, make_tiles,
                                             plan_variants, run_all, scene_unit, warn_dropped)
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
    """Parse ``--variant``: one name, a comma list, or ``all`` (only those usable here)."""
    return plan(spec)[0]


def plan(spec: str | None, probe: Callable[[str], tuple[bool, str]] | None = None,
         ) -> tuple[list[str], list[dict[str, str]] | None]:
    """(variants to run, dropped entries or None): ``all`` drops what cannot run here."""
    if not spec:
        return [DEFAULT_VARIANT], None
    if spec == "all":
        return plan_variants(list(VARIANTS), probe or usable)
    names = [v.strip() for v in spec.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"cuda target: unknown variant(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(VARIANTS)} or all")
    return names, None


def usable(variant: str) -> tuple[bool, str]:
    """Whether ``variant`` can run here, and why not (its backend, Triton for torch.compile)."""
    from tinyicenet.backends import backend_availability
    backend, options = VARIANTS[variant]
    ok, reason = backend_availability(backend)
    if not ok:
        return False, f"backend {backend}: {reason}"
    if options.get("compile") and importlib.util.find_spec("triton") is None:
        return False, "torch.compile on CUDA needs Triton, which is not installed"
    return True, ""


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
    names, dropped = plan(options.variant)
    warn_dropped(dropped or [])
    if options.backend and options.backend not in {VARIANTS[n][0] for n in names}:
        raise ConfigError(f"cuda target: --backend {options.backend} does not match the "
                          f"variants {', '.join(names)}; choose variants instead")
    index = torch.cuda.current_device()
    device_name = torch.cuda.get_device_name(index)
    scene = scene_unit(options)
    tiles = make_tiles(options)
    meter = open_meter_or_unavailable(options.meter or "nvml",
                                      **(_nvml_spec(index) if not options.meter else {}))
    try:
        idle = None
        if options.config.measure_idle:
            idle = measure_idle(meter, options.config.idle_s or options.config.window_s,
                                torch.cuda.synchronize)

        def measure(name: str) -> dict:
            backend, backend_opts = VARIANTS[name]
            workload = backend_workload(backend, options, tiles, variant=name, **backend_opts)
            workload.device = device_name
            if hasattr(workload.backend_object, "design_note"):
                workload.notes.append(workload.backend_object.design_note(
                    workload.batch, *workload.tile))
            try:
                return run_bench(workload, meter, options.config, target="cuda", scene=scene,
                                 idle=idle, quiet=options.quiet)
            finally:
                workload.close()
                del workload
                gc.collect()
                torch.cuda.empty_cache()

        results = run_all(names, measure, dropped if dropped is not None else [],
                          keep_going=dropped is not None)
    finally:
        meter.close()
    return annotate_run(results, dropped)

"""The ``cpu`` target: PyTorch (default), ONNX Runtime or the integer reference on the host CPU.

Energy from RAPL where powercap is readable (root, Linux 5.10+); elsewhere the result carries
throughput and latency only and says why energy is missing.
"""

from __future__ import annotations

from typing import Any

from tinyicenet.bench.harness import run_bench
from tinyicenet.bench.meters import open_meter_or_unavailable
from tinyicenet.bench.sysinfo import cpu_name
from tinyicenet.bench.targets.common import backend_workload, make_tiles, scene_unit
from tinyicenet.errors import ConfigError

BACKENDS = ("torch", "onnxruntime", "integer")


def run(options: Any) -> list[dict]:
    backend = options.backend or "torch"
    if backend not in BACKENDS:
        raise ConfigError(f"cpu target: backend {backend!r} unknown; choose from "
                          f"{', '.join(BACKENDS)}")
    scene = scene_unit(options)
    meter = open_meter_or_unavailable(options.meter or "rapl")
    workload = None
    try:
        tiles = make_tiles(options)
        extra = {"torch": {"device": "cpu"},
                 # a float export runs with onnxruntime's graph optimisations, as deployed
                 "onnxruntime": {"optimize": _is_float(options)}}.get(backend, {})
        workload = backend_workload(backend, options, tiles, variant=options.variant, **extra)
        threads = _threads(backend)
        workload.device = f"{cpu_name()} ({threads} threads)" if threads else cpu_name()
        return [run_bench(workload, meter, options.config, target="cpu", scene=scene,
                          quiet=options.quiet)]
    finally:
        meter.close()
        if workload is not None:
            workload.close()


def _is_float(options: Any) -> bool:
    from tinyicenet.bench.targets.common import artefact, is_model_name
    name = artefact(options, "onnxruntime")
    return is_model_name(name) and "float" in name


def _threads(backend: str) -> int | None:
    if backend == "torch":
        import torch
        return torch.get_num_threads()
    return None

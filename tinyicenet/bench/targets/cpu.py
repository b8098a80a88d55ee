"""The ``cpu`` target: PyTorch (default), ONNX Runtime or the integer reference on the host CPU.

Energy from RAPL where powercap is readable (root, Linux 5.10+); elsewhere the result carries
throughput and latency only and says why energy is missing. ``--backend all`` runs torch and
onnxruntime, dropping (with a warning and a ``dropped`` entry in each record) what cannot run.
"""

from __future__ import annotations

from typing import Any

from tinyicenet.bench.harness import run_bench
from tinyicenet.bench.meters import open_meter_or_unavailable
from tinyicenet.bench.sysinfo import cpu_name
from tinyicenet.bench.targets.common import (annotate_run, backend_workload, make_tiles,
                                             plan_variants, run_all, scene_unit, warn_dropped)
from tinyicenet.errors import ConfigError

BACKENDS = ("torch", "onnxruntime", "integer")
#: what ``--backend all`` runs: the deployable float runtimes (the integer backend is the
#: bit-exact numpy reference, far slower: only on request)
ALL = ("torch", "onnxruntime")


def plan(spec: str | None) -> tuple[list[str], list[dict[str, str]] | None]:
    """(backends to run, dropped entries or None) for ``--backend``."""
    if spec == "all":
        from tinyicenet.backends import backend_availability
        return plan_variants(ALL, backend_availability)
    backend = spec or "torch"
    if backend not in BACKENDS:
        raise ConfigError(f"cpu target: backend {backend!r} unknown; choose from "
                          f"{', '.join(BACKENDS)} or all")
    return [backend], None


def run(options: Any) -> list[dict]:
    names, dropped = plan(options.backend)
    warn_dropped(dropped or [], "backend")
    scene = scene_unit(options)
    meter = open_meter_or_unavailable(options.meter or "rapl")
    tiles = make_tiles(options)

    def measure(backend: str) -> dict:
        # a float export runs with onnxruntime's graph optimisations, as deployed
        extra = {"torch": {"device": "cpu"},
                 "onnxruntime": {"optimize": _is_float(options)}}.get(backend, {})
        workload = backend_workload(backend, options, tiles, variant=options.variant, **extra)
        try:
            threads = _threads(backend)
            workload.device = f"{cpu_name()} ({threads} threads)" if threads else cpu_name()
            return run_bench(workload, meter, options.config, target="cpu", scene=scene,
                             quiet=options.quiet)
        finally:
            workload.close()

    try:
        results = run_all(names, measure, dropped if dropped is not None else [],
                          keep_going=dropped is not None, kind="backend")
    finally:
        meter.close()
    return annotate_run(results, dropped)


def _is_float(options: Any) -> bool:
    from tinyicenet.bench.targets.common import artefact, is_model_name
    name = artefact(options, "onnxruntime")
    return is_model_name(name) and "float" in name


def _threads(backend: str) -> int | None:
    if backend == "torch":
        import torch
        return torch.get_num_threads()
    return None

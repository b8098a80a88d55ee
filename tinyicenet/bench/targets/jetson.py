"""The ``jetson`` target: ONNX Runtime on a Jetson (TensorRT or CUDA execution provider where
present), power from tegrastats or, without it, the INA3221 sysfs rails.

Runs only on a Jetson; elsewhere it says so and stops.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tinyicenet.bench.harness import run_bench
from tinyicenet.bench.meters import MeterUnavailable, UnavailableMeter, open_meter
from tinyicenet.bench.targets.common import backend_workload, make_tiles, scene_unit
from tinyicenet.errors import ToolNotFoundError

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                       "CPUExecutionProvider")


def is_jetson(root: str | Path = "/") -> bool:
    """A Jetson has /etc/nv_tegra_release (L4T) or the tegrastats tool."""
    return (Path(root) / "etc/nv_tegra_release").exists() or shutil.which("tegrastats") is not None


def device_name(root: str | Path = "/") -> str:
    """The module's model string from the device tree, else 'NVIDIA Jetson'."""
    try:
        text = (Path(root) / "proc/device-tree/model").read_text().strip("\x00\n ")
        return text or "NVIDIA Jetson"
    except OSError:
        return "NVIDIA Jetson"


def providers() -> list[str]:
    """The preferred ONNX Runtime execution providers that this installation has."""
    import onnxruntime as ort
    have = set(ort.get_available_providers())
    return [p for p in PREFERRED_PROVIDERS if p in have]


def open_jetson_meter(spec: str | None):
    """tegrastats, falling back to the INA3221 sysfs rails; unavailable with both reasons."""
    if spec:
        try:
            return open_meter(spec)
        except MeterUnavailable as exc:
            return UnavailableMeter(spec.partition(":")[0], str(exc))
    reasons = []
    for name in ("tegrastats", "ina3221"):
        try:
            return open_meter(name)
        except MeterUnavailable as exc:
            reasons.append(str(exc))
    return UnavailableMeter("tegrastats", "; ".join(reasons))


def _takes_providers(backend: str) -> bool:
    """Whether the backend has a ``providers`` option (the onnxruntime one should)."""
    try:
        from tinyicenet.backends import backend_class
        return "providers" in backend_class(backend).option_names()
    except Exception:  # unregistered or unimportable: let backend_workload report it
        return False


def run(options: Any) -> list[dict]:
    if not is_jetson():
        raise ToolNotFoundError("jetson target: this is not a Jetson (no /etc/nv_tegra_release, "
                                "no tegrastats); run it on the board")
    backend = options.backend or "onnxruntime"
    chosen = providers() if backend == "onnxruntime" else []
    scene = scene_unit(options)
    tiles = make_tiles(options)
    extra = {"providers": chosen} if chosen and _takes_providers(backend) else {}
    workload = backend_workload(backend, options, tiles, variant=options.variant or
                                (chosen[0].replace("ExecutionProvider", "").lower()
                                 if chosen else None), **extra)
    workload.device = device_name()
    meter = open_jetson_meter(options.meter)
    try:
        return [run_bench(workload, meter, options.config, target="jetson", scene=scene,
                          quiet=options.quiet)]
    finally:
        meter.close()
        workload.close()

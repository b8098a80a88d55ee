"""Targets: what ``tinyicenet bench --target T`` runs, on which backend, with which meter.

======== =============================================== ==============================
target   backends / variants                             default meter
======== =============================================== ==============================
cpu      torch (default), onnxruntime, integer           rapl (unavailable -> no energy)
cuda     eager-fp32, eager-fp16, compile-fp16 (torch     nvml
         max-autotune), kernels (cuda-kernels)
jetson   onnxruntime (TensorRT / CUDA EP where present)  tegrastats, else ina3221
fpga     modelled from the HLS design (C simulation      modelled; on the board the
         verified), or a board/modelled result file      board script writes results
======== =============================================== ==============================

Each target module has ``run(options) -> list[result dict]``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from tinyicenet.bench.harness import BenchConfig
from tinyicenet.bench.units import DEFAULT_HALO
from tinyicenet.errors import ConfigError

TARGET_NAMES = ("cpu", "cuda", "jetson", "fpga")


@dataclass
class TargetOptions:
    """Everything a target needs; defaults are the toolkit's."""

    backend: str | None = None
    variant: str | None = None
    model: str | None = None          # checkpoint / ONNX path, or a model name
    batch: int = 1
    tile: tuple[int, int] = (256, 256)
    halo: int = DEFAULT_HALO  # the default model's receptive-radius halo (bench.units)
    scene_pixels: tuple[int, int] | None = None
    scene_path: str | None = None      # take input tiles from this scene file
    meter: str | None = None           # None: the target's default
    config: BenchConfig = field(default_factory=BenchConfig)
    quiet: bool = True
    seed: int = 0
    import_path: str | None = None     # fpga: a board-measured or modelled result file
    backend_options: dict[str, Any] = field(default_factory=dict)


def run_target(target: str, options: TargetOptions | None = None) -> list[dict[str, Any]]:
    """Run ``target`` and return its result dicts (schema v1, validated)."""
    if target not in TARGET_NAMES:
        raise ConfigError(f"unknown bench target {target!r}; choose from "
                          f"{', '.join(TARGET_NAMES)}")
    options = options or TargetOptions()
    if options.batch < 1:
        raise ConfigError(f"batch {options.batch}: must be >= 1")
    options.config.check()   # before any model is loaded: bad options fail fast
    from tinyicenet.bench.targets.common import scene_unit
    scene_unit(options)
    module = importlib.import_module(f"tinyicenet.bench.targets.{target}")
    return module.run(options)


__all__ = ["TARGET_NAMES", "TargetOptions", "run_target"]

"""Run a model over a whole scene: halo tiles through a backend, stitched back, argmax per chart.

Tiles overlap by a halo at least as wide as the network's receptive field, start on multiples of
the model stride and end on the scene edge (``tinyicenet.data.tiling``), so every output pixel
sees exactly the context it would see in a single forward pass over the scene (zero-padded to a
multiple of the stride): seams do not change the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.data.tables import LABEL_FILL as NODATA  # no class: the charts' fill value
from tinyicenet.data.tiling import MIN_HALO, model_halo, receptive_radius, run_tiled
from tinyicenet.errors import ConfigError

#: Tile side on the working grid and the minimum halo (the data layer's defaults).
DEFAULT_TILE = 256
DEFAULT_HALO = MIN_HALO
DEFAULT_BATCH = 8


@dataclass(frozen=True)
class ModelInfo:
    """What predict needs to know about a checkpoint without running it."""

    name: str
    charts: tuple[str, ...]
    num_classes: tuple[int, ...]
    variables: tuple[str, ...]
    stride: int
    radius: int
    downsample: int | None = None  # the working resolution the model was trained at
    #: The normalisation statistics training applied (None: the checkpoint stores none).
    stats: dict | None = None

    @property
    def halo(self) -> int:
        """The data layer's halo, widened (to a multiple of the stride) if the network sees
        further than it."""
        return model_halo(self.stride)


def model_info(checkpoint: str | Path) -> ModelInfo:
    """Architecture, charts, input variables and training resolution of a checkpoint (read
    without building the model; CheckpointError if it is bad)."""
    from tinyicenet.data.layout import DEFAULT_VARIABLES
    from tinyicenet.errors import CheckpointError
    from tinyicenet.models import CHART_CLASSES, read_checkpoint

    ckpt = read_checkpoint(checkpoint)
    kwargs = ckpt["model"].get("kwargs", {})
    charts = tuple(kwargs.get("charts", ("SOD",)))
    widths = tuple(kwargs.get("widths", (16, 32, 64)))
    levels = len(widths) - 1
    cfg = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    data_cfg = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    stats = ckpt.get("data_stats") if isinstance(ckpt.get("data_stats"), dict) else {}
    variables = tuple(ckpt.get("variables") or data_cfg.get("variables") or DEFAULT_VARIABLES)
    in_channels = int(kwargs.get("in_channels", 2))
    if len(variables) != in_channels:
        raise CheckpointError(f"{checkpoint}: lists {len(variables)} input variables "
                              f"({', '.join(variables)}) for a model of {in_channels} input "
                              "channels")
    unknown = [c for c in charts if c not in CHART_CLASSES]
    if unknown:
        raise CheckpointError(f"{checkpoint}: unknown chart(s) {', '.join(unknown)}")
    downsample = data_cfg.get("downsample") or stats.get("downsample")
    from tinyicenet.models.checkpoint import input_statistics
    return ModelInfo(name=ckpt["model"]["name"], charts=charts,
                     num_classes=tuple(CHART_CLASSES[c] for c in charts),
                     variables=variables, stride=2 ** levels, radius=receptive_radius(levels),
                     downsample=int(downsample) if downsample else None,
                     stats=input_statistics(ckpt, path=checkpoint))


def open_backend(name: str, checkpoint: str | Path, *, quantized: bool = True,
                 **options: Any) -> Any:
    """A backend from the registry. ``cuda`` maps to the custom integer kernels
    (``cuda-kernels``) for a quantized model when they are registered, else to the torch backend
    on the CUDA device."""
    from tinyicenet.backends import available_backends, get_backend

    names = list(available_backends())
    if name == "cuda" and "cuda" not in names:
        import torch
        if not torch.cuda.is_available():
            raise ConfigError("backend cuda: no CUDA device is available here "
                              f"(choose one of {', '.join(names)})")
        if quantized and "cuda-kernels" in names:
            return get_backend("cuda-kernels", checkpoint, **options)
        return get_backend("torch", checkpoint, device="cuda", **options)
    if name not in names:
        raise ConfigError(f"unknown backend {name!r}: choose one of "
                          f"{', '.join(names + ['cuda'])}")
    return get_backend(name, checkpoint, **options)


def logits_to_classes(logits: np.ndarray, charts: Sequence[str], num_classes: Sequence[int],
                      valid: np.ndarray) -> dict[str, np.ndarray]:
    """Per chart the argmax class id (uint8), :data:`NODATA` where there is no SAR."""
    if logits.shape[0] != sum(num_classes):
        raise ConfigError(f"backend returned {logits.shape[0]} output channels; the model's "
                          f"charts {list(charts)} need {sum(num_classes)}")
    out: dict[str, np.ndarray] = {}
    start = 0
    for chart, k in zip(charts, num_classes):
        ids = np.argmax(logits[start:start + k], axis=0).astype(np.uint8)
        ids[~valid] = NODATA
        out[chart] = ids
        start += k
    return out


def predict_classes(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray,
                    valid: np.ndarray, info: ModelInfo, *, tile: int = DEFAULT_TILE,
                    batch: int = DEFAULT_BATCH,
                    on_batch: Callable[[int, int], None] | None = None
                    ) -> dict[str, np.ndarray]:
    """Class maps of a scene for every chart of the model (see :func:`~tinyicenet.data.tiling.run_tiled`)."""
    logits = run_tiled(run, image, tile=tile, halo=info.halo, align=info.stride,
                            batch=batch, on_batch=on_batch)
    return logits_to_classes(logits, info.charts, info.num_classes, valid)

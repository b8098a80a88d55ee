"""Backends: a name -> an object that loads a model artefact and runs batches of tiles.

Contract (``tinyicenet/README.md``)::

    backend = get_backend(name, artefact, **options)
    backend.name, backend.device, backend.precision
    backend.run(tiles: float32 [N, C, H, W]) -> float32 [N, K, H, W]   # logits
    backend.close()                        # also: ``with get_backend(...) as backend:``

Optional, for benchmarks that keep inputs on the device (``torch``, ``cuda-kernels``)::

    x = backend.prepare(tiles)             # checked tiles as a device tensor
    y = backend.run_prepared(x)            # device result; queues the work and returns
    backend.synchronize()                  # waits for queued device work

``available_backends(check=True)`` / ``backend_availability(name)`` say what runs here.

Integer backends return the dequantised head output (``codes * 2**exp``), so every backend's
``argmax`` is comparable and integer backends are compared bit for bit through
``tinyicenet.export.intref``.

Adding a backend = one module defining a :class:`Backend` subclass + one line in ``_REGISTRY``
(``"name": "module:Class"``; modules are imported only when that backend is asked for, so a
missing optional dependency never breaks the others).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np

from tinyicenet.errors import ConfigError, DataError


class Backend:
    """Base class: holds ``name``/``device``/``precision``, checks tiles, context manager.

    Subclasses implement ``__init__(artefact, **options)`` (keyword options only: they are
    the backend's valid options) and ``_run(tiles) -> logits``; they may override
    ``availability()`` and ``close()``.
    """

    name: str = ""
    device: str = "cpu"
    precision: str = ""
    #: input channels and stride of the loaded model, for input checks (set by subclasses)
    in_channels: int | None = None
    stride: int = 1

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(usable here, reason if not)."""
        return True, ""

    @classmethod
    def option_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters.values()
        return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def run(self, tiles: np.ndarray) -> np.ndarray:
        """Logits ``[N, K, H, W]`` float32 for float32 tiles ``[N, C, H, W]``."""
        return self._run(self.check_tiles(tiles))

    def check_tiles(self, tiles: np.ndarray) -> np.ndarray:
        """``tiles`` as an array if float32 ``[N, C, H, W]`` that fits the model, else DataError."""
        tiles = np.asarray(tiles)
        if tiles.ndim != 4 or tiles.dtype != np.float32:
            raise DataError(f"backend {self.name}: tiles must be float32 [N, C, H, W], got "
                            f"{tiles.dtype} {list(tiles.shape)}")
        self.check_shape(tiles.shape)
        return tiles

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """DataError unless ``shape`` is ``[N, C, H, W]`` with the model's channels and stride."""
        if len(shape) != 4:
            raise DataError(f"backend {self.name}: tiles must be [N, C, H, W], got {list(shape)}")
        if self.in_channels is not None and shape[1] != self.in_channels:
            raise DataError(f"backend {self.name}: tiles have {shape[1]} channels, the "
                            f"model takes {self.in_channels}")
        h, w = shape[-2:]
        if h % self.stride or w % self.stride:
            raise DataError(f"backend {self.name}: tile {h}x{w} is not a multiple of the model "
                            f"stride {self.stride}")

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release devices and files (idempotent)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} on {self.device} ({self.precision})>"


_REGISTRY: dict[str, str] = {
    "torch": "tinyicenet.backends.torch_backend:TorchBackend",
    "integer": "tinyicenet.backends.integer:IntegerBackend",
    "onnxruntime": "tinyicenet.backends.onnxruntime_backend:OnnxRuntimeBackend",
    "hls_csim": "tinyicenet.backends.hls_csim:HlsCSimBackend",
    "cuda-kernels": "tinyicenet.backends.cuda_kernels:CudaKernelsBackend",
}


def backend_class(name: str) -> Any:
    """The class (or factory) registered under ``name`` (imports its module).

    Subclassing :class:`Backend` is recommended, not required: any class with the contract's
    attributes and methods works (option checking and ``availability`` are then its own).
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown backend {name!r}; available: {', '.join(_REGISTRY)}")
    module, _, cls = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def backend_availability(name: str) -> tuple[bool, str]:
    """(usable on this machine, reason if not) for backend ``name``.

    A backend whose module cannot be imported (missing optional dependency) is not usable;
    otherwise its class's ``availability()`` decides (e.g. ``cuda-kernels`` needs a CUDA device).
    """
    try:
        cls = backend_class(name)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any import failure means "not usable here"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return False, f"cannot be loaded here ({first[:200]})"
    check = getattr(cls, "availability", None)
    if check is None:
        return True, ""
    try:
        ok, reason = check()
    except Exception as exc:  # noqa: BLE001 - a failing probe means "not usable here"
        return False, f"availability check failed ({type(exc).__name__}: {exc})"
    return bool(ok), str(reason)


def available_backends(check: bool = False) -> list[str]:
    """Registered backend names; with ``check``, only those usable on this machine."""
    if not check:
        return list(_REGISTRY)
    return [name for name in _REGISTRY if backend_availability(name)[0]]


def get_backend(name: str, artefact: Any, **options: Any) -> Backend:
    """Load ``artefact`` (checkpoint path, model, integer-model file, ...) in backend ``name``.

    Unknown options raise ConfigError naming the valid ones.
    """
    cls = backend_class(name)
    if hasattr(cls, "option_names"):
        valid = cls.option_names()
        bad = sorted(set(options) - set(valid))
        if bad:
            raise ConfigError(f"backend {name!r}: unknown option(s) {', '.join(bad)}; valid: "
                              f"{', '.join(valid) or 'none'}")
    return cls(artefact, **options)


__all__ = ["Backend", "available_backends", "backend_availability", "backend_class",
           "get_backend"]

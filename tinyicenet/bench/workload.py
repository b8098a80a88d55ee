"""What the harness runs: one batch of tiles per call, on a device that can be synchronised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Workload(Protocol):
    """One batch per ``run()``; ``synchronize()`` waits until the device has finished.

    ``run()`` may return before the device has done the work (GPU calls are queued): the
    harness times throughput over many queued calls with one ``synchronize()`` per window,
    and latency over single calls each followed by ``synchronize()``.
    """

    backend: str
    device: str
    precision: str
    model: str
    variant: str | None
    batch: int
    tile: tuple[int, int]

    def run(self) -> None: ...

    def synchronize(self) -> None: ...

    def close(self) -> None: ...


class CallableWorkload:
    """Wrap a plain function (custom code, or a tiny workload in tests)."""

    def __init__(self, fn: Callable[[], Any], *, batch: int, tile: tuple[int, int],
                 backend: str = "callable", device: str = "cpu", precision: str = "fp32",
                 model: str = "callable", variant: str | None = None,
                 synchronize: Callable[[], None] | None = None) -> None:
        self._fn, self._sync = fn, synchronize
        self.backend, self.device, self.precision, self.model = backend, device, precision, model
        self.variant, self.batch, self.tile = variant, batch, (int(tile[0]), int(tile[1]))

    def run(self) -> None:
        self._fn()

    def synchronize(self) -> None:
        if self._sync is not None:
            self._sync()

    def close(self) -> None:
        pass


class BackendWorkload:
    """A :mod:`tinyicenet.backends` backend running a fixed batch of tiles.

    If the backend can keep inputs on its device (``prepare(tiles) -> handle`` and
    ``run_prepared(handle)``, with ``synchronize()``), the timed call excludes host transfers;
    otherwise each call is ``backend.run(tiles)`` (host array in, host array out), which is
    synchronous by construction. ``transfers`` in :attr:`notes` says which.
    """

    def __init__(self, backend: Any, tiles: np.ndarray, *, model: str,
                 variant: str | None = None) -> None:
        self.backend_object = backend
        self.tiles_array = np.ascontiguousarray(tiles, dtype=np.float32)
        self._backend, self._tiles = self.backend_object, self.tiles_array
        self.backend = str(getattr(backend, "name", type(backend).__name__))
        self.device = str(getattr(backend, "device", "unknown"))
        self.precision = str(getattr(backend, "precision", "unknown"))
        self.model, self.variant = model, variant
        self.batch = int(tiles.shape[0])
        self.tile = (int(tiles.shape[-2]), int(tiles.shape[-1]))
        self.on_close: list[Callable[[], None]] = []   # e.g. delete a temporary export
        self._handle = None
        if hasattr(backend, "prepare") and hasattr(backend, "run_prepared"):
            self._handle = backend.prepare(self._tiles)
            self.notes = ["inputs resident on the device: host transfers not timed"]
        else:
            self.notes = ["each call copies tiles from host memory and results back"]

    def run(self) -> None:
        if self._handle is not None:
            self._backend.run_prepared(self._handle)
        else:
            self._backend.run(self._tiles)

    def synchronize(self) -> None:
        sync = getattr(self._backend, "synchronize", None)
        if sync is not None:
            sync()

    def close(self) -> None:
        close = getattr(self._backend, "close", None)
        if close is not None:
            close()
        while self.on_close:
            self.on_close.pop()()

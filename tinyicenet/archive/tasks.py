"""What a Dask worker runs: one scene per task, with the model loaded once per worker process.

The model is cached per process, keyed by the checkpoint's sha256 and the backend options, so a
worker loads it on its first scene and reuses it for the rest (and a checkpoint that changes
under a running archive is refused instead of mixing two models). On a host with several GPUs
a local-cluster worker (named 0..N-1) takes GPU ``name % count``; a worker started by hand or by
dask-jobqueue uses the GPU it is given (``CUDA_VISIBLE_DEVICES``, e.g. one ``dask worker`` per
GPU, or dask-cuda).

A predict task writes the scene's products into its own attempt folder (never into the output
folder) and returns their names, sizes and checksums; the client moves them into place. Two
attempts of one scene (a worker presumed dead that was only slow) therefore never both publish,
and a worker that dies leaves at most an attempt folder the client removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tinyicenet.archive.engine import announce_start
from tinyicenet.errors import CheckpointError, TinyIceNetError

#: test hook (see tests/test_archive_cluster.py): a path; the first task on any worker that
#: creates this file exits its process right after writing its products, before returning.
EXIT_ONCE_ENV = "TINYICENET_TEST_WORKER_EXIT_ONCE"

_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()
LOADS = {"count": 0}  # models loaded by this process (reported back, for tests and logs)


def dask_setup(worker: Any = None) -> None:
    """Dask preload hook (``dask worker --preload tinyicenet.archive.tasks``): import the heavy
    libraries while the worker starts, not in its first scene."""
    import matplotlib
    matplotlib.use("Agg")
    import rasterio  # noqa: F401
    import torch  # noqa: F401
    import xarray  # noqa: F401

    import tinyicenet.evaluate  # noqa: F401
    import tinyicenet.predict.pipeline  # noqa: F401
    import tinyicenet.predict.quicklook  # noqa: F401


def _worker_name() -> Any:
    try:
        from distributed import get_worker
        return get_worker().name
    except (ImportError, ValueError):
        return None


def _worker_address() -> str | None:
    try:
        from distributed import get_worker
        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def gpu_index(name: Any, count: int) -> int | None:
    """GPU for a worker called ``name`` on a host with ``count`` visible GPUs: a local-cluster
    worker (integer name) takes ``name % count``; others keep the current device."""
    if count <= 1:
        return None
    try:
        return int(name) % count
    except (TypeError, ValueError):
        return None


def _select_gpu() -> None:
    import torch
    if torch.cuda.is_available():
        idx = gpu_index(_worker_name(), torch.cuda.device_count())
        if idx is not None:
            torch.cuda.set_device(idx)


def _check_checkpoint(checkpoint: str, sha256: str) -> None:
    from tinyicenet.archive.manifest import sha256_file
    try:
        now = sha256_file(checkpoint)
    except OSError as exc:
        raise CheckpointError(f"{checkpoint}: not readable on worker {_worker_address()}: "
                              f"{exc.strerror or exc}") from None
    if now != sha256:
        raise CheckpointError(f"{checkpoint}: changed since the run started (sha256 {now[:12]} "
                              f"on worker {_worker_address()}, {sha256[:12]} on the client)")


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch
        torch.set_num_threads(int(threads))


def _cached(key: tuple, checkpoint: str, sha256: str, threads: int | None, gpu: bool,
            load: Callable[[], tuple[Any, Any]]) -> tuple[Any, Any, bool]:
    """``(*load(), loaded_now)``, loading once per worker process and ``key``."""
    with _LOCK:
        if key in _CACHE:
            return (*_CACHE[key], False)
        _check_checkpoint(checkpoint, sha256)
        _set_threads(threads)
        if gpu:
            _select_gpu()
        _CACHE[key] = load()
        LOADS["count"] += 1
        return (*_CACHE[key], True)


def cached_backend(checkpoint: str, sha256: str, backend: str,
                   threads: int | None = None) -> tuple[Any, Any, bool]:
    """``(backend, ModelInfo, loaded_now)`` for predict, loaded once per worker process."""
    def load() -> tuple[Any, Any]:
        from tinyicenet.predict.runner import model_info, open_backend

        info = model_info(checkpoint)
        return open_backend(backend, checkpoint,
                            quantized=not info.name.startswith("tinyicenet_float")), info

    return _cached(("predict", sha256, backend, threads), checkpoint, sha256, threads,
                   backend == "cuda", load)


def cached_model(checkpoint: str, sha256: str, device: str,
                 threads: int | None = None) -> tuple[Any, Any, bool]:
    """``(model, device, loaded_now)`` for evaluate, loaded once per worker process."""
    def load() -> tuple[Any, Any]:
        from tinyicenet.models import load_checkpoint
        from tinyicenet.models.device import pick_device

        dev = pick_device(device)
        return load_checkpoint(checkpoint, map_location=dev)[0], dev

    return _cached(("evaluate", sha256, device, threads), checkpoint, sha256, threads,
                   device != "cpu", load)


def model_loads() -> int:
    """Models this worker process has loaded (``client.run(model_loads)``: once per model)."""
    return LOADS["count"]


@contextlib.contextmanager
def _files_of_this_task() -> Iterator[None]:
    """Run the block with Dask's synchronous scheduler as the current one.

    Inside a task, xarray sees the distributed scheduler and guards every NetCDF write with a
    cluster-wide ``distributed.Lock`` named after the file: a scheduler round trip per access,
    for files no other task touches (each attempt writes its own folder), and a lease that a
    Ctrl-C closing the cluster mid-write leaves to fail loudly on the worker. The scenes hold
    numpy arrays, so no Dask graph is computed in here either way.
    """
    import dask
    with dask.config.set(scheduler="synchronous"):
        yield


def _exit_once_hook() -> None:
    marker = os.environ.get(EXIT_ONCE_ENV)
    if not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    os._exit(17)  # a worker dying mid-scene: no cleanup, no reply


def predict_task(path: str, *, event: Any, checkpoint: str, sha256: str,
                 options: dict[str, Any], work_dir: str,
                 threads: int | None = None) -> dict[str, Any]:
    """Predict one scene into a fresh attempt folder under ``work_dir``.

    Returns ``{"status": "ok", "record", "attempt", "files", ...}`` or, for a scene that is
    bad (a :class:`TinyIceNetError`: the same on every attempt), ``{"status": "failed",
    "error", "record"}``. Anything else raises, and Dask retries it.
    """
    from tinyicenet.archive.manifest import file_entry
    from tinyicenet.predict.pipeline import PredictOptions, failure_record, predict_scene
    from tinyicenet.predict.submission import submission_scene_name

    announce_start(event)
    opts = PredictOptions(**options)
    backend, info, loaded = cached_backend(checkpoint, sha256, opts.backend, threads)
    name = submission_scene_name(path)
    attempt = Path(work_dir) / f"{name}.{uuid.uuid4().hex[:12]}"
    attempt.mkdir()  # not parents: a task outliving its run must not recreate the work folder
    try:
        with _files_of_this_task():
            record = predict_scene(Path(path), info, backend.run, attempt, opts)
    except TinyIceNetError as exc:
        shutil.rmtree(attempt, ignore_errors=True)
        failed = failure_record(Path(path), exc)
        return {"status": "failed", "error": failed.error, "record": asdict(failed)}
    except BaseException:
        shutil.rmtree(attempt, ignore_errors=True)
        raise
    files = {p.name: file_entry(p) for p in sorted(attempt.iterdir()) if p.is_file()}
    _exit_once_hook()
    return {"status": "ok", "record": asdict(record), "attempt": str(attempt), "files": files,
            "backend": {"name": str(getattr(backend, "name", opts.backend)),
                        "device": str(getattr(backend, "device", "cpu")),
                        "precision": str(getattr(backend, "precision", ""))},
            "worker": _worker_address(), "loaded_model": loaded, "pid": os.getpid()}


def evaluate_task(path: str, *, event: Any, checkpoint: str, sha256: str, device: str,
                  scene_kwargs: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    """Score one scene: ``{"metrics": ChartMetrics, "record": dict}``; a bad scene returns
    ``{"error": TinyIceNetError}`` (not retried), anything else raises (retried)."""
    from tinyicenet.evaluate import evaluate_scene

    announce_start(event)
    model, dev, loaded = cached_model(checkpoint, sha256, device, threads)
    try:
        with _files_of_this_task():
            metrics, record = evaluate_scene(model, path, device=dev, **scene_kwargs)
    except TinyIceNetError as exc:
        return {"error": exc}
    return {"metrics": metrics, "record": record, "worker": _worker_address(),
            "loaded_model": loaded, "pid": os.getpid()}

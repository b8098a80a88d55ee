"""The Dask side of an archive run: a cluster, one task per scene, outcomes as they finish.

* :func:`open_client` starts a local cluster of ``N`` worker processes
  (``distributed.LocalCluster(n_workers=N, threads_per_worker=1, processes=True)``, bound to
  127.0.0.1) or connects to an existing scheduler (``dask scheduler`` / ``dask worker``,
  dask-jobqueue).
* :func:`run_tasks` submits one task per item with bounded retries and yields
  :class:`Outcome` objects in completion order. A task that raises is retried by Dask
  (``retries=``); a worker that dies mid-task has its task rescheduled on another worker by the
  scheduler (at most ``distributed.scheduler.allowed-failures`` times, then ``KilledWorker``).
  Deterministic failures (a bad scene) are returned by the task as values, not raised, so they
  are not retried pointlessly.
* Every task start is announced on the ``tinyicenet-archive`` event topic
  (``Worker.log_event``); the client counts the starts per item, so a retried scene (a second
  start) shows on the progress line.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyicenet.errors import ConfigError

EVENT_TOPIC = "tinyicenet-archive"
DEFAULT_RETRIES = 2
CONNECT_TIMEOUT_S = 20


@dataclass
class Outcome:
    """How one task ended: ``value`` (what the task returned) or ``error`` (after retries)."""

    index: int
    value: Any = None
    error: BaseException | None = None
    attempts: int = 1


@contextlib.contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None, *,
                retries: int = DEFAULT_RETRIES) -> Iterator[Any]:
    """A ``distributed.Client`` on a new local cluster (``workers``) or on ``scheduler`` (an
    address such as ``tcp://10.0.0.5:8786``, or the JSON file ``dask scheduler
    --scheduler-file`` writes).

    On a local cluster the scheduler runs in this process, so ``retries`` also bounds how often
    a task may be on a worker that dies (``allowed-failures``); an external scheduler uses its
    own configuration for that.
    """
    if (workers is None) == (scheduler is None):
        raise ConfigError("give either --workers N or --scheduler ADDRESS, not both")
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--workers / --scheduler need Dask: pip install "
                          "'dask[distributed]'") from None
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        with dask.config.set({"distributed.scheduler.allowed-failures": max(0, retries)}):
            # no dashboard; its HTTP server (health routes) on a free port rather than on
            # 8787, which another cluster may hold (distributed then warns)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                   scheduler_kwargs={"dashboard": False},
                                   preload=["tinyicenet.archive.local_worker"],
                                   silence_logs=logging.ERROR)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    where: dict[str, Any] = {"address": scheduler}
    if scheduler.endswith(".json"):  # a scheduler file (dask scheduler --scheduler-file)
        if not Path(scheduler).is_file():
            raise ConfigError(f"scheduler file {scheduler} does not exist (yet?)")
        where = {"scheduler_file": scheduler}
    try:
        client = Client(**where, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        if worker_count(client) == 0:
            from tinyicenet.progress import stderr
            stderr.print(f"warning: the scheduler at {scheduler} has no workers yet: the scenes "
                         "wait until workers join", highlight=False, markup=False)
        yield client
    finally:
        client.close()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the host's count)."""
    import os
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def worker_count(client: Any) -> int:
    return len(client.scheduler_info().get("workers", {}))


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) for the block and raise it right after: a publish step (a
    few renames and the manifest line) then always completes or never starts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def run_tasks(client: Any, fn: Callable[..., Any], items: Sequence[Any], *,
              kwargs: dict[str, Any] | None = None, retries: int = DEFAULT_RETRIES,
              names: Sequence[str] | None = None,
              on_attempt: Callable[[int, int], None] | None = None,
              poll_s: float = 0.25) -> Iterator[Outcome]:
    """Run ``fn(item, event=..., **kwargs)`` once per item on the cluster; yield outcomes
    as tasks finish. ``on_attempt(index, attempts)`` is called (from this thread) when a task
    starts again after a failure or a lost worker.

    Leaving the generator early (an exception, Ctrl-C, ``close()``) cancels every task that
    has not finished.
    """
    from distributed import wait

    run_id = uuid.uuid4().hex[:12]
    names = list(names) if names is not None else [str(i) for i in range(len(items))]
    keys = {f"{run_id}-{i}": i for i in range(len(items))}
    starts: dict[int, int] = {}
    lock = threading.Lock()
    retried: list[tuple[int, int]] = []

    def on_event(event: Any) -> None:  # runs on the client's event-loop thread
        _, msg = event
        if not isinstance(msg, dict) or msg.get("run") != run_id:
            return
        i = keys.get(msg.get("key", ""))
        if i is None:
            return
        with lock:
            starts[i] = starts.get(i, 0) + 1
            if starts[i] > 1:
                retried.append((i, starts[i]))

    client.subscribe_topic(EVENT_TOPIC, on_event)
    futures = {}
    try:
        for key, i in keys.items():
            futures[client.submit(fn, items[i], event=(EVENT_TOPIC, run_id, key),
                                  key=f"tinyicenet-{names[i]}-{key}", retries=retries,
                                  pure=False, **(kwargs or {}))] = i
        pending = set(futures)
        while pending:
            try:
                done = wait(list(pending), timeout=poll_s, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            with lock:
                news, retried[:] = list(retried), []
            if on_attempt is not None:
                for i, n in news:
                    on_attempt(i, n)
            for fut in done:
                pending.discard(fut)
                i = futures[fut]
                with lock:
                    attempts = max(1, starts.get(i, 1))
                if fut.status == "finished":
                    yield Outcome(i, value=fut.result(), attempts=attempts)
                else:
                    yield Outcome(i, error=_exception(fut), attempts=attempts)
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(EVENT_TOPIC)
        unfinished = [f for f in futures if f.status not in ("finished", "error")]
        if unfinished:
            with contextlib.suppress(Exception):
                client.cancel(unfinished, force=True)


def _exception(fut: Any) -> BaseException:
    try:
        exc = fut.exception()
    except BaseException as err:  # cancelled: the future has no exception to give
        return err
    return exc if exc is not None else RuntimeError(f"task {fut.key} ended as {fut.status}")


def announce_start(event: tuple[str, str, str] | None) -> None:
    """Called first in each task: tell the client an attempt began (best effort)."""
    if event is None:
        return
    topic, run_id, key = event
    with contextlib.suppress(Exception):
        from distributed import get_worker
        get_worker().log_event(topic, {"run": run_id, "key": key})

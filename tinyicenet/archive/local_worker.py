"""Preload of the workers of a local cluster (``--workers N``).

They share the terminal's process group with the client, so a Ctrl-C reaches them too; they
ignore it and let the client stop the run (cancel, publish nothing half-done, close the
cluster), instead of each printing a traceback. Workers started by hand or by dask-jobqueue
are not touched by this module.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any = None) -> None:
    from tinyicenet.archive.tasks import dask_setup as warm_up

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_up(worker)

"""``tinyicenet evaluate --workers N | --scheduler ADDRESS``: the same scoring on Dask.

One task per scene runs :func:`tinyicenet.evaluate.evaluate_scene` on a worker (model loaded
once per worker) and returns the scene's :class:`~tinyicenet.metrics.ChartMetrics` (integer
confusion matrices) and record. The client merges them with ``ChartMetrics.merge``: exact
integer sums, from which every score (weighted F1, and R^2 for SIC from the matrix's sums) is
derived once at the end, so the result equals the single-process evaluation to the last digit
(no per-scene score is ever averaged). Records are returned in the input order.

A bad scene stops the evaluation with its error (as without Dask): a score over the scenes that
happened to work would be a different test set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tinyicenet.archive.engine import DEFAULT_RETRIES, open_client, run_tasks, usable_cpus
from tinyicenet.archive.manifest import sha256_file
from tinyicenet.archive.progress import ArchiveProgress
from tinyicenet.archive.tasks import evaluate_task
from tinyicenet.errors import ConfigError, DataError, TinyIceNetError


def evaluate_archive(checkpoint: str | os.PathLike[str],
                     scenes: Sequence[str | os.PathLike[str]],
                     out_dir: str | os.PathLike[str] | None = None, *,
                     workers: int | None = None, scheduler: str | None = None,
                     retries: int = DEFAULT_RETRIES, quiet: bool = True,
                     **kwargs: Any) -> dict[str, Any]:
    """:func:`tinyicenet.evaluate.evaluate` with its per-scene loop on a Dask cluster."""
    from tinyicenet.evaluate import evaluate

    if (workers is None) == (scheduler is None):
        raise ConfigError("give either --workers N or --scheduler ADDRESS, not both")
    ckpt = Path(checkpoint).resolve()
    device = kwargs.get("device", "auto")
    threads = None if workers is None else max(1, usable_cpus() // workers)

    def runner(paths: Sequence[Any], scene_kwargs: dict[str, Any]
               ) -> Iterator[tuple[Any, dict]]:
        sha = sha256_file(ckpt)
        results: dict[int, tuple[Any, dict]] = {}
        with open_client(workers, scheduler, retries=retries) as client, \
                ArchiveProgress(len(paths), label="evaluating scenes", quiet=quiet) as bar:
            outcomes = run_tasks(
                # absolute paths: workers elsewhere do not share this working folder
                client, evaluate_task, [str(Path(p).resolve()) for p in paths],
                names=[Path(p).stem for p in paths], retries=retries,
                kwargs={"checkpoint": str(ckpt), "sha256": sha, "device": device,
                        "scene_kwargs": dict(scene_kwargs), "threads": threads},
                on_attempt=lambda j, n: bar.scene_retried())
            try:
                for oc in outcomes:
                    path = paths[oc.index]
                    if oc.error is not None:
                        bar.scene_failed()
                        if isinstance(oc.error, TinyIceNetError):
                            raise oc.error
                        raise DataError(f"{path}: failed after {oc.attempts} attempt(s): "
                                        f"{type(oc.error).__name__}: {oc.error}")
                    if "error" in oc.value:
                        bar.scene_failed()
                        raise oc.value["error"]
                    record = oc.value["record"]
                    if record.get("path") == str(Path(path).resolve()):
                        record["path"] = str(Path(path))  # as the plain loop reports it
                    results[oc.index] = (oc.value["metrics"], record)
                    bar.scene_done()
            finally:
                outcomes.close()
        for i in range(len(paths)):  # input order: the same records list as the plain loop
            yield results[i]

    return evaluate(checkpoint, scenes, out_dir, quiet=quiet, scene_runner=runner, **kwargs)

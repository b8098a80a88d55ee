"""``tinyicenet predict --workers N | --scheduler ADDRESS``: an archive of scenes on Dask.

The client (this process) plans, publishes and keeps the books; workers only compute:

1. Scenes whose products the folder's manifest vouches for (same checkpoint sha256, model,
   options and input file; every product present with its recorded size and sha256) are
   skipped; ``overwrite`` redoes all.
2. One task per remaining scene (:func:`tinyicenet.archive.tasks.predict_task`) writes the
   scene's products into its own attempt folder under ``.tinyicenet-work/`` in the output
   folder (the same filesystem, so publishing is a rename).
3. As each task finishes, the client moves its files into the output folder (``os.replace``,
   atomic per file; Ctrl-C is held back for these few renames and the manifest entry, so a
   scene is published whole or not at all) and records them in the manifest. A scene is
   published once per run: a late duplicate attempt is discarded.
4. At the end: ``upload_package.nc`` (rebuilt only when its scenes changed), ``summary.json``,
   the manifest, and the work folder removed.

A failing scene is recorded with its error and the others go on (exit code as without Dask).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from tinyicenet.archive.engine import (DEFAULT_RETRIES, deferred_interrupt, open_client, run_tasks,
                                       usable_cpus)
from tinyicenet.archive.manifest import Manifest, file_entry, folder_lock, sha256_file
from tinyicenet.archive.progress import ArchiveProgress
from tinyicenet.errors import ConfigError, TinyIceNetError
from tinyicenet.predict.pipeline import (PACKAGE_NAME, SUMMARY_NAME, PredictOptions,
                                         check_options, check_writable, failure_record,
                                         scene_paths)
from tinyicenet.predict.summary import RunSummary, SceneRecord

WORK_DIR = ".tinyicenet-work"
#: options that do not change a product (left out of the identity)
_NOT_IDENTITY = ("quiet", "package")


def identity(checkpoint_sha256: str, model: str, options: PredictOptions) -> dict[str, Any]:
    """What made a product: checkpoint hash, model name and the product-changing options."""
    opts = {k: v for k, v in asdict(options).items() if k not in _NOT_IDENTITY}
    return {"checkpoint_sha256": checkpoint_sha256, "model": model, "options": opts}


def _record(d: dict[str, Any]) -> SceneRecord:
    names = {f.name for f in fields(SceneRecord)}
    return SceneRecord(**{k: v for k, v in d.items() if k in names})


def _check_backend(name: str) -> None:
    from tinyicenet.backends import available_backends
    names = list(available_backends())
    if name != "cuda" and name not in names:
        raise ConfigError(f"unknown backend {name!r}: choose one of "
                          f"{', '.join(names + ['cuda'])}")


def _local_threads(workers: int | None) -> int | None:
    """Torch threads per local worker: the host's cores shared out (Dask starts workers with
    OMP_NUM_THREADS=1); None for an external cluster, whose workers keep their own setting."""
    if workers is None:
        return None
    return max(1, usable_cpus() // workers)



def predict_archive(checkpoint: str | os.PathLike[str],
                    scenes: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                    options: PredictOptions | None = None, *, workers: int | None = None,
                    scheduler: str | None = None, overwrite: bool = False,
                    retries: int = DEFAULT_RETRIES) -> RunSummary:
    """Predict every scene on a Dask cluster into ``out_dir`` (see module doc)."""
    from tinyicenet.predict import geo
    from tinyicenet.predict.runner import model_info
    from tinyicenet.progress import stderr

    options = options or PredictOptions()
    if (workers is None) == (scheduler is None):
        raise ConfigError("give either --workers N or --scheduler ADDRESS, not both")
    if retries < 0:
        raise ConfigError(f"--retries must be >= 0, got {retries}")
    _check_backend(options.backend)
    paths = scene_paths(scenes)
    info = model_info(checkpoint)
    check_options(options, info)
    ckpt = Path(checkpoint).resolve()
    ckpt_sha = sha256_file(ckpt)
    ident = identity(ckpt_sha, info.name, options)
    out = check_writable(out_dir)
    quiet = options.quiet

    from tinyicenet.predict.submission import submission_scene_name
    names = [submission_scene_name(p) for p in paths]

    with folder_lock(out):
        manifest = Manifest.open(out, ident)
        prev = manifest.previous_identity
        if prev is not None and prev != ident and manifest.scenes and not overwrite:
            stderr.print(f"warning: {manifest.path} was made with another checkpoint or other "
                         "options: its scenes are redone", highlight=False, markup=False,
                         soft_wrap=True)
        todo = [i for i, (n, p) in enumerate(zip(names, paths))
                if overwrite or not manifest.is_complete(n, p)]
        skipped = len(paths) - len(todo)
        if skipped and not quiet:
            stderr.print(f"{skipped} of {len(paths)} scenes already complete in {out} "
                         "(manifest): skipped", highlight=False, markup=False)
        work = out / WORK_DIR
        shutil.rmtree(work, ignore_errors=True)  # attempts of an earlier, interrupted run
        run_info: dict[str, Any] = dict(manifest.data.get("run") or {})
        records: dict[int, SceneRecord] = {}
        try:
            if todo:
                work.mkdir()
                _run(todo, paths, names, out, work, manifest, records, run_info,
                     checkpoint=str(ckpt), sha256=ckpt_sha, options=options, workers=workers,
                     scheduler=scheduler, retries=retries)
        finally:
            with deferred_interrupt():
                manifest.write()
                shutil.rmtree(work, ignore_errors=True)

        summary = RunSummary(model=info.name, checkpoint=str(checkpoint),
                             backend=str(run_info.get("backend", options.backend)),
                             device=str(run_info.get("device", "")),
                             precision=str(run_info.get("precision", "")),
                             crs=options.crs or f"{geo.WGS84} GCPs")
        for i, (n, p) in enumerate(zip(names, paths)):
            if i in records:
                summary.scenes.append(records[i])
            else:  # skipped: complete from an earlier run
                summary.scenes.append(_record(manifest.scenes[n]["record"]))
        if summary.written:
            if options.package:
                _package(out, manifest, [s.scene for s in summary.written])
            summary.write_json(out / SUMMARY_NAME)
        manifest.write()
    return summary


def _run(todo: list[int], paths: list[Path], names: list[str], out: Path, work: Path,
         manifest: Manifest, records: dict[int, SceneRecord], run_info: dict[str, Any], *,
         checkpoint: str, sha256: str, options: PredictOptions, workers: int | None,
         scheduler: str | None, retries: int) -> None:
    from tinyicenet.archive import tasks

    many = len(paths) > 1
    opts = asdict(options)
    opts["quiet"] = True
    devices: set[str] = set(filter(None, str(run_info.get("device", "")).split(", ")))
    with open_client(workers, scheduler, retries=retries) as client, \
            ArchiveProgress(len(todo), quiet=options.quiet) as bar:
        outcomes = run_tasks(
            # absolute paths: workers elsewhere do not share this process's working folder
            client, tasks.predict_task, [str(paths[i].resolve()) for i in todo],
            names=[names[i] for i in todo], retries=retries,
            kwargs={"checkpoint": checkpoint, "sha256": sha256, "options": opts,
                    "work_dir": str(work.resolve()), "threads": _local_threads(workers)},
            on_attempt=lambda j, n: bar.scene_retried())
        try:
            _consume(outcomes, todo, paths, names, out, manifest, records, run_info, devices,
                     bar, many)
        finally:
            outcomes.close()  # cancels what has not finished (Ctrl-C, an error)


def _consume(outcomes: Any, todo: list[int], paths: list[Path], names: list[str], out: Path,
             manifest: Manifest, records: dict[int, SceneRecord], run_info: dict[str, Any],
             devices: set[str], bar: ArchiveProgress, many: bool) -> None:
    from tinyicenet.progress import stderr

    for oc in outcomes:
        i = todo[oc.index]
        name, path = names[i], paths[i]
        if oc.error is not None:
            rec = failure_record(path, _task_error(oc.error, path, oc.attempts))
        elif oc.value["status"] != "ok":
            rec = _record(oc.value["record"])
        else:
            rec = _record(oc.value["record"])
            try:
                with deferred_interrupt():
                    _publish(Path(oc.value["attempt"]), out, oc.value["files"])
                    manifest.record_ok(name, path, oc.value["files"], asdict(rec),
                                       oc.attempts, oc.value.get("worker"))
                    manifest.write(every_s=5.0)
            except (OSError, TinyIceNetError) as exc:  # e.g. the folder is not shared
                rec = failure_record(path, exc if isinstance(exc, TinyIceNetError) else
                                     TinyIceNetError(f"{path}: publishing its products "
                                                     f"failed: {exc}"))
        if rec.status == "ok":
            be = oc.value["backend"]
            devices.add(be["device"])
            run_info.update(backend=be["name"], precision=be["precision"],
                            device=", ".join(sorted(devices)))
            manifest.set("run", dict(run_info))
        if rec.status != "ok":
            with deferred_interrupt():
                manifest.record_failed(name, path, rec.error or "failed", oc.attempts,
                                       asdict(rec))
                manifest.write(every_s=5.0)
        rec.path = str(path)  # as given, like the plain loop's records
        records[i] = rec
        for w in rec.warnings:
            stderr.print(f"warning: {rec.scene}: {w}", highlight=False, markup=False,
                         soft_wrap=True)
        if rec.status != "ok":
            bar.scene_failed()
            if many:
                stderr.print(f"failed: {rec.error}", highlight=False, markup=False,
                             soft_wrap=True)
        else:
            bar.scene_done()
            bar.print(f"wrote {rec.scene}: {rec.working_shape[0]}x{rec.working_shape[1]} "
                      f"px in {rec.seconds['total']:.1f} s"
                      + (f" (attempt {oc.attempts})" if oc.attempts > 1 else ""))


def _task_error(exc: BaseException, path: Path, attempts: int) -> BaseException:
    """A task that ended in an exception after its retries -> the error to record."""
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover - distributed is there whenever tasks ran
        KilledWorker = ()  # noqa: N806
    if isinstance(exc, KilledWorker):
        return TinyIceNetError(f"{path}: the workers running this scene died {attempts} "
                               "time(s); given up (distributed.scheduler.allowed-failures)")
    if isinstance(exc, TinyIceNetError):
        return exc
    from tinyicenet.errors import DataError
    return DataError(f"{path}: failed after {attempts} attempt(s): "
                     f"{type(exc).__name__}: {exc}")


def _publish(attempt: Path, out: Path, files: dict[str, dict[str, Any]]) -> None:
    """Move one attempt's files into ``out`` (each rename atomic; the set under a held-back
    Ctrl-C), after checking they are the files the worker described."""
    for fname, want in files.items():
        src = attempt / fname
        if src.stat().st_size != want["bytes"]:
            raise TinyIceNetError(f"{src}: {src.stat().st_size} bytes on the client, the worker "
                                  f"wrote {want['bytes']} (is the output folder shared?)")
    for fname in files:
        os.replace(attempt / fname, out / fname)
    with contextlib.suppress(OSError):
        attempt.rmdir()


def _package(out: Path, manifest: Manifest, scenes: list[str]) -> None:
    """``upload_package.nc`` from the scenes' submission files, unless the manifest says the
    existing one was built from exactly these files (a re-run that redid nothing)."""
    from tinyicenet.predict.pipeline import SUBMISSION_SUFFIX
    from tinyicenet.predict.submission import merge_submissions

    parts = [f"{s}{SUBMISSION_SUFFIX}" for s in scenes]
    sources = {p: manifest.scenes[s]["files"][p]["sha256"] for s, p in zip(scenes, parts)}
    pkg = out / PACKAGE_NAME
    was = manifest.data.get("package") or {}
    if was.get("sources") == sources and pkg.exists():
        with contextlib.suppress(OSError):
            if file_entry(pkg) == {"bytes": was.get("bytes"), "sha256": was.get("sha256")}:
                return
    merge_submissions(pkg, [out / p for p in parts])
    manifest.set("package", {"file": PACKAGE_NAME, "sources": sources, **file_entry(pkg)})

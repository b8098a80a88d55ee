"""Archive predict/evaluate on a real Dask cluster of local processes (127.0.0.1 only).

A scheduler and two workers are started as separate processes (``dask scheduler`` /
``dask worker``, as a user or dask-jobqueue would). The first task to finish its products makes
its worker process exit before replying (the test hook of :mod:`tinyicenet.archive.tasks`): a
worker lost mid-scene. The oracle is the plain single-process ``predict_scenes`` /
``evaluate`` on the same files: every product must exist exactly once and equal it byte for
byte (NetCDF also value for value); a re-run must recompute nothing; a damaged product must be
redone alone; distributed evaluation must equal the single-process one exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyicenet.archive.manifest import MANIFEST_NAME
from tinyicenet.archive.predict import WORK_DIR, predict_archive
from tinyicenet.archive.tasks import EXIT_ONCE_ENV
from tinyicenet.predict.pipeline import PredictOptions, predict_scenes

# ~60 s of CPU over all processes; a loaded 2-core machine stretches it, hence slow (still run)
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

BACKEND = "integer"  # exact integer arithmetic: products comparable byte for byte
N_SCENES = 4
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Checkpoint, scenes and the single-process reference products."""
    import torch

    from tinyicenet.data.synth import write_scenes
    from tinyicenet.models import calibrate, create_model, save_checkpoint

    root = tmp_path_factory.mktemp("archive")
    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4").eval()
    calibrate(model, [torch.randn(2, 2, 64, 64) for _ in range(3)])
    ckpt = save_checkpoint(root / "w4a4.pt", model,
                           variables=["nersc_sar_primary", "nersc_sar_secondary"])
    scenes = root / "scenes"
    write_scenes(scenes, N_SCENES, size=(160, 160), seed=3)
    broken = root / "bad" / "20990101T000000_broken_prep.nc"
    broken.parent.mkdir()
    broken.write_bytes(b"not a NetCDF file")
    ref = root / "reference"
    summary = predict_scenes(ckpt, [scenes], ref, PredictOptions(backend=BACKEND, quiet=True))
    assert len(summary.written) == N_SCENES
    return {"root": root, "ckpt": ckpt, "scenes": scenes, "ref": ref, "broken": broken}


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """End a process this test started, and its children (its own session)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # a worker child left behind by its nanny


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory):
    """``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1; yields the address.

    The scenes and the reference are made while the workers start (both take seconds)."""
    root: Path = tmp_path_factory.mktemp("cluster")
    marker = root / "worker-exited"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env[EXIT_ONCE_ENV] = str(marker)
    env.pop("TINYICENET_DEBUG", None)
    sched_file = root / "scheduler.json"
    procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--no-dashboard", "--scheduler-file", str(sched_file)],
                    root / "scheduler.log", env)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            assert procs[0].poll() is None, (root / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "scheduler did not start"
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for name in ("a", "b"):
            procs.append(_start(["distributed.cli.dask_worker", "--scheduler-file",
                                 str(sched_file), "--host", "127.0.0.1", "--nthreads", "1",
                                 "--nworkers", "1", "--name", name, "--no-dashboard",
                                 "--preload", "tinyicenet.archive.tasks"],
                                root / f"worker-{name}.log", env))
        request.getfixturevalue("archive")
        from distributed import Client
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
        yield {"address": address, "marker": marker, "root": root, "file": str(sched_file)}
    finally:
        for p in reversed(procs):
            _stop(p)


def _products(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir()}


def _same_netcdf(a: Path, b: Path) -> None:
    import xarray as xr
    with xr.open_dataset(a) as da, xr.open_dataset(b) as db:
        assert sorted(da.data_vars) == sorted(db.data_vars)
        for v in da.data_vars:
            np.testing.assert_array_equal(da[v].values, db[v].values)


def _assert_equal_to_reference(out: Path, ref: Path) -> None:
    got, want = _products(out), _products(ref)
    # every product exactly once; no attempt folders, no temporary files left
    assert set(got) == set(want) | {MANIFEST_NAME}, sorted(set(got) ^ set(want))
    for name, p in want.items():
        if name == "summary.json":  # timings differ by nature
            continue
        if name.endswith(".nc"):
            _same_netcdf(got[name], p)
        assert got[name].read_bytes() == p.read_bytes(), name


def test_predict_survives_a_lost_worker_and_resumes(cluster, archive):
    out = archive["root"] / "out"
    opts = PredictOptions(backend=BACKEND, quiet=True)
    summary = predict_archive(archive["ckpt"], [archive["scenes"], archive["broken"]], out,
                              opts, scheduler=cluster["address"])
    # the bad scene is reported with its error; the others complete
    assert len(summary.written) == N_SCENES and len(summary.failed) == 1
    assert summary.failed[0].error.startswith(str(archive["broken"]))
    assert summary.scenes[-1].status == "failed"  # in input order
    # the hook really killed a worker mid-scene (after its products, before its reply)
    assert cluster["marker"].exists()
    assert int(cluster["marker"].read_text()) > 0  # the pid of the worker process that exited
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    entries = manifest["scenes"]
    bad = entries.pop("20990101T000000_broken")
    assert bad["status"] == "failed" and bad["error"] == summary.failed[0].error
    assert bad["attempts"] == 1  # a bad scene is not retried: it would fail the same way
    assert len(entries) == N_SCENES and all(e["status"] == "ok" for e in entries.values())
    assert sum(e["attempts"] for e in entries.values()) > N_SCENES  # one scene ran twice
    assert not (out / WORK_DIR).exists()
    _assert_equal_to_reference(out, archive["ref"])
    # no cluster-wide lock was taken for a file: each attempt writes only its own folder
    from distributed import Client

    def semaphores(dask_scheduler) -> list[str]:  # nested: pickled by value, not by module
        return sorted(dask_scheduler.extensions["semaphores"].metrics["acquire_total"])

    with Client(cluster["address"], timeout=30) as client:
        locked = client.run_on_scheduler(semaphores)
    assert not [n for n in locked if str(archive["root"]) in n], locked
    # the manifest's checksums are those of the files
    import hashlib
    for e in entries.values():
        for fname, f in e["files"].items():
            data = (out / fname).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (f["bytes"], f["sha256"])

    # a re-run recomputes nothing: no file is touched, the manifest's entries stay as they are
    before = {n: p.stat().st_mtime_ns for n, p in _products(out).items() if n != MANIFEST_NAME}
    again = predict_archive(archive["ckpt"], [archive["scenes"]], out, opts,
                            scheduler=cluster["address"])
    assert len(again.written) == N_SCENES
    after = {n: p.stat().st_mtime_ns for n, p in _products(out).items() if n != MANIFEST_NAME}
    assert {n: t for n, t in after.items() if n != "summary.json"} == \
        {n: t for n, t in before.items() if n != "summary.json"}
    now = json.loads((out / MANIFEST_NAME).read_text())["scenes"]
    assert now.pop("20990101T000000_broken") == bad  # a scene left out is kept as it was
    assert now == entries

    # a damaged product is found by its checksum and only its scene is redone
    victim = sorted(out.glob("*_SOD.tif"))[0]
    scene = victim.name.removesuffix("_SOD.tif")
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 0xFF
    victim.write_bytes(bytes(raw))
    predict_archive(archive["ckpt"], [archive["scenes"]], out, opts,
                    scheduler=cluster["file"])  # the scheduler file works as an address
    redone = {n for n, p in _products(out).items()
              if n in before and p.stat().st_mtime_ns != before[n]}
    assert {n for n in redone if n not in ("summary.json", "upload_package.nc")} == \
        {f"{scene}_SOD.tif", f"{scene}_autoice.nc", f"{scene}_quicklook.png"}
    _assert_equal_to_reference(out, archive["ref"])


def test_distributed_evaluate_equals_single_process(cluster, archive, monkeypatch):
    from tinyicenet.archive.evaluate import evaluate_archive
    from tinyicenet.evaluate import evaluate

    monkeypatch.chdir(archive["root"])  # relative paths: the workers' working folder differs
    kwargs = {"tile": 64, "halo": 16, "device": "cpu"}
    plain = evaluate("w4a4.pt", ["scenes"], **kwargs)
    dist = evaluate_archive("w4a4.pt", ["scenes"], scheduler=cluster["address"], **kwargs)
    plain.pop("date")
    dist.pop("date")
    assert dist == plain  # every score, matrix and per-scene record, to the last digit
    assert sum(plain["metrics"]["SOD"]["confusion"][i][i] for i in range(6)) > 0

    # each worker process loaded each model (predict's backend, evaluate's) at most once
    from distributed import Client

    from tinyicenet.archive.tasks import model_loads
    with Client(cluster["address"], timeout=30) as client:
        loads = client.run(model_loads)
    # (the worker that exited may still be restarting: at least one answers)
    assert loads and all(n <= 2 for n in loads.values()), loads


def _cli(*args, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("TINYICENET_DEBUG", EXIT_ONCE_ENV)}
    return subprocess.Popen([sys.executable, "-m", "tinyicenet", "predict", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO, start_new_session=True, **popen)


def test_ctrl_c_leaves_complete_scenes_and_a_manifest_to_resume_from(cluster, archive):
    """The CLI on a local cluster (--workers 1), interrupted like a terminal's Ctrl-C (SIGINT to
    the whole process group) as soon as the first scene is published, then resumed (on the
    running cluster, to save a second start)."""
    out = archive["root"] / "interrupted"
    args = (archive["ckpt"], archive["scenes"], "--out", out, "-b", BACKEND, "--workers", "1")
    # a terminal's program hears Ctrl-C even where the test runner was started with SIGINT
    # ignored (a background job of a non-interactive shell), which its children would inherit
    proc = _cli(*args, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("*_SOD.tif")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no scene published in time"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode == 130, err  # typer's exit code for Ctrl-C
    assert "Traceback" not in err, err  # the workers ignore the signal; the client stops them
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    done = {n for n, e in manifest["scenes"].items() if e["status"] == "ok"}
    assert 1 <= len(done) < N_SCENES, "the run was not interrupted in the middle"
    # only whole scenes, each vouched for by the manifest; nothing temporary left
    names = {p.name for p in out.iterdir()}
    assert names == {MANIFEST_NAME} | {f for n in done for f in manifest["scenes"][n]["files"]}
    ref = archive["ref"]
    for n in done:
        for f in manifest["scenes"][n]["files"]:
            assert (out / f).read_bytes() == (ref / f).read_bytes(), f
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != MANIFEST_NAME}

    again = predict_archive(archive["ckpt"], [archive["scenes"]], out,
                            PredictOptions(backend=BACKEND, quiet=True),
                            scheduler=cluster["address"])
    assert len(again.written) == N_SCENES
    _assert_equal_to_reference(out, ref)
    assert {n: (out / n).stat().st_mtime_ns for n in before} == before  # not redone

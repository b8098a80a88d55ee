"""Archive engine pieces without a cluster: the manifest's completeness test, the folder lock,
held-back Ctrl-C, GPU choice per worker, CLI option errors."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tinyicenet.archive.engine import deferred_interrupt
from tinyicenet.archive.manifest import MANIFEST_NAME, Manifest, file_entry, folder_lock
from tinyicenet.archive.tasks import gpu_index
from tinyicenet.errors import ConfigError, DataError

IDENT = {"checkpoint_sha256": "ab" * 32, "model": "tinyicenet_w4a4", "options": {"tile": 256}}


@pytest.fixture
def folder(tmp_path):
    """An output folder with one scene's two products recorded in a written manifest."""
    scene = tmp_path / "in" / "s1_prep.nc"
    scene.parent.mkdir()
    scene.write_bytes(b"scene")
    out = tmp_path / "out"
    out.mkdir()
    for name, data in (("s1_SOD.tif", b"tif bytes"), ("s1_autoice.nc", b"nc bytes")):
        (out / name).write_bytes(data)
    m = Manifest.open(out, IDENT)
    m.record_ok("s1", scene, {n: file_entry(out / n) for n in ("s1_SOD.tif", "s1_autoice.nc")},
                {"scene": "s1"}, attempts=1)
    assert m.write()
    return out, scene


def test_a_recorded_scene_is_complete_until_anything_about_it_changes(folder):
    out, scene = folder
    assert Manifest.open(out, IDENT).is_complete("s1", scene)
    assert not Manifest.open(out, IDENT).is_complete("s2", scene)  # never recorded
    # another checkpoint or other options
    assert not Manifest.open(out, {**IDENT, "options": {"tile": 128}}).is_complete("s1", scene)
    # a product damaged in place, same size: only the checksum can tell
    tif = out / "s1_SOD.tif"
    tif.write_bytes(b"tif bytez")
    assert not Manifest.open(out, IDENT).is_complete("s1", scene)
    tif.write_bytes(b"tif bytes")
    assert Manifest.open(out, IDENT).is_complete("s1", scene)
    # a missing product
    (out / "s1_autoice.nc").rename(out / "moved.nc")
    assert not Manifest.open(out, IDENT).is_complete("s1", scene)
    (out / "moved.nc").rename(out / "s1_autoice.nc")
    # a rewritten input scene
    st = scene.stat()
    os.utime(scene, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not Manifest.open(out, IDENT).is_complete("s1", scene)


def test_a_failed_scene_is_not_complete(folder):
    out, scene = folder
    m = Manifest.open(out, IDENT)
    m.record_failed("s1", scene, "s1_prep.nc: broken", attempts=3)
    m.write()
    data = json.loads((out / MANIFEST_NAME).read_text())
    assert data["scenes"]["s1"]["status"] == "failed"
    assert data["scenes"]["s1"]["error"] == "s1_prep.nc: broken"
    assert not Manifest.open(out, IDENT).is_complete("s1", scene)


def test_throttled_writes_keep_the_change_for_the_next_write(folder):
    out, scene = folder
    m = Manifest.open(out, IDENT)
    m.write()
    m.record_failed("s9", scene, "x", attempts=1)
    assert m.write() is True  # first write of this object: not throttled
    m.record_failed("s8", scene, "y", attempts=1)
    assert m.write(every_s=3600) is False  # throttled, still dirty
    assert "s8" not in json.loads((out / MANIFEST_NAME).read_text())["scenes"]
    assert m.write() is True
    assert "s8" in json.loads((out / MANIFEST_NAME).read_text())["scenes"]


@pytest.mark.parametrize("text", ["{not json", '{"schema": "other"}',
                                  '{"schema": "tinyicenet-archive-manifest", '
                                  '"schema_version": 99, "scenes": {}}'])
def test_a_bad_manifest_is_one_clear_error(tmp_path, text):
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(DataError, match=MANIFEST_NAME):
        Manifest.open(tmp_path, IDENT)


def test_one_client_per_output_folder(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(ConfigError, match="another tinyicenet run"):
            with folder_lock(tmp_path):
                pass
    with folder_lock(tmp_path):  # released again
        pass


def test_ctrl_c_is_held_back_until_the_block_is_done():
    # Python's own handler, as in a terminal (a background test run may have SIGINT ignored)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    steps = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred_interrupt():
                os.kill(os.getpid(), signal.SIGINT)
                steps.append("after the signal")
        assert steps == ["after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_gpu_per_local_worker():
    assert [gpu_index(i, 2) for i in range(4)] == [0, 1, 0, 1]
    assert gpu_index("worker-a", 4) is None  # hand-started worker: the GPU it was given
    assert gpu_index(3, 1) is None


def _cli(capsys, *args):
    from tinyicenet.cli import main
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code, capsys.readouterr().err


def test_cli_option_errors(capsys, tmp_path):
    code, err = _cli(capsys, "predict", tmp_path / "m.pt", tmp_path, "--out", tmp_path / "o",
                     "--overwrite")
    assert code == 2 and err.startswith("error: --overwrite has no effect with no --workers")
    code, err = _cli(capsys, "predict", tmp_path / "m.pt", tmp_path, "--out", tmp_path / "o",
                     "--retries", "3", "--overwrite")
    assert code == 2 and err.startswith("error: --retries, --overwrite have no effect with no "
                                        "--workers or --scheduler"), err
    code, err = _cli(capsys, "predict", tmp_path / "m.pt", tmp_path, "--out", tmp_path / "o",
                     "--resolution", "200")
    assert code == 2 and err.startswith("error: --resolution has no effect with no --crs"), err
    assert not (tmp_path / "o").exists()
    code, err = _cli(capsys, "predict", tmp_path / "m.pt", tmp_path, "--out", tmp_path / "o",
                     "--workers", "1", "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2 and err.startswith("error: give either --workers")
    assert not (tmp_path / "o").exists()


def test_merged_per_scene_metrics_equal_the_pooled_pixels():
    """What the engine relies on: merging per-scene ChartMetrics gives exactly the scores of
    all pixels pooled (SIC R^2 included), which averaging per-scene scores does not."""
    import numpy as np
    from sklearn.metrics import f1_score, r2_score

    from tinyicenet.metrics import ChartMetrics

    rng = np.random.default_rng(7)
    sizes = (500, 1300, 90)
    refs = {c: [rng.integers(0, k, n) for n in sizes] for c, k in (("SIC", 11), ("SOD", 6))}
    preds = {c: [np.clip(r + rng.integers(-2, 3, r.size), 0, 10 if c == "SIC" else 5)
                 for r in refs[c]] for c in refs}
    merged, pooled = ChartMetrics(("SIC", "SOD")), ChartMetrics(("SIC", "SOD"))
    per_scene_r2 = []
    for i in range(len(sizes)):
        own = ChartMetrics(("SIC", "SOD"))
        for c in refs:
            own.update(c, refs[c][i], preds[c][i])
        per_scene_r2.append(own.score("SIC"))
        merged.merge(own)
    for c in refs:
        pooled.update(c, np.concatenate(refs[c]), np.concatenate(preds[c]))
    assert merged.summary() == pooled.summary()  # exact, every digit
    y, p = np.concatenate(refs["SIC"]), np.concatenate(preds["SIC"])
    assert merged.score("SIC") == pytest.approx(100 * r2_score(y, p), abs=1e-9)
    y, p = np.concatenate(refs["SOD"]), np.concatenate(preds["SOD"])
    assert merged.score("SOD") == pytest.approx(100 * f1_score(y, p, average="weighted"),
                                                abs=1e-9)
    assert abs(np.mean(per_scene_r2) - merged.score("SIC")) > 1e-6

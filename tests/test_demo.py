"""The demo: output-folder rules, and one small end-to-end run of every step."""

import json
import subprocess
import sys

import pytest

from tinyicenet.demo import DemoOptions, run_demo


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tinyicenet", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_demo_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = _cli("demo", "--out", str(tmp_path), "--quiet")
    assert r.returncode != 0
    assert r.stderr.strip().startswith("error:") and "not written by" in r.stderr
    assert "Traceback" not in r.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(DemoOptions(out=out, train_scenes=3, test_scenes=1, size=640,
                                  hls_tile=16, bench_window_s=0.5, quiet=True,
                                  train_overrides=("train.float_epochs=1", "train.qat_epochs=1",
                                                   "train.steps_per_epoch=4")))
    marker = json.loads((out / "demo.json").read_text())
    assert marker["status"] == "done" and len(marker["steps_s"]) == 8
    assert result.report.is_file() and (out / "report" / "report.md").is_file()
    assert result.facts["csim_differing_values"] == 0
    assert result.facts["csim_argmax_agreement"] == 1.0
    assert 0.0 <= result.facts["sod_f1_weighted"] <= 100.0
    assert len(list((out / "products").rglob("*.tif"))) == 1
    targets = {json.loads(p.read_text())["target"] for p in (out / "bench").glob("*.json")}
    assert targets == {"cpu", "fpga"}
    # a second run replaces the first demo's folder instead of refusing it
    (out / "report" / "stale.txt").write_text("old")
    run_demo(DemoOptions(out=out, train_scenes=3, test_scenes=1, size=640, hls=False,
                         bench_window_s=0.5, quiet=True,
                         train_overrides=("train.float_epochs=1", "train.qat_epochs=1",
                                          "train.steps_per_epoch=2")))
    assert not (out / "report" / "stale.txt").exists()

"""The demo: output-folder rules, and one small end-to-end run of every step."""

import json
import subprocess
import sys

import pytest

from tinyicenet.demo import DemoOptions, attach_csim, run_demo


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


def _record(tile):
    return {"tile": [tile, tile], "method": {"notes": ["modelled"]},
            "provenance": {"verification": None}}


def test_a_csim_verifies_only_the_design_it_ran():
    from types import SimpleNamespace

    check = SimpleNamespace(differing=0, argmax_agreement=1.0, tiles=3)
    big = _record(256)
    attach_csim(big, check, 32)
    assert big["provenance"]["verification"] is None      # 256x256 was never simulated
    assert "256x256 design is modelled, not simulated" in big["method"]["notes"][-1]
    assert "C simulation at 32x32" in big["method"]["notes"][-1]
    same = _record(32)
    attach_csim(same, check, 32)
    assert same["provenance"]["verification"].startswith("hls4ml C simulation at 32x32")
    assert same["method"]["notes"] == ["modelled"]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """One small demo run of every step, into the folder an interrupted earlier demo left (its
    marker, stale files, a stale folder): the run replaces it instead of refusing it."""
    out = tmp_path / "demo"
    (out / "report").mkdir(parents=True)
    (out / "demo.json").write_text(json.dumps({"status": "running"}) + "\n")
    (out / "report" / "stale.txt").write_text("old")
    (out / "scratch" / "old").mkdir(parents=True)  # no step writes here
    (out / "notes.txt").write_text("from the earlier demo")
    result = run_demo(DemoOptions(out=out, train_scenes=3, test_scenes=1, size=640,
                                  hls_tile=16, bench_window_s=0.5, quiet=True,
                                  train_overrides=("train.float_epochs=1", "train.qat_epochs=1",
                                                   "train.steps_per_epoch=4"),
                                  sweep_max_evaluations=2))
    marker = json.loads((out / "demo.json").read_text())
    assert marker["status"] == "done" and len(marker["steps_s"]) == 9
    # the small sweep: two configurations trained, its chart and sentence in the report
    sweep = json.loads((out / "sweep" / "sweep.json").read_text())
    assert result.facts["sweep_trained"] == sweep["search"]["evaluations"] == 2
    assert sweep["accuracy"]["data"] == "synthetic" and sweep["fpga"]["provenance"] == "modelled"
    assert all(c["energy_mj_per_scene"] <= 400.0 for c in sweep["configurations"]
               if c["status"] == "evaluated")
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["sweeps"][0]["chart"] == "sweep.png"
    assert (out / "report" / "sweep.png").is_file()
    assert report["sweeps"][0]["sentence"] in (out / "report" / "report.md").read_text()
    assert result.report.is_file() and (out / "report" / "report.md").is_file()
    assert result.facts["csim_differing_values"] == 0
    assert result.facts["csim_argmax_agreement"] == 1.0
    assert 0.0 <= result.facts["sod_f1_weighted"] <= 100.0
    assert len(list((out / "products").rglob("*.tif"))) == 1
    records = [json.loads(p.read_text()) for p in (out / "bench").glob("*.json")]
    assert {r["target"] for r in records} == {"cpu", "fpga"}
    for r in records:   # the 16x16 C simulation is not the modelled 256x256 design's check
        if r["target"] == "fpga" and r["tile"] != [16, 16]:
            assert "16x16" not in (r["provenance"]["verification"] or "")
    # the earlier demo's folder was replaced, not refused or merged into
    assert not (out / "report" / "stale.txt").exists() and not (out / "notes.txt").exists()
    assert not (out / "scratch").exists()

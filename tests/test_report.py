"""The planners' report: content, figures, orbit and downlink arithmetic, bad input, rendering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinyicenet.bench.harness import BenchConfig, run_bench
from tinyicenet.bench.meters import open_meter
from tinyicenet.bench.meters.base import TraceMeter
from tinyicenet.bench.modelled import modelled_result
from tinyicenet.bench.schema import write_results
from tinyicenet.bench.units import ew_scene
from tinyicenet.bench.workload import CallableWorkload
from tinyicenet.errors import ConfigError, DataError, ResultError
from tinyicenet.report import OrbitPlan, write_report
from tinyicenet.report.accuracy import load_accuracy, parse_accuracy
from tinyicenet.report.charts import pareto_front
from tinyicenet.report.planning import downlink, orbit_energy

QUEUED = {"throughput": "queued", "latency": "synchronised"}
CFG = BenchConfig(window_s=0.12, repetitions=3, warmup_s=0.0, warmup_calls=1, idle_s=0.08)


class TwoLevelMeter(TraceMeter):
    name = "scripted"

    def __init__(self, state, idle_w, busy_w):
        self.state, self.idle_w, self.busy_w = state, idle_w, busy_w
        super().__init__(interval_s=0.01)

    def _read_power(self):
        return {"rail": self.busy_w if self.state["busy"] else self.idle_w}


def measure(device, backend, batch, idle_w, busy_w, sleep_s, meter=None, model="tinyicenet_w4a4"):
    import time
    state = {"busy": False}

    def step():
        state["busy"] = True
        time.sleep(sleep_s)

    work = CallableWorkload(step, batch=batch, tile=(256, 256), backend=backend, device=device,
                            model=model, precision="fp32")
    return run_bench(work, meter or TwoLevelMeter(state, idle_w, busy_w), CFG, target="cpu",
                     scene=ew_scene())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    fast = measure("Fast CPU", "torch", 4, 5.0, 25.0, 0.004)
    slow = measure("Slow CPU", "torch", 1, 0.2, 0.5, 0.01)   # least energy per tile
    blind = measure("Blind CPU", "onnxruntime", 1, 0, 0, 0.002, meter=open_meter("none"))
    fpga = modelled_result(target="fpga", backend="hls-model", device="ZCU102 (modelled)",
                           model="tinyicenet_w4a4", precision="w4a4", scene=ew_scene(),
                           tiles_per_s=40.0, power_w=0.05, idle_power_w=0.04,
                           assumptions=["200 MHz", "II from the HLS schedule"],
                           method="hls schedule", verification="C simulation equals intref")
    for record in (fast, slow, blind, fpga):   # one timing definition for the comparison
        record["timing"] = dict(QUEUED)
    # the power model's range (HELPERS conventions): nominal 0.05 W, 0.03-0.08 W
    fpga["energy_mj_range"] = {key: {"low": fpga["energy_mj"][f"{key}_gross"] * 0.6,
                                     "high": fpga["energy_mj"][f"{key}_gross"] * 1.6}
                               for key in ("per_tile", "per_scene")}
    fpga["power_w"].update(low=0.03, high=0.08)
    fpga["provenance"]["energy_model"] = "test-power-model v0"
    write_results(d / "fast.json", fast)
    write_results(d / "two.json", [slow, blind])
    write_results(d / "fpga.json", fpga)
    acc = d / "accuracy.json"
    acc.write_text(json.dumps({"schema": "tinyicenet-accuracy", "schema_version": 1, "results": [
        {"model": "tinyicenet_w4a4", "precision": "w4a4", "skips": True, "sod_f1": 0.70,
         "data": "synthetic"},
        {"model": "tinyicenet_w8a8", "precision": "w8a8", "skips": True, "sod_f1": 0.74}]}))
    return {"dir": d, "fast": fast, "slow": slow, "blind": blind, "fpga": fpga, "acc": acc}


def decodes(path: Path, min_w: int = 300, min_h: int = 150) -> None:
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG" and img.size[0] >= min_w and img.size[1] >= min_h
        pixels = np.asarray(img.convert("L"), dtype=float)
    assert pixels.std() > 5        # something is drawn


def test_report_files_content_and_figures(inputs, tmp_path):
    d = inputs["dir"]
    html = write_report([d / "fast.json", d / "two.json", d / "fpga.json"], tmp_path / "rep",
                        accuracy_paths=[inputs["acc"]])
    out = html.parent
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.html", "report.md", "report.json", "fps.png", "energy.png", "pareto.png"])
    for png in ("fps.png", "energy.png", "pareto.png"):
        decodes(out / png)
    report = json.loads((out / "report.json").read_text())
    labels = [r["label"] for r in report["platforms"]]
    assert len(labels) == 4 and labels[0].startswith("ZCU102")    # fpga sorts before cpu
    fpga = report["platforms"][0]
    assert fpga["kind"] == "modelled" and fpga["energy_kind"] == "modelled"
    page = html.read_text()
    for name in ("fps.png", "energy.png", "pareto.png"):
        assert f"src='{name}'" in page
    assert "NVIDIA RTX 4090 (paper)" in page and "764.8 fps*" in page
    assert "Jetson AGX Xavier (paper)" in page and "1,218.5*" in page
    assert "<tr class=\"modelled\">" in page and "tag modelled" in page
    # the meterless result is a marked gap, not a number
    assert any("Blind CPU" in g["reason"] and "--meter none" in g["reason"]
               for g in report["gaps"])
    blind = next(r for r in report["platforms"] if r["device"] == "Blind CPU")
    assert blind["energy_scene_mj"] is None and "measured, energy unavailable" in page
    verdict = report["verdict"]
    assert "\n" not in verdict and verdict.endswith(".")
    # the platform that can fly comes first, with its modelled range; a ground machine is
    # only a reference
    assert verdict.startswith("Of the platforms that can fly, ZCU102 (modelled)")
    assert "modelled)" in verdict and "\u2013" in verdict
    assert verdict.index("ZCU102") < verdict.index("for reference, the ground CPU Slow CPU")
    assert "99.8 %" in verdict and "SAR focusing" in verdict
    md = (out / "report.md").read_text()
    assert verdict in md and "![throughput](fps.png)" in md
    # modelled energy shows low-high, each row its timing, each accuracy its data
    e = fpga["energy_scene_mj"]
    assert f"{e:.3g} ({e * 0.6:.3g}\u2013{e * 1.6:.3g})" in md
    assert "| queued / synchronised |" in md
    assert "| tinyicenet_w4a4 | w4a4 | yes | 70.0 | generated |" in md
    assert "| tinyicenet_w8a8 | w8a8 | yes | 74.0 | not stated |" in md
    assert "energy and time are not counted" in md
    # Pareto points join accuracy with bench results of the same model
    assert {(p["precision"], p["target"]) for p in report["pareto"]} == {("w4a4", "cpu"),
                                                                        ("w4a4", "fpga")}


def test_orbit_and_downlink_arithmetic(inputs):
    r = inputs["fast"]
    plan = OrbitPlan(scenes_per_orbit=10, orbit_period_min=100, duty_cycle=0.5)
    o = orbit_energy(r, plan)
    e_scene, sps, idle = (r["energy_mj"]["per_scene_gross"], r["scenes_per_s"],
                          r["power_w"]["idle"])
    expected = 10 * e_scene / 1e3 + idle * (0.5 * 6000 - 10 / sps)
    assert o["orbit_j"] == pytest.approx(expected)
    assert o["day_j"] == pytest.approx(expected * 86400 / 6000)
    assert o["keeps_up"] and o["includes_idle"]
    assert orbit_energy(inputs["blind"], plan) is None
    link = downlink((1000, 1000), 400.0, "grd")
    assert link.raw_bytes == 10000 * 10000 * 2 * 2 and link.product_bytes == 1e6
    assert downlink((1000, 1000), 400.0, "input").raw_bytes == 1000 * 1000 * 2 * 4
    with pytest.raises(ConfigError, match="raw downlink mode"):
        downlink((10, 10), 400.0, "l0")
    with pytest.raises(ConfigError, match="duty cycle"):
        OrbitPlan(duty_cycle=0).check()
    with pytest.raises(ConfigError, match="orbit period nan: must be a finite number"):
        OrbitPlan(orbit_period_min=float("nan")).check()
    with pytest.raises(ConfigError, match="scenes per orbit inf"):
        OrbitPlan(scenes_per_orbit=float("inf")).check()


def test_compressed_product_size_is_measured(tmp_path):
    classes = np.zeros((500, 500), np.uint8)
    classes[:, 250:] = 3                      # two floes: compresses very well
    np.save(tmp_path / "sod.npy", classes)
    link = downlink((1000, 1000), 400.0, "grd", tmp_path / "sod.npy")
    import zlib
    measured = len(zlib.compress(classes.tobytes(), 9)) * 4   # scaled to 1000 x 1000
    assert link.product_compressed_bytes == pytest.approx(measured)
    assert link.product_compressed_bytes < 1e4 and "scaled" in link.compressed_source
    with pytest.raises(DataError, match="not found"):
        downlink((10, 10), 400.0, "grd", tmp_path / "none.npy")


def test_bad_inputs_leave_no_report(inputs, tmp_path):
    d = inputs["dir"]
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema": "tinyicenet-bench", "tar')
    with pytest.raises(ResultError, match="corrupt.json: corrupt result file"):
        write_report([d / "fast.json", corrupt], tmp_path / "rep")
    newer = tmp_path / "v2.json"
    newer.write_text(json.dumps(dict(inputs["fast"], schema_version=2)))
    with pytest.raises(ResultError, match="schema_version 2"):
        write_report([newer], tmp_path / "rep")
    assert not (tmp_path / "rep").exists()
    with pytest.raises(ResultError, match="no usable bench results"):
        write_report([inputs["acc"]], tmp_path / "rep")
    with pytest.raises(ResultError, match="fast.json: given with --accuracy but holds bench "):
        write_report([d / "two.json"], tmp_path / "rep", accuracy_paths=[d / "fast.json"])
    assert not (tmp_path / "rep").exists()
    # skip_invalid turns the bad files into listed gaps
    html = write_report([d / "fast.json", corrupt, newer], tmp_path / "rep", skip_invalid=True)
    gaps = json.loads((html.parent / "report.json").read_text())["gaps"]
    assert {g["source"] for g in gaps} >= {"corrupt.json", "v2.json"}
    assert "pareto.png" not in {p.name for p in html.parent.iterdir()}


def test_failure_while_writing_leaves_nothing_behind(inputs, tmp_path, monkeypatch):
    from tinyicenet.report import render

    def broken(report):
        raise RuntimeError("disk full")

    monkeypatch.setattr(render, "html", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report([inputs["dir"] / "fast.json"], tmp_path / "rep")
    assert list(tmp_path.iterdir()) == []      # neither the report nor a temporary folder


def test_out_dir_rules(inputs, tmp_path):
    fast = inputs["dir"] / "fast.json"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("keep me")
    with pytest.raises(ConfigError, match="holds other files"):
        write_report([fast], busy)
    assert (busy / "thesis.tex").read_text() == "keep me"
    from tinyicenet.errors import OutputError
    for bad, message in ((busy / "thesis.tex", "thesis.tex exists and is not a folder"),
                         (busy / "thesis.tex" / "rep", "thesis.tex is a file, not a folder")):
        with pytest.raises(OutputError, match=message):
            write_report([fast], bad)
    assert (busy / "thesis.tex").read_text() == "keep me"
    first = write_report([fast], tmp_path / "rep")
    again = write_report([inputs["dir"] / "two.json"], tmp_path / "rep")   # replaces a report
    assert first == again
    platforms = json.loads((again.parent / "report.json").read_text())["platforms"]
    assert {p["device"] for p in platforms} == {"Slow CPU", "Blind CPU"}


def test_accuracy_format(tmp_path):
    entries = parse_accuracy([{"model": "tinyicenet_w3a5_noskip", "precision": "w3a5",
                               "skips": False, "sod_f1": 0.61}], "x")
    assert entries[0]["weight_bits"] == 3 and entries[0]["act_bits"] == 5
    with pytest.raises(ResultError, match="fraction, not a percentage"):
        parse_accuracy([{"model": "m", "precision": "fp32", "skips": True, "sod_f1": 75.2}], "x")
    with pytest.raises(ResultError, match="needs 'skips'"):
        parse_accuracy([{"model": "m", "precision": "fp32", "sod_f1": 0.7}], "x")
    with pytest.raises(ResultError, match="schema_version 3"):
        parse_accuracy({"schema": "tinyicenet-accuracy", "schema_version": 3, "results": []}, "x")
    (tmp_path / "a.json").write_text("[{")
    with pytest.raises(ResultError, match="corrupt accuracy file"):
        load_accuracy(tmp_path / "a.json")
    points = [{"energy_mj": 10, "sod_f1": 0.7}, {"energy_mj": 20, "sod_f1": 0.65},
              {"energy_mj": 30, "sod_f1": 0.75}, {"energy_mj": 5, "sod_f1": 0.5}]
    assert [p["energy_mj"] for p in pareto_front(points)] == [5, 10, 30]


def test_report_cli(inputs, tmp_path):
    out = tmp_path / "rep"
    proc = subprocess.run([sys.executable, "-m", "tinyicenet", "report", str(inputs["dir"]),
                           "--out", str(out), "--scenes-per-orbit", "12", "--duty-cycle", "0.5",
                           "--raw", "input", "-q"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["plan"]["scenes_per_orbit"] == 12 and report["plan"]["duty_cycle"] == 0.5
    assert report["downlink"]["raw_bytes"] == 8e6 and report["accuracy"]   # folder: acc read
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    proc = subprocess.run([sys.executable, "-m", "tinyicenet", "report", str(bad), "--out",
                           str(tmp_path / "rep2")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "rep2").exists()


def test_report_renders_in_headless_chromium(inputs, tmp_path):
    from tinyicenet.report.screenshot import find_browser, screenshot
    if find_browser() is None:
        pytest.skip("no headless Chromium installed (apt-get install chromium)")
    html = write_report([inputs["dir"]], tmp_path / "rep")
    shot = screenshot(html, tmp_path / "shot.png", width=1100, height=1800)
    decodes(shot, 1000, 1700)
    with Image.open(shot) as img:
        top = np.asarray(img.convert("RGB"))[:900]
    # the charts are drawn: the measured-bar blue (#1f77b4) appears on the page
    blue = np.all(np.abs(top.astype(int) - [31, 119, 180]) < 12, axis=-1)
    assert blue.sum() > 500


def test_results_on_other_scene_sizes_are_rescaled_to_the_ew_scene(inputs, tmp_path):
    """A board run on a small sample scene is compared per EW scene, by tile count."""
    board = dict(inputs["fpga"], scene={"pixels": [120, 120], "pixel_spacing_m": 400.0,
                                        "tiles": 1, "halo": 16, "name": "sample"})
    board["provenance"] = dict(board["provenance"])
    write_results(tmp_path / "board.json", board)
    html = write_report([tmp_path / "board.json"], tmp_path / "rep")
    [row] = json.loads((html.parent / "report.json").read_text())["platforms"]
    assert row["scene"]["pixels"] == [1000, 1000] and row["scene"]["tiles"] == 25
    assert row["energy_scene_mj"] == pytest.approx(board["energy_mj"]["per_tile_gross"] * 25)
    assert row["scenes_per_s"] == pytest.approx(board["tiles_per_s"] / 25)
    assert any("rescaled by tile count" in n for n in row["notes"])


def test_folder_skips_other_tools_files_but_a_named_file_must_be_a_result(inputs, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "fast.json").write_text((inputs["dir"] / "fast.json").read_text())
    other = folder / "predict_cpu.json"
    other.write_text(json.dumps({"schema": "tinyicenet-predict-bench", "schema_version": 1}))
    (folder / "data_loading.json").write_text(json.dumps({"benchmark": "data_loading"}))
    html = write_report([folder], tmp_path / "rep")
    gaps = json.loads((html.parent / "report.json").read_text())["gaps"]
    assert any(g["source"] == "predict_cpu.json" and "skipped" in g["reason"] for g in gaps)
    assert any(g["source"] == "data_loading.json" and "skipped" in g["reason"] for g in gaps)
    with pytest.raises(ResultError, match="not a tinyicenet bench result"):
        write_report([other], tmp_path / "rep2")


def test_verdict_without_any_energy_says_what_is_known(inputs, tmp_path):
    write_results(tmp_path / "blind.json", inputs["blind"])
    html = write_report([tmp_path / "blind.json"], tmp_path / "rep")
    verdict = json.loads((html.parent / "report.json").read_text())["verdict"]
    assert verdict.startswith("No platform that can fly")
    assert "--meter none" in verdict and "Blind CPU (onnxruntime, batch 1)" in verdict
    assert "\n" not in verdict and verdict.endswith(".")


def test_verdict_names_a_large_downlink_saving_as_a_factor():
    from tinyicenet.report.build import verdict
    from tinyicenet.report.planning import OrbitPlan

    text = verdict([], [], {"saved_fraction": 1 - 1 / 2500}, OrbitPlan())
    assert "by a factor of 2,500" in text and "100.0 %" not in text
    assert "by 99.8 %" in verdict([], [], {"saved_fraction": 0.998}, OrbitPlan())


def _only_board(inputs, **changes):
    board = json.loads(json.dumps(inputs["fpga"]))
    board.update(backend="zcu102-pynq", device="ZCU102 XCZU9EG", **changes)
    board["provenance"].update(throughput="emulated", energy="emulated")
    board["method"]["meter"] = "test-hwmon-files"
    return board


def test_an_emulated_run_is_kept_out_of_the_comparison(inputs, tmp_path):
    write_results(tmp_path / "emu.json", _only_board(inputs))
    write_results(tmp_path / "slow.json", inputs["slow"])
    html = write_report([tmp_path / "emu.json", tmp_path / "slow.json"], tmp_path / "rep")
    report = json.loads((html.parent / "report.json").read_text())
    assert [r["device"] for r in report["platforms"]] == ["Slow CPU"]
    assert [r["device"] for r in report["emulated"]] == ["ZCU102 XCZU9EG"]
    assert "ZCU102 XCZU9EG" not in report["verdict"]
    assert report["verdict"].startswith("No platform that can fly")
    assert any("emulated" in g["reason"] and "kept out" in g["reason"] for g in report["gaps"])
    assert all(o["label"] != report["emulated"][0]["label"] for o in report["orbit"])
    md = (html.parent / "report.md").read_text()
    table = md.split("## Platforms")[1].split("\\*")[0]
    assert "ZCU102 XCZU9EG" not in table
    assert "### Emulated runs (not measurements" in md
    with pytest.raises(ResultError, match="only emulated"):
        write_report([tmp_path / "emu.json"], tmp_path / "rep2")


def test_one_timing_definition_per_table(inputs, tmp_path):
    synced = dict(inputs["fast"], device="Synced CPU",
                  timing={"throughput": "synchronised", "latency": "synchronised"})
    write_results(tmp_path / "synced.json", synced)
    write_results(tmp_path / "slow.json", inputs["slow"])
    html = write_report([tmp_path / "synced.json", tmp_path / "slow.json"], tmp_path / "rep")
    report = json.loads((html.parent / "report.json").read_text())
    assert report["comparison_timing"] == "queued"
    assert {r["timing_throughput"] for r in report["platforms"]} == {"queued"}
    assert [g["timing"] for g in report["other_timing"]] == ["synchronised"]
    assert [r["device"] for r in report["other_timing"][0]["rows"]] == ["Synced CPU"]
    assert "Synced CPU" not in report["verdict"]
    md = (html.parent / "report.md").read_text()
    main, rest = md.split("### Throughput timed 'synchronised'")
    assert "Synced CPU" not in main.split("## Platforms")[1] and "Synced CPU" in rest


def test_verdict_ranks_flyable_platforms_and_shows_the_ground_gpu_as_reference():
    from tinyicenet.report.build import verdict

    def r(device, target, e, sps, kind="measured"):
        return {"label": device, "device": device, "target": target, "backend": "b",
                "variant": None, "batch": 1, "kind": kind, "energy_kind": kind,
                "flyable": target in ("fpga", "jetson"), "energy_scene_mj": e,
                "energy_scene_range_mj": None, "scenes_per_s": sps, "scene_ms": 1e3 / sps,
                "energy_reason": None}

    gpu = r("H200", "cuda", 10.0, 5000.0)          # least energy of all, but cannot fly
    orin = r("Orin", "jetson", 300.0, 40.0)
    fpga = r("ZCU102", "fpga", 120.0, 20.0, kind="modelled")
    text = verdict([gpu, orin, fpga], [], {"saved_fraction": 0.998}, OrbitPlan())
    assert text.startswith("Of the platforms that can fly, ZCU102 (b, batch 1)")
    assert text.index("ZCU102") < text.index("ahead of Orin") < text.index(
        "for reference, the ground GPU H200")
    assert "120 mJ (modelled)" in text and "300 mJ (measured)" in text
    assert "their energy is not counted" in text
    only_ground = verdict([gpu], [], {"saved_fraction": 0.998}, OrbitPlan())
    assert only_ground.startswith("No platform that can fly (FPGA, Jetson-class)")

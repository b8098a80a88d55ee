"""The report's precision-sweep section: the chart, the Pareto front it marks and the sentence
naming the cheapest configuration that meets the stated accuracy, from a real sweep record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tinyicenet.bench.modelled import modelled_result
from tinyicenet.bench.schema import write_results
from tinyicenet.bench.units import ew_scene
from tinyicenet.errors import ResultError
from tinyicenet.report import write_report
from tinyicenet.report.build import build
from tinyicenet.sweep.record import build_record, load_sweep
from tinyicenet.sweep.search import Budget, Evaluation, greedy_search
from tinyicenet.sweep.space import Configuration, Space

# hand-made sweep: energy (mJ per scene) and accuracy of each uniform configuration
ENERGY = {(2, 2): 300.0, (2, 3): 330.0, (3, 2): 340.0, (3, 3): 370.0, (4, 2): 360.0,
          (2, 4): 350.0, (4, 3): 400.0, (3, 4): 390.0, (4, 4): 430.0}
F1 = {(2, 2): 0.40, (2, 3): 0.55, (3, 2): 0.50, (3, 3): 0.78, (4, 2): 0.52,
      (2, 4): 0.60, (4, 3): 0.81, (3, 4): 0.83, (4, 4): 0.85}


def _wa(config: Configuration) -> tuple[int, int]:
    b = config.as_dict()
    return b["weight"], b["activation"]


def _cost(config: Configuration) -> dict:
    e = ENERGY[_wa(config)]
    return {"estimator": "test", "tile": [256, 256], "scene_tiles": 25, "fits": True,
            "tiles_per_s": 25_000.0 / e, "fps_256": 25_000.0 / e, "lut": 400.0 * e,
            "ff": 200.0 * e, "bram36": 20.0, "dsp": 0.0, "energy_mj_per_scene": e,
            "energy_mj_per_scene_low": 0.4 * e, "energy_mj_per_scene_high": 2.3 * e,
            "energy_model": "test-power v0", "assumptions": ["test"]}


def _record(budget: float) -> dict:
    space = Space.of({"weight": (2, 3, 4), "activation": (2, 3, 4)})
    result = greedy_search(space, _cost, lambda c: Evaluation(F1[_wa(c)],
                                                              details={"model": "m"}),
                           Budget("energy", budget))
    return build_record(
        result, grouping="uniform", labels=lambda c: "w{}a{}".format(*_wa(c)),
        accuracy={"metric": "SOD weighted F1", "data": "synthetic", "split": "test",
                  "test_scenes": 2, "target": 0.80},
        fpga={"provenance": "modelled", "estimators": ["test estimator"],
              "energy_model": "test-power v0", "range": "low/high of the test model",
              "assumptions": ["made up for the test"]},
        search={"method": "greedy"})


@pytest.fixture
def results_dir(tmp_path):
    fpga = modelled_result(target="fpga", backend="hls-model", device="ZCU102 (modelled)",
                           model="tinyicenet_w4a4", precision="w4a4", scene=ew_scene(),
                           tiles_per_s=40.0, power_w=0.05, idle_power_w=0.04,
                           assumptions=["200 MHz"], method="hls schedule")
    write_results(tmp_path / "fpga.json", fpga)
    return tmp_path


def test_sweep_section_marks_front_and_names_cheapest_meeting_target(results_dir, tmp_path):
    record = _record(budget=420.0)
    keys = {c["key"]: c for c in record["configurations"]}
    # w4a4 (430 mJ) is over the 420 mJ budget: costed, never trained, never plotted
    over = keys["activation=4,weight=4"]
    assert over["status"].startswith("over budget") and over["sod_f1"] is None
    (results_dir / "sweep.json").write_text(json.dumps(record))
    assert load_sweep(results_dir / "sweep.json")["chosen"] == record["chosen"]
    html = write_report([results_dir], tmp_path / "rep")
    report = json.loads((html.parent / "report.json").read_text())
    (section,) = report["sweeps"]
    trained = [p for p in section["points"]]
    assert all(ENERGY[(p["bits"]["weight"], p["bits"]["activation"])] <= 420 for p in trained)
    # the front by hand, among the trained points (cheapest first)
    pts = {(p["bits"]["weight"], p["bits"]["activation"]): p for p in trained}
    expected = []
    for wa, p in pts.items():
        if not any(ENERGY[o] <= ENERGY[wa] and F1[o] >= F1[wa] and
                   (ENERGY[o] < ENERGY[wa] or F1[o] > F1[wa]) for o in pts):
            expected.append(wa)
    expected.sort(key=lambda wa: ENERGY[wa])
    assert section["front"] == [pts[wa]["key"] for wa in expected]
    # the cheapest trained point with F1 >= 0.80
    meeting = min((wa for wa in pts if F1[wa] >= 0.80), key=lambda wa: ENERGY[wa])
    assert section["meets_target"] == pts[meeting]["key"]
    label = "w{}a{}".format(*meeting)
    assert f"{label} meets SOD F1 \u2265 80 %" in section["sentence"]
    assert "held-out generated scenes" in section["sentence"]
    assert "modelled with test-power v0" in section["sentence"]
    md = (html.parent / "report.md").read_text()
    assert section["sentence"] in md and "![accuracy against modelled energy](sweep.png)" in md
    with Image.open(html.parent / "sweep.png") as img:
        assert img.format == "PNG" and img.size[0] > 400
        assert np.asarray(img.convert("L"), dtype=float).std() > 5
    # a stricter target no configuration meets: the sentence says so and names the best
    strict = build([results_dir], target=0.99)["sweeps"][0]     # content only, no charts
    assert strict["meets_target"] is None
    best = max(pts, key=lambda wa: F1[wa])
    assert strict["sentence"].startswith("No swept configuration meets SOD F1 \u2265 99 %")
    assert "w{}a{}".format(*best) in strict["sentence"]


def test_bad_sweep_record_is_one_error_line(results_dir, tmp_path):
    record = _record(budget=500.0)
    record["configurations"][0]["sod_f1"] = 75.0          # a percentage, not a fraction
    (results_dir / "sweep.json").write_text(json.dumps(record))
    with pytest.raises(ResultError, match=r"sweep.json: not a valid sweep record at "
                                          r"configurations/0/sod_f1") as info:
        write_report([results_dir], tmp_path / "rep")
    assert "\n" not in str(info.value)
    record["schema_version"] = 2
    (results_dir / "sweep.json").write_text(json.dumps(record))
    with pytest.raises(ResultError, match="sweep schema_version 2"):
        load_sweep(results_dir / "sweep.json")
    assert not (tmp_path / "rep").exists()

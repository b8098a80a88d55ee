"""``tinyicenet sweep``: bad input is one ``error:`` line and nothing written; the FPGA cost of a
configuration is the planner's design priced by the power model, per EW scene."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tinyicenet.bench.units import ew_scene


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tinyicenet", "sweep", *args],
                          capture_output=True, text=True, timeout=120)


def _main(capsys, *args) -> tuple[int, str]:
    """``tinyicenet sweep ARGS`` through cli.main in this process: (exit code, stderr).

    (test_out_must_be_a_file_path runs the real ``python -m tinyicenet`` entry point.)"""
    from tinyicenet.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["sweep", *map(str, args)])
    return exc.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--budget", "-5"], "budget limit -5.0 must be a positive number"),
    (["--budget", "300", "--budget-metric", "watts"], "budget metric 'watts' unknown"),
    (["--budget", "300", "--bits", "1,4"], "bit widths [1] outside 2..8"),
    (["--budget", "300", "--bits", "4,x"], "'x' is not an integer"),
    (["--budget", "300", "--train", "nowhere"], "give both --train and --test"),
    (["--budget", "300", "--grouping", "random"], "sweep grouping 'random' unknown"),
])
def test_bad_input_is_one_error_line(tmp_path, capsys, args, message):
    out = tmp_path / "s.json"
    code, err = _main(capsys, "--out", str(out), "--quiet", *args)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert message in lines[0] and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []          # no record, no work folder


def test_overlapping_scenes_leave_no_work_folder(tmp_path, capsys, sample_scene_dir):
    out = tmp_path / "s.json"
    code, err = _main(capsys, "--out", str(out), "--quiet", "--budget", "300", "--train",
                      sample_scene_dir, "--test", sample_scene_dir)
    assert code == 2 and "test scenes are also training scenes" in err, err
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_a_file_path(tmp_path):
    r = _cli("--out", str(tmp_path), "--budget", "300", "--quiet")
    assert r.returncode != 0 and r.stderr.startswith("error:") and "is a folder" in r.stderr


def test_fpga_cost_is_the_planned_design_priced_per_scene():
    # a hand-made planner design (DesignPlan.to_dict()'s keys), priced by the power model
    from tinyicenet.hls.planner import energy_record
    from tinyicenet.power import estimate
    from tinyicenet.sweep.cost import cost_from_plan

    res = {"lut": 120_000.0, "ff": 80_000.0, "dsp": 0.0, "bram36": 30.0}
    power = estimate({"lut": 120_000, "ff": 80_000, "dsp": 0, "bram18": 60}, 200.0)
    tiles_per_s, tile = 400.0, 256
    plan = {"tile": [tile, tile], "clock_mhz": 200.0, "fits": True, "tiles_per_s": tiles_per_s,
            "fps_256_equivalent": tiles_per_s, "latency_ms": 2.5,
            "resources": {"total": res, "utilisation": {"lut": 0.44}},
            "energy": energy_record(power, tiles_per_s, tiles_per_s), "assumptions": ["x"]}
    cost = cost_from_plan(plan, halo=16)
    tiles = ew_scene((tile, tile), 16).tiles
    assert cost["scene_tiles"] == tiles == 25    # 1000 x 1000 px scene: 5 x 5 cores of 224 px
    for level, key in (("low", "energy_mj_per_scene_low"), ("nominal", "energy_mj_per_scene"),
                       ("high", "energy_mj_per_scene_high")):
        # mJ per scene = W / (tiles/s) x 1000 x tiles per scene
        assert cost[key] == pytest.approx(1e3 * getattr(power, level) / tiles_per_s * tiles)
    assert cost["energy_mj_per_scene_low"] < cost["energy_mj_per_scene"] < \
        cost["energy_mj_per_scene_high"]
    assert cost["lut"] == 120_000.0 and cost["bram36"] == 30.0 and cost["fits"] is True
    assert cost["provenance"] == "modelled" and cost["energy_model"] == power.model
    assert cost_from_plan(plan, halo=32)["scene_tiles"] > tiles    # more halo, more tiles


def test_finn_report_is_read_from_finns_estimate_files(tmp_path):
    # the two files FINN+'s step_generate_estimate_reports writes (keys as FINN names them)
    from tinyicenet.sweep.cost import finn_report

    (tmp_path / "estimate_network_performance.json").write_text(json.dumps(
        {"critical_path_cycles": 90000, "max_cycles": 65536, "max_cycles_node_name": "MVAU_1",
         "estimated_throughput_fps": 3051.7578125, "estimated_latency_ns": 450000.0}))
    (tmp_path / "estimate_layer_resources.json").write_text(json.dumps(
        {"MVAU_0": {"LUT": 100.0}, "total": {"BRAM_18K": 12.0, "LUT": 45000.5, "URAM": 0.0,
                                             "DSP": 3.0}}))
    point = finn_report(tmp_path)
    assert point == {"estimated_fps": 3051.7578125, "max_cycles": 65536, "LUT": 45000.5,
                     "BRAM_18K": 12.0, "URAM": 0.0, "DSP": 3.0}

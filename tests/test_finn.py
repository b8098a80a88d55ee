"""FINN+'s flow on TinyIceNet, checked against FINN's own execution and the integer reference.

The oracle is FINN+: its python execution of the streamlined and HW-layer graphs and its
cppsim of each HLS layer (compiled with g++), run in the FINN environment through the file
exchange, against tinyicenet's integer reference. Needs the FINN+ environment
(``tinyicenet board finn --setup``; CI creates it).
"""

from __future__ import annotations

import json

import pytest
from tinyicenet.finn import available, build_finn
from tinyicenet.finn.flow import finn_deps
from tinyicenet.errors import ToolNotFoundError, VerificationError
from tests.helpers import calibrated_model

TILE = 32
needs_finn = pytest.mark.skipif(
    not available(), reason="no FINN+ environment (create it with `tinyicenet board finn "
                            "--setup`; CI does)")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tinyicenet.models import save_checkpoint

    path = tmp_path_factory.mktemp("finn") / "w4a4.pt"
    save_checkpoint(path, calibrated_model("tinyicenet_w4a4"))
    return path


@pytest.fixture(scope="module")
def built(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("finn_out") / "build"
    record = build_finn(checkpoint, out, tile=TILE, target_fps=20000, n_random=2, n_scene=1,
                        cppsim=True, cppsim_tiles=1, cppsim_one_per_op=True, quiet=True,
                        sweep_fps=[2000])
    return out, record


@needs_finn
@pytest.mark.slow
def test_every_stage_equals_the_integer_reference(built):
    out, record = built
    saved = json.loads((out / "verification.json").read_text())
    assert saved == json.loads(json.dumps(record))
    assert record["exact"] and record["differing_total"] == 0
    for stage in ("streamlined", "hw_layers"):
        assert set(record["stages"][stage]) == {"random", "scene"}
        assert record["stages"][stage]["random"]["values"] == 2 * 6 * TILE * TILE
        assert record["stages"][stage]["scene"]["differing"] == 0
    # the half-to-even correction did something: without it FINN rounds ties up
    assert record["rounding_fix"]["moved"] > 0
    cpp = record["cppsim"]
    if not finn_deps():  # no finn-hlslib here: every HLS layer says so, none is dropped
        assert cpp["layers"] == {} and all("no finn-hlslib" in rec["error"]
                                           for rec in cpp["not_compiled"].values())
        return
    ran = {rec["op"] for rec in cpp["layers"].values()}
    assert {"MVAU_hls", "UpsampleNearestNeighbour_hls"} <= ran
    assert all(v["values"] > 0 and v["differing"] == 0
               for rec in cpp["layers"].values() for v in rec.values() if isinstance(v, dict))
    # what cannot compile here is named with the compiler's reason, not dropped
    for node, rec in cpp["not_compiled"].items():
        assert rec["op"] in ("Pool_hls", "DuplicateStreams_hls", "StreamingConcat_hls") \
            and rec["error"], node
    named = sum(len(cpp[k]) for k in ("layers", "not_compiled", "not_hls", "not_run"))
    assert named == len(json.loads((out / "report" / "estimate_layer_cycles.json").read_text()))


@needs_finn
@pytest.mark.slow
def test_reports_where_finn_writes_them_and_folding_meets_target(built):
    out, record = built
    report = out / "report"
    perf = json.loads((report / "estimate_network_performance.json").read_text())
    cycles = json.loads((report / "estimate_layer_cycles.json").read_text())
    res = json.loads((report / "estimate_layer_resources.json").read_text())
    assert perf["max_cycles"] == max(cycles.values())
    assert perf["estimated_throughput_fps"] == pytest.approx(200e6 / perf["max_cycles"], rel=1e-6)
    assert set(cycles) <= set(res) and res["total"]["LUT"] > 0
    run = json.loads((out / "runner.json").read_text())
    fold = run["folding"]["nodes"]
    ups = [n for n in fold if n.startswith("UpsampleNearestNeighbour")]
    assert len(ups) == 2 and all(fold[n]["SIMD"] > 1 for n in ups)  # folded, unlike stock
    # the folding step's own record agrees with FINN's cycle analysis in the report
    assert run["folding"]["max_cycles"] == perf["max_cycles"]
    assert run["folding"]["target_cycles"] == 10000  # 200 MHz / 20000 fps
    # a lower target gives a smaller design (FINN's SetFolding, not a hand-written copy)
    low = json.loads((out / "sweep" / "fps_2000" / "report" /
                      "estimate_layer_resources.json").read_text())["total"]
    assert low["LUT"] < res["total"]["LUT"]
    assert (out / "intermediate_models" / "step_hw_codegen.onnx").is_file()
    assert {s["needs"] for s in record["stopped_before"]} <= {"vitis_hls", "vivado"}


@needs_finn
@pytest.mark.slow
def test_without_the_rounding_fix_finn_differs_and_nothing_is_written(checkpoint, tmp_path):
    out = tmp_path / "bad"
    with pytest.raises(VerificationError, match="differing values"):
        build_finn(checkpoint, out, tile=TILE, target_fps=20000, n_random=2, n_scene=0,
                   cppsim=False, quiet=True, round_half_even=False)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def run_cli(capsys, *args):
    """``tinyicenet board finn ARGS`` through cli.main: (exit code, stderr)."""
    from tinyicenet.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["board", "finn", *map(str, args)])
    return exc.value.code, capsys.readouterr().err


def test_missing_finn_environment_is_one_error_line(checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYICENET_FINN_ENV", str(tmp_path / "none"))
    with pytest.raises(ToolNotFoundError, match="board finn --setup"):
        build_finn(checkpoint, tmp_path / "out", tile=TILE, quiet=True)
    code, err = run_cli(capsys, checkpoint, "--out", tmp_path / "out", "--tile", TILE, "--quiet")
    assert code == 4 and err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_inputs(tmp_path, checkpoint, capsys):
    code, err = run_cli(capsys, tmp_path / "nope.pt", "--out", tmp_path / "o")
    assert code != 0 and "no such checkpoint" in err
    code, err = run_cli(capsys, checkpoint, "--out", tmp_path / "o", "--tile", 30)
    assert code != 0 and "multiple of the model stride" in err
    code, err = run_cli(capsys)
    assert code != 0 and "--setup" in err
    assert not (tmp_path / "o").exists()

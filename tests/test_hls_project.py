"""`tinyicenet hls`: project generation, C simulation, verification against the integer reference.

The compile-based tests are marked slow (g++ takes ~15 s per project on 2 cores) but run in CI.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyicenet.errors import DataError
from helpers import calibrated_model, fresh_seed

TILE = 32


def _checkpoint(folder: Path, name: str) -> Path:
    from tinyicenet.models import save_checkpoint

    path = folder / f"{name}.pt"
    save_checkpoint(path, calibrated_model(name, seed=7))
    return path


def _main(capsys, *args) -> tuple[int, str, str]:
    from tinyicenet.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def _fresh_tiles(n: int) -> np.ndarray:
    rng = np.random.default_rng(42 + n)
    return (rng.standard_normal((n, 2, TILE, TILE)) * 1.5).astype(np.float32)


@pytest.fixture(scope="module")
def ckpts(hls_checkpoints) -> dict[str, Path]:
    return hls_checkpoints


@pytest.fixture(scope="module")
def w4a4_project(w4a4_hls_project):
    """The session's w4a4 project (conftest.py), also the board C simulation's network."""
    return w4a4_hls_project


@pytest.mark.slow
def test_project_verified_on_random_and_scene_tiles(w4a4_project):
    r = w4a4_project
    rep = json.loads((r.project_dir / "verification.json").read_text())
    assert rep["passed"] and rep["differing"] == 0 and rep["argmax_agreement"] == 1.0
    assert rep["tiles"] == 4 and rep["values"] == 4 * 6 * TILE * TILE
    sources = [t["source"] for t in rep["per_tile"]]
    assert sum(s.startswith("random:") for s in sources) == 2
    assert sum(not s.startswith("random:") for s in sources) == 2  # scene tiles
    assert "PASSED" in (r.project_dir / "verification.md").read_text()
    for name in ("build_prj.tcl", "project.tcl", "firmware/tinyicenet.cpp", "hls4ml_config.yml",
                 "model.qonnx.onnx", "intref.npz", "resources.json", "resources.md",
                 "tb_data/tb_input_features.dat", r.manifest["library"]):
        assert (r.project_dir / name).is_file(), name
    assert not [p for p in r.project_dir.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_project_config_follows_quantizers_plan_and_fifo_model(w4a4_project):
    from tinyicenet.export.intref import load_intref
    from tinyicenet.hls.planner import valid_reuse_factors

    r = w4a4_project
    m = r.manifest
    im = load_intref(r.project_dir / "intref.npz")
    fmt = m["input"]["format"]
    assert (fmt["bits"], fmt["exponent"], fmt["signed"]) == (8, im.input_exp, True)
    hls_type = f"fixed<8,{8 + im.input_exp},RND_CONV,SAT>"
    assert m["input"]["hls_type"] == hls_type
    assert hls_type in (r.project_dir / "hls4ml_config.yml").read_text()
    # every conv: hls4ml kept the planned reuse factor, a valid one
    for layer in m["layers"]:
        assert layer["effective_reuse_factor"] == layer["reuse_factor"]
        assert layer["reuse_factor"] in valid_reuse_factors(layer["n_in"], layer["n_out"])
        assert layer["multipliers"] * layer["reuse_factor"] == layer["n_in"] * layer["n_out"]
    # the FIFO depths in the generated C++ are the modelled ones, far below full tensors
    cpp = (r.project_dir / "firmware" / "tinyicenet.cpp").read_text()
    pragmas = {k: int(v) for k, v in re.findall(r"STREAM variable=(\w+) depth=(\d+)", cpp)}
    assert pragmas == m["fifo_depths"]
    assert all(d < TILE * TILE for d in pragmas.values())
    assert max(pragmas.values()) > 8  # the skip FIFOs hold rows of pixels
    res = json.loads((r.project_dir / "resources.json").read_text())["modelled"]
    assert res["provenance"] == "modelled" and res["fits"]
    assert {c["role"] for c in res["layers"]} == {"enc0", "enc1", "bottleneck", "dec1", "dec0",
                                                  "head"}


@pytest.mark.slow
def test_moved_project_runs_fresh_tiles_exactly(tmp_path, w4a4_project):
    """The C-sim library finds its weights beside itself: a moved copy still equals intref."""
    from tinyicenet.export.intref import load_intref

    copy = tmp_path / "elsewhere" / "prj"
    shutil.copytree(w4a4_project.project_dir, copy)
    tiles = _fresh_tiles(2)
    np.save(tmp_path / "x.npy", tiles)
    code = ("import sys, numpy as np; from tinyicenet.hls import load_project; "
            "m = load_project(sys.argv[1]); "
            "np.save(sys.argv[3], m.run_codes(np.load(sys.argv[2])))")
    proc = subprocess.run([sys.executable, "-c", code, str(copy), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    im = load_intref(copy / "intref.npz")
    assert np.array_equal(np.load(tmp_path / "y.npy"), im.run_int(im.quantize_input(tiles)))


@pytest.mark.slow
def test_hls_csim_backend_equals_integer_backend(w4a4_project):
    from tinyicenet.backends import get_backend

    tiles = _fresh_tiles(3)
    with get_backend("hls_csim", w4a4_project.project_dir, workers=2) as csim, \
            get_backend("integer", w4a4_project.project_dir / "intref.npz") as ref:
        assert csim.precision == "w4a4-hls" and csim.tile == TILE
        assert np.array_equal(csim.run(tiles), ref.run(tiles))
        assert np.array_equal(csim.run_codes(tiles), ref.run_codes(tiles))
        with pytest.raises(DataError, match="takes tiles"):
            csim.run(np.zeros((1, 2, 64, 64), np.float32))


@pytest.mark.slow
def test_cli_noskip_project_passes(tmp_path, ckpts, capsys):
    out = tmp_path / "noskip"
    code, stdout, err = _main(capsys, "hls", ckpts["tinyicenet_w4a4_noskip"], "--board", "zcu102",
                              "--out", out, "--tile", TILE, "--random-tiles", 2, "--quiet",
                              "--seed", fresh_seed("noskip csim"))
    assert code == 0, err
    assert "0 of 12288 values differ" in stdout and "PASSED" in stdout
    assert json.loads((out / "verification.json").read_text())["passed"]
    assert "Concatenate" not in (out / "hls4ml_config.yml").read_text()


@pytest.mark.slow
def test_wrong_input_precision_fails_loudly_and_leaves_nothing(tmp_path, ckpts, capsys):
    """hls4ml's default input type instead of the quantizer's: the verification must catch it."""
    out = tmp_path / "wrong"
    code, _, err = _main(capsys, "hls", ckpts["tinyicenet_w4a4"], "--out", out, "--tile", TILE,
                         "--random-tiles", 2, "--input-precision", "fixed<16,6>", "--quiet")
    lines = err.strip().splitlines()
    assert code == 3  # VerificationError
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "does not match the integer reference" in lines[0]
    n = int(re.search(r"(\d+) of \d+ values differ", lines[0]).group(1))
    assert n > 0
    assert list(tmp_path.iterdir()) == []  # no project, no temporary folder


@pytest.mark.slow
def test_w8a8_project_passes(tmp_path):
    from tinyicenet.hls import build_project

    result = build_project(calibrated_model("tinyicenet_w8a8", seed=7), tmp_path / "w8a8",
                           tile=TILE, n_random=1, seed=fresh_seed("w8a8 csim"))
    assert result.report.passed and result.report.differing == 0
    assert result.manifest["model"]["bit_widths"]["weight"] == 8


def test_missing_compiler_is_named_and_nothing_written(tmp_path, ckpts, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))
    out = tmp_path / "prj"
    code, _, err = _main(capsys, "hls", ckpts["tinyicenet_w4a4"], "--out", out)
    assert code == 4  # ToolNotFoundError
    assert err.strip().startswith("error: g++ not found on PATH")
    assert not out.exists()


def test_synth_without_vitis_names_the_tool(tmp_path, ckpts, capsys):
    if shutil.which("vitis-run"):
        pytest.skip("vitis-run is installed here")
    out = tmp_path / "prj"
    code, _, err = _main(capsys, "hls", ckpts["tinyicenet_w4a4"], "--out", out, "--synth")
    assert code == 4 and "error: vitis-run not found on PATH" in err
    assert not out.exists()


def test_float_checkpoint_is_refused(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, "tinyicenet_float")
    code, _, err = _main(capsys, "hls", ckpt, "--out", tmp_path / "prj", "--tile", TILE)
    assert code != 0 and "is a float model" in err
    assert not (tmp_path / "prj").exists()


def test_plan_only_writes_the_modelled_report(tmp_path, ckpts, capsys):
    out = tmp_path / "plan"
    code, stdout, err = _main(capsys, "hls", ckpts["tinyicenet_w4a4"], "--out", out,
                              "--plan-only", "--tile", 256, "--quiet")
    assert code == 0, err
    data = json.loads((out / "resources.json").read_text())
    assert data["modelled"]["tile"] == [256, 256] and data["modelled"]["fps_256_equivalent"] >= 30
    md = (out / "resources.md").read_text()
    assert "modelled" in md
    e = data["modelled"]["energy"]
    span = e["energy_mj_per_tile_range"]
    assert (f"{e['energy_mj_per_tile']:.2f} mJ per tile (range {span['low']:.2f}-"
            f"{span['high']:.2f}), power model {e['energy_model']}") in md
    assert sorted(p.name for p in out.iterdir()) == ["resources.json", "resources.md"]
    # what only the verified project uses is refused, not dropped
    code, _, err = _main(capsys, "hls", ckpts["tinyicenet_w4a4"], "--out", tmp_path / "p2",
                         "--plan-only", "--synth", "--seed", 3)
    assert code == 2 and err.startswith("error: --seed, --synth have no effect with "
                                        "--plan-only"), err
    assert not (tmp_path / "p2").exists()


@pytest.mark.slow
def test_bench_imports_the_verified_project(w4a4_project):
    """`bench --target fpga --import PROJECT`: the modelled design plus its C-sim evidence."""
    from tinyicenet.bench.targets.fpga import import_results

    from tinyicenet.errors import ConfigError

    project = str(w4a4_project.project_dir)
    with pytest.raises(ConfigError, match="halo"):  # a 32-pixel tile has no core in a 16 halo
        import_results(project, None)
    (r,) = import_results(project, None, halo=8)
    assert r["target"] == "fpga" and r["model"] == "tinyicenet_w4a4"
    assert r["provenance"]["throughput"] == "modelled" and r["scene"]["tiles"] > 25
    assert "0 differing values" in r["provenance"]["verification"]

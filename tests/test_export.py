"""Export: QONNX / ONNX / integer reference / golden files, each checked value for value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tinyicenet.errors import DataError, VerificationError
from helpers import calibrated_model, fresh_seed


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from tinyicenet.models import save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "w4a4.pt"
    save_checkpoint(path, calibrated_model("tinyicenet_w4a4", seed=11))
    return path


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyicenet", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def _brevitas(model, tiles: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(tiles)).numpy()


@pytest.mark.parametrize("name", ["tinyicenet_w4a4", "tinyicenet_w4a4_noskip",
                                  "tinyicenet_w8a8"])
def test_qonnx_execution_equals_brevitas(name, sample_scene_dir):
    """qonnx's executor on the QONNX graph == Brevitas, fresh random tiles and scene tiles."""
    from tinyicenet.export.golden import random_tiles, scene_tiles
    from tinyicenet.export.onnx_export import qonnx_model, run_qonnx

    model = calibrated_model(name, seed=11)
    tiles = random_tiles(2, 2, 32, fresh_seed(name)) + scene_tiles(sample_scene_dir, 2, 32,
                                                                   align=model.stride)
    assert len(tiles) == 4 and tiles.sources[2].count(":") == 1
    got = run_qonnx(qonnx_model(model, 32), tiles.tiles)
    want = _brevitas(model, tiles.tiles)
    assert got.shape == want.shape == (4, 6, 32, 32)
    assert np.count_nonzero(got != want) == 0


def test_export_cli_writes_a_checked_bundle(tmp_path, checkpoint, sample_scene_dir):
    from tinyicenet.export.intref import load_intref

    out = tmp_path / "export"
    proc = _cli("export", checkpoint, "--out", out, "--tile", 32, "--random-tiles", 2,
                "--scene", sample_scene_dir, "--scene-tiles", 1, "--quiet",
                "--seed", fresh_seed("export cli"))
    assert proc.returncode == 0, proc.stderr
    assert "qonnx_vs_brevitas: 0 of" in proc.stdout
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["tile"] == [32, 32] and len(manifest["golden_sources"]) == 3
    for check in ("qonnx_vs_brevitas", "intref_vs_brevitas", "onnxruntime_vs_intref"):
        assert manifest["checks"][check]["differing"] == 0
        assert manifest["checks"][check]["argmax_agreement"] == 1.0
    x = np.load(out / "golden_input.npy")
    q_in = np.load(out / "golden_input_int.npy")
    q_out = np.load(out / "golden_output_int.npy")
    y = np.load(out / "golden_output.npy")
    assert x.dtype == np.float32 and x.shape == (3, 2, 32, 32)
    assert q_in.dtype == np.int16 and q_out.dtype == np.int32 and q_out.shape == (3, 6, 32, 32)
    # the golden files are the integer reference's own numbers
    im = load_intref(out / "intref.npz")
    assert np.array_equal(im.quantize_input(x), q_in)
    assert np.array_equal(im.run_int(q_in), q_out)
    assert np.array_equal(y, q_out * np.float32(2.0 ** manifest["output"]["exponent"]))
    assert manifest["input"]["exponent"] == im.input_exp
    assert manifest["output"]["bits"] == 8 and manifest["output"]["signed"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_onnxruntime_backend_is_exact_at_any_tile_size(tmp_path):
    """model.onnx has free N/H/W: a 64x32 batch through onnxruntime == the integer backend."""
    from tinyicenet.backends import get_backend
    from tinyicenet.export.bundle import export_model

    model = calibrated_model("tinyicenet_w4a4", seed=11)
    export_model(model, tmp_path / "e", tile=32, n_random=1, seed=1)
    tiles = (np.random.default_rng(89).standard_normal((3, 2, 64, 32)) * 1.5).astype(np.float32)
    with get_backend("onnxruntime", tmp_path / "e") as ort, \
            get_backend("integer", tmp_path / "e" / "intref.npz") as ref:
        assert ort.precision == "w4a4-qcdq"
        got, want = ort.run(tiles), ref.run(tiles)
    assert np.count_nonzero(got != want) == 0
    with pytest.raises(Exception, match="optimize=True fuses"):
        get_backend("onnxruntime", tmp_path / "e", optimize=True)


def test_float_model_exports_onnx_only(tmp_path):
    from tinyicenet.backends import get_backend
    from tinyicenet.export.bundle import export_model

    model = calibrated_model("tinyicenet_float", seed=11)
    result = export_model(model, tmp_path / "f", tile=32, n_random=2,
                          seed=fresh_seed("float export"))
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "export.json", "golden_input.npy", "golden_output.npy", "model.onnx"]
    assert result.checks["onnxruntime_vs_torch"]["max_abs_error"] < 1e-4
    tiles = np.load(tmp_path / "f" / "golden_input.npy")
    with get_backend("onnxruntime", tmp_path / "f") as ort:
        assert ort.precision == "fp32"
        assert np.allclose(ort.run(tiles), np.load(tmp_path / "f" / "golden_output.npy"),
                           atol=1e-4)


def test_failed_check_writes_nothing(tmp_path, monkeypatch):
    """If QONNX and Brevitas differed, the export fails loudly and leaves no folder."""
    from tinyicenet.export import bundle

    real = bundle.run_qonnx

    def off_by_one_step(model, tiles):
        out = real(model, tiles)
        out[0, 0, 0, 0] += 0.125
        return out

    monkeypatch.setattr(bundle, "run_qonnx", off_by_one_step)
    out = tmp_path / "bad"
    with pytest.raises(VerificationError, match="qonnx_vs_brevitas failed: 1 of"):
        bundle.export_model(calibrated_model("tinyicenet_w4a4_noskip", seed=11), out, tile=32,
                            n_random=1)
    assert list(tmp_path.iterdir()) == []


def _main(capsys, *args) -> tuple[int, str]:
    """Run the CLI entry point in-process: (exit code, stderr)."""
    from tinyicenet.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code, capsys.readouterr().err


def test_bad_inputs_give_one_error_line_and_no_output(tmp_path, checkpoint, capsys):
    cases = [
        (["export", tmp_path / "missing.pt", "--out", tmp_path / "o1"],
         "checkpoint file not found"),
        (["export", checkpoint, "--out", tmp_path / "o2", "--tile", 30],
         "not a positive multiple of the model stride 4"),
        (["export", checkpoint, "--out", tmp_path / "o3", "--tile", 32, "--random-tiles", 0],
         "no verification tiles"),
        (["export", checkpoint, "--out", tmp_path / "o4", "--tile", 32, "--scene",
          tmp_path / "nowhere"], "no such scene file or folder"),
    ]
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:200])
    cases.append((["export", corrupt, "--out", tmp_path / "o5"], "not a readable checkpoint"))
    cases.append((["export", checkpoint, "--out", tmp_path / "o7", "--seed", "-1"],
                  "Invalid value for '--seed'"))
    cases.append((["export", checkpoint, "--out", tmp_path / "o8", "--scene-tiles", 3],
                  "--scene-tiles has no effect with no --scene"))
    taken = tmp_path / "taken.txt"  # a user's file where the bundle folder would go
    taken.write_text("keep me\n")
    cases += [(["export", checkpoint, "--out", taken, "--tile", 32],
               "taken.txt exists and is not a folder"),
              (["export", checkpoint, "--out", taken / "o6", "--tile", 32],
               "taken.txt is a file, not a folder")]
    for args, message in cases:
        code, err = _main(capsys, *args)
        assert code != 0
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.pt", "taken.txt"]
    assert taken.read_text() == "keep me\n"


def test_scene_tiles_prefer_valid_sar(sample_scene_dir):
    from tinyicenet.export.golden import scene_tiles

    tiles = scene_tiles(sorted(sample_scene_dir.glob("*.nc"))[0], 3, 64, align=4)
    assert tiles.tiles.shape == (3, 2, 64, 64) and tiles.tiles.dtype == np.float32
    assert np.isfinite(tiles.tiles).all() and np.abs(tiles.tiles).max() > 0
    with pytest.raises(DataError, match="no such scene file or folder"):
        scene_tiles(sample_scene_dir / "missing", 1, 64)
    (sample_scene_dir.parent / "empty_scene_dir").mkdir(exist_ok=True)
    with pytest.raises(DataError, match="no scene files"):
        scene_tiles(sample_scene_dir.parent / "empty_scene_dir", 1, 64)

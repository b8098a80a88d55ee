"""Full-scene evaluation: pooled AutoICE metrics (checked with scikit-learn), outputs, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, r2_score

from tinyicenet.evaluate import evaluate, predict_logits, predict_scene
from tinyicenet.models import create_model, save_checkpoint

CONFIG = {"data": {"downsample": 5, "variables": ["nersc_sar_primary", "nersc_sar_secondary"]}}


def _checkpoint(path, name="tinyicenet_float", charts=("SOD",), seed=0):
    from tinyicenet.models import calibrate

    torch.manual_seed(seed)
    model = create_model(name, widths=(4, 8, 16), charts=charts)
    with torch.no_grad():  # random weights give near-constant maps; spread the logits a little
        for p in model.parameters():
            p.mul_(3.0)
    calibrate(model, [torch.randn((2, 2, 32, 32))])  # a quantized model needs its radix points
    save_checkpoint(path, model, config=CONFIG, variables=CONFIG["data"]["variables"],
                    epoch=1, phase="float")
    return model


def test_metrics_equal_sklearn_on_the_pooled_pixels(sample_scene_dir, sample_scene_files,
                                                    tmp_path) -> None:
    from tinyicenet.data import load_scene

    charts = ("SOD", "SIC", "FLOE")
    model = _checkpoint(tmp_path / "m.pt", charts=charts).eval()
    result = evaluate(tmp_path / "m.pt", [sample_scene_dir], tmp_path / "out", tile=64, halo=16,
                      device="cpu")

    refs = {c: [] for c in charts}
    preds = {c: [] for c in charts}
    for path in sample_scene_files:
        scene = load_scene(path, charts=charts)
        pred = predict_scene(model, scene["image"], tile=64, halo=16)
        for c in charts:
            keep = scene[c] != 255
            refs[c].append(scene[c][keep])
            preds[c].append(pred[c][keep])
    y = {c: np.concatenate(refs[c]) for c in charts}
    p = {c: np.concatenate(preds[c]) for c in charts}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sod = 100 * f1_score(y["SOD"], p["SOD"], average="weighted")
        floe = 100 * f1_score(y["FLOE"], p["FLOE"], average="weighted")
        per_class = 100 * f1_score(y["SOD"], p["SOD"], average=None, labels=range(6),
                                   zero_division=0)
    sic = 100 * r2_score(y["SIC"], p["SIC"])
    assert result["scores"]["SOD"] == pytest.approx(sod, abs=1e-9)
    assert result["scores"]["FLOE"] == pytest.approx(floe, abs=1e-9)
    assert result["scores"]["SIC"] == pytest.approx(sic, abs=1e-9)
    assert result["combined_score"] == pytest.approx((2 * sic + 2 * sod + floe) / 5, abs=1e-9)
    present = set(y["SOD"]) | set(p["SOD"])
    for row in result["metrics"]["SOD"]["per_class"]:
        if row["class"] in present:
            assert row["f1"] == pytest.approx(per_class[row["class"]], abs=1e-9)
        else:
            assert row["f1"] is None
    assert result["metrics"]["SOD"]["pixels"] == y["SOD"].size
    assert len(result["scenes"]) == 3 and result["precision"] == "fp32"

    out = tmp_path / "out"
    written = json.loads((out / "evaluation.json").read_text())
    assert written["scores"] == result["scores"] and written["schema"] == "tinyicenet-eval"
    for c in charts:
        assert (out / f"confusion_{c}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_combined_score_uses_only_present_heads(sample_scene_dir, tmp_path) -> None:
    _checkpoint(tmp_path / "sod.pt", name="tinyicenet_w4a4")
    result = evaluate(tmp_path / "sod.pt", [sample_scene_dir], tile=64, halo=16, device="cpu")
    assert result["charts"] == ["SOD"] and list(result["metrics"]) == ["SOD"]
    assert result["combined_score"] == pytest.approx(result["scores"]["SOD"])
    assert (result["weight_bits"], result["act_bits"], result["skips"]) == (4, 4, True)


def test_tiled_prediction_equals_whole_scene_forward() -> None:
    torch.manual_seed(0)
    model = create_model("tinyicenet_float", widths=(4, 8, 16)).eval()
    image = np.random.default_rng(0).standard_normal((2, 90, 130)).astype(np.float32)
    tiled = predict_logits(model, image, tile=64, halo=16)
    padded = torch.zeros((1, 2, 92, 132))
    padded[0, :, :90, :130] = torch.from_numpy(image)
    with torch.no_grad():
        whole = model(padded)[0, :, :90, :130].numpy()
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The real command in a fresh process (exit code, stdout, stderr)."""
    return subprocess.run([sys.executable, "-m", "tinyicenet", *args], capture_output=True,
                          text=True, timeout=300)


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """tinyicenet.cli.main in this process (fast): (exit code, stdout, stderr)."""
    from tinyicenet.cli import main

    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_cli_prints_the_table_and_writes_files(sample_scene_dir, tmp_path) -> None:
    _checkpoint(tmp_path / "m.pt")
    r = _cli("evaluate", str(tmp_path / "m.pt"), str(sample_scene_dir), "--out",
             str(tmp_path / "ev"), "--tile", "64", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "weighted F1" in r.stdout and "thin first-year ice" in r.stdout
    assert (tmp_path / "ev" / "evaluation.json").exists()


def _bad_checkpoints(tmp_path):
    good = tmp_path / "good.pt"
    _checkpoint(good)
    blob = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "garbage.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    ckpt = torch.load(good, weights_only=True)
    ckpt["model"]["kwargs"]["widths"] = [16, 32, 64]  # weights of widths (4, 8, 16)
    torch.save(ckpt, tmp_path / "other_arch.pt")
    ckpt = torch.load(good, weights_only=True)
    ckpt["model"]["name"] = "resnet50"
    torch.save(ckpt, tmp_path / "unknown_model.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    return {
        "truncated.pt": "not a readable checkpoint",
        "garbage.pt": "not a readable checkpoint",
        "other_arch.pt": "weights do not fit model",
        "unknown_model.pt": "unknown model name 'resnet50'",
        "foreign.pt": "not a tinyicenet checkpoint",
        "missing.pt": "checkpoint file not found",
    }


def test_cli_bad_checkpoints_give_one_line_errors(sample_scene_dir, tmp_path, capsys) -> None:
    cases = _bad_checkpoints(tmp_path)
    for name, needle in cases.items():
        code, _, err = _main(capsys, "evaluate", str(tmp_path / name), str(sample_scene_dir),
                             "--quiet")
        lines = err.strip().splitlines()
        assert code != 0, name
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, err)
        assert needle in lines[0] and name in lines[0], (name, lines[0])
        # resume refuses the same files with the same kind of message
        code, _, err = _main(capsys, "train", "--resume", str(tmp_path / name), "--quiet")
        assert code != 0 and err.startswith("error: ") and name in err, (name, err)
        assert len(err.strip().splitlines()) == 1
    # and as a real process: exit status 2, one line, no traceback
    r = _cli("evaluate", str(tmp_path / "truncated.pt"), str(sample_scene_dir), "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_cli_bad_data_and_options(tmp_path, capsys) -> None:
    _checkpoint(tmp_path / "m.pt")
    code, _, err = _main(capsys, "evaluate", str(tmp_path / "m.pt"), str(tmp_path / "nowhere"))
    assert code != 0 and "no such scene file or folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _main(capsys, "evaluate", str(tmp_path / "m.pt"), str(tmp_path / "empty"))
    assert code != 0 and "holds no scene files" in err
    code, _, err = _main(capsys, "evaluate", str(tmp_path / "m.pt"), str(tmp_path / "empty"),
                         "--device", "tpu")
    assert code != 0 and "--device 'tpu'" in err

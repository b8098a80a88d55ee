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


def _stats_extra(variables) -> dict:
    from tinyicenet.data import normalisation_stats
    stats = normalisation_stats()
    return {"normalisation": {"variables": {v: {"mean": stats[v][0], "std": stats[v][1],
                                                "scaling": "z-score"} for v in variables}},
            "downsample": 5}


def _checkpoint(path, name="tinyicenet_float", charts=("SOD",), seed=0):
    from tinyicenet.models import calibrate

    torch.manual_seed(seed)
    model = create_model(name, widths=(4, 8, 16), charts=charts)
    with torch.no_grad():  # random weights give near-constant maps; spread the logits a little
        for p in model.parameters():
            p.mul_(3.0)
    calibrate(model, [torch.randn((2, 2, 32, 32))])  # a quantized model needs its radix points
    save_checkpoint(path, model, config=CONFIG, variables=CONFIG["data"]["variables"],
                    epoch=1, phase="float", data_stats=_stats_extra(CONFIG["data"]["variables"]))
    return model


def _autoice_scores(model, files, charts):
    """An independent AutoICE scorer: one whole-scene forward (no tiles), argmax, upsampled to
    the file's 80 m chart grid with torch's nearest interpolation (as the MMSeaIce AutoICE code
    does), labels read straight from the file, every pixel whose label is not 255, pooled,
    scikit-learn's r2_score / f1_score(average="weighted") x 100."""
    import xarray as xr

    from tinyicenet.data import load_scene

    refs = {c: [] for c in charts}
    preds = {c: [] for c in charts}
    for path in files:
        scene = load_scene(path, charts=())
        x = torch.from_numpy(scene["image"])[None]
        pad = (-x.shape[-1] % model.stride, -x.shape[-2] % model.stride)
        with torch.no_grad():
            logits = model(torch.nn.functional.pad(x, (0, pad[0], 0, pad[1])))
        logits = logits[..., :x.shape[-2], :x.shape[-1]]
        parts = model.split(logits)
        with xr.open_dataset(path) as ds:
            labels = {c: ds[c].values for c in charts}
        for c in charts:
            cls = parts[c].argmax(dim=1, keepdim=True).float()
            up = torch.nn.functional.interpolate(cls, size=labels[c].shape, mode="nearest")
            up = up[0, 0].numpy().astype(np.uint8)
            keep = labels[c] != 255
            refs[c].append(labels[c][keep])
            preds[c].append(up[keep])
    y = {c: np.concatenate(refs[c]) for c in charts}
    p = {c: np.concatenate(preds[c]) for c in charts}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = {c: 100 * (r2_score(y[c], p[c]) if c == "SIC"
                            else f1_score(y[c], p[c], average="weighted")) for c in charts}
    return scores, y, p


def test_scores_equal_an_independent_autoice_scorer_on_the_80m_grid(
        sample_scene_dir, sample_scene_files, tmp_path) -> None:
    from tinyicenet.data import load_scene
    from tinyicenet.data.resample import downsample_labels, upsample_classes

    charts = ("SOD", "SIC", "FLOE")
    model = _checkpoint(tmp_path / "m.pt", charts=charts).eval()
    # the polygon edges are irregular: not aligned to the 5 x 5 downsampling blocks
    import xarray as xr
    with xr.open_dataset(sample_scene_files[0]) as ds:
        sod = ds["SOD"].values
    blocky = upsample_classes(downsample_labels(sod, 5, "mode"), sod.shape, 5)
    assert ((blocky != sod) & (sod != 255)).sum() > 500

    result = evaluate(tmp_path / "m.pt", [sample_scene_dir], tmp_path / "out", tile=64,
                      device="cpu")
    want, y, p = _autoice_scores(model, sample_scene_files, charts)
    assert result["grid"] == "chart"
    for c in charts:
        assert result["scores"][c] == pytest.approx(want[c], abs=0.01)
        assert result["pixels"][c] == y[c].size
    assert result["combined_score"] == pytest.approx(
        (2 * want["SIC"] + 2 * want["SOD"] + want["FLOE"]) / 5, abs=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per_class = 100 * f1_score(y["SOD"], p["SOD"], average=None, labels=range(6),
                                   zero_division=0)
    present = set(y["SOD"]) | set(p["SOD"])
    for row in result["metrics"]["SOD"]["per_class"]:
        if row["class"] in present:
            assert row["f1"] == pytest.approx(per_class[row["class"]], abs=1e-6)
        else:
            assert row["f1"] is None
    assert len(result["scenes"]) == 3 and result["precision"] == "fp32"
    for rec in result["scenes"]:
        assert rec["chart_grid_pixels"] == [600, 600] and rec["pixels"] == [120, 120]
        assert rec["input_scaling"] == "physical"

    # the working-grid score is there under its own name, and it is a different number
    working = result["working_grid"]
    refs, preds = [], []
    for path in sample_scene_files:
        scene = load_scene(path, charts=("SOD",))
        pred = predict_scene(model, scene["image"], tile=64)
        keep = scene["SOD"] != 255
        refs.append(scene["SOD"][keep])
        preds.append(pred["SOD"][keep])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w_sod = 100 * f1_score(np.concatenate(refs), np.concatenate(preds), average="weighted")
    assert working["scores"]["SOD"] == pytest.approx(w_sod, abs=1e-9)
    assert working["pixels"]["SOD"] < result["pixels"]["SOD"] / 20
    assert working["scores"]["SOD"] != pytest.approx(result["scores"]["SOD"], abs=1e-6)

    out = tmp_path / "out"
    written = json.loads((out / "evaluation.json").read_text())
    assert written["scores"] == result["scores"] and written["schema"] == "tinyicenet-eval"
    for c in charts:
        assert (out / f"confusion_{c}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_scene_tallies_merge_to_the_pooled_result(sample_scene_files, tmp_path) -> None:
    """The per-scene API distributed evaluation uses: merged tallies give evaluate's scores."""
    from tinyicenet.evaluate import evaluate_scene, result_scores
    from tinyicenet.metrics import ChartMetrics
    from tinyicenet.models.checkpoint import input_statistics, read_checkpoint
    from tinyicenet.predict.runner import model_info

    charts = ("SOD", "FLOE")
    model = _checkpoint(tmp_path / "m.pt", charts=charts).eval()
    stats = input_statistics(read_checkpoint(tmp_path / "m.pt"))
    pooled = evaluate(tmp_path / "m.pt", sample_scene_files, tile=64, device="cpu")
    info = model_info(tmp_path / "m.pt")

    def run(tiles):
        with torch.no_grad():
            return model(torch.from_numpy(tiles)).numpy()

    merged = ChartMetrics(charts)
    for path in reversed(sample_scene_files):  # order does not matter
        own, record = evaluate_scene(info, path, run=run, stats=stats, downsample=5, tile=64)
        merged.merge(ChartMetrics.from_state(own.to_state()))
        assert set(record["scores"]) == set(charts)
    got = result_scores(merged)
    assert got["scores"] == pooled["scores"]
    assert got["working_grid"]["scores"] == pooled["working_grid"]["scores"]


def test_sod_only_model_has_no_combined_score(sample_scene_dir, tmp_path) -> None:
    _checkpoint(tmp_path / "sod.pt", name="tinyicenet_w4a4")
    result = evaluate(tmp_path / "sod.pt", [sample_scene_dir], tile=64, device="cpu")
    assert result["charts"] == ["SOD"] and list(result["metrics"]) == ["SOD"]
    assert result["combined_score"] is None and "SOD only" in result["combined_note"]
    assert result["scores"]["SOD"] is not None
    assert (result["weight_bits"], result["act_bits"], result["skips"]) == (4, 4, True)


def test_a_halo_below_the_receptive_radius_is_refused(sample_scene_dir, tmp_path) -> None:
    from tinyicenet.errors import ConfigError
    _checkpoint(tmp_path / "m.pt")
    with pytest.raises(ConfigError, match="receptive radius 13"):
        evaluate(tmp_path / "m.pt", [sample_scene_dir], tile=64, halo=8, device="cpu")


def test_tiled_prediction_equals_whole_scene_forward() -> None:
    torch.manual_seed(0)
    model = create_model("tinyicenet_float", widths=(4, 8, 16)).eval()
    image = np.random.default_rng(0).standard_normal((2, 90, 130)).astype(np.float32)
    tiled = predict_logits(model, image, tile=64)
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


def test_a_checkpoint_without_statistics_warns_in_one_line(sample_scene_dir, tmp_path,
                                                          capsys) -> None:
    _checkpoint(tmp_path / "m.pt")
    ckpt = torch.load(tmp_path / "m.pt", weights_only=True)
    del ckpt["data_stats"]
    torch.save(ckpt, tmp_path / "nostats.pt")
    code, _, err = _main(capsys, "evaluate", str(tmp_path / "nostats.pt"), str(sample_scene_dir),
                         "--tile", "64", "--quiet")
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "normalisation" in ln]
    assert lines == [f"warning: {tmp_path / 'nostats.pt'}: stores no normalisation statistics; "
                     "using data/ai4arctic/statistics.json as it is now"], err
    assert "UserWarning" not in err


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
    code, _, err = _main(capsys, "evaluate", str(tmp_path / "m.pt"), str(tmp_path / "empty"),
                         "--retries", "3")
    assert code == 2 and "--retries has no effect with no --workers or --scheduler" in err, err

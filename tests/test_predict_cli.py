"""``tinyicenet predict`` end to end on generated AI4Arctic scenes: products, folders with a bad
scene, bad input through the real CLI (exit codes, one ``error:`` line, nothing half-written)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from tinyicenet.data import class_table, load_scene
from tinyicenet.errors import DataError
from tinyicenet.predict import pipeline
from tinyicenet.predict.pipeline import PredictOptions, predict_scenes
from tinyicenet.predict.runner import model_info, open_backend, predict_classes
from helpers import run_main

BACKEND = "integer"  # exact: products can be compared value for value


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised, calibrated w4a4 model (accuracy is irrelevant here)."""
    import torch

    from tinyicenet.models import calibrate, create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4").eval()
    calibrate(model, [torch.randn(2, 2, 64, 64) for _ in range(3)])
    variables = ["nersc_sar_primary", "nersc_sar_secondary"]
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "w4a4.pt", model,
                           variables=variables, data_stats=_data_stats(variables))


def _data_stats(variables) -> dict:
    """The statistics block training stores (trainer._normalisation)."""
    from tinyicenet.data import normalisation_stats
    stats = normalisation_stats()
    return {"normalisation": {"variables": {v: {"mean": stats[v][0], "std": stats[v][1],
                                                "scaling": "z-score"} for v in variables}}}


@pytest.fixture(scope="module")
def run_folder(sample_scene_dir, checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred") / "out"
    summary = predict_scenes(checkpoint, [sample_scene_dir], out,
                             PredictOptions(backend=BACKEND, quiet=True))
    return out, summary


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TINYICENET_DEBUG"}
    return subprocess.run([sys.executable, "-m", "tinyicenet", "predict", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
                          check=False)


def _main(capsys, *args) -> subprocess.CompletedProcess:
    """``tinyicenet predict ARGS`` in this process (the folder, tie-point and backscatter tests
    run the real ``python -m tinyicenet`` entry point)."""
    return run_main(capsys, "predict", *args)


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# ---- products ---------------------------------------------------------------------------------

def test_folder_run_writes_every_product(run_folder, sample_scene_files, checkpoint):
    out, summary = run_folder
    assert len(summary.written) == 3 and not summary.failed
    names = [s.scene for s in summary.scenes]
    assert names == [p.name[: -len("_prep.nc")] for p in sample_scene_files]
    expected = {f"{n}{suffix}" for n in names
                for suffix in ("_SOD.tif", "_autoice.nc", "_quicklook.png")}
    assert set(_files(out)) == expected | {"upload_package.nc", "summary.json"}

    # the COG holds exactly the model's class ids on the working grid
    info = model_info(checkpoint)
    backend = open_backend(BACKEND, checkpoint)
    scene = load_scene(sample_scene_files[0], variables=info.variables)
    ids = predict_classes(backend.run, scene["image"], scene["valid"], info)["SOD"]
    backend.close()
    with rasterio.open(out / f"{names[0]}_SOD.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), ids)
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.nodata == 255 and ds.shape == (120, 120)
        assert ((ds.read(1) == 255) == ~scene["valid"]).all()
        table = class_table("SOD")
        assert json.loads(ds.tags()["CLASS_NAMES"]) == {str(i): n
                                                        for i, n in enumerate(table.names)}
        assert ds.colormap(1)[0][:3] == tuple(int(table.colours[0][i:i + 2], 16)
                                              for i in (1, 3, 5))
        gcps, crs = ds.gcps
    # GCPs: the file's tie-point grid, at the centres of the file pixels it names
    assert crs.to_epsg() == 4326 and len(gcps) == 21 * 21
    with xr.open_dataset(sample_scene_files[0]) as f:
        lat = f["sar_grid2d_latitude"].transpose("sar_line_2dgrid_points",
                                                 "sar_sample_2dgrid_points").values
    pos = (np.linspace(0, 599, 21) + 0.5) / 5  # file pixel centre -> GDAL raster coordinate
    g = gcps[21 * 4 + 11]
    assert (g.row, g.col, g.y) == pytest.approx((pos[4], pos[11], lat[4, 11]))

    # the AutoICE arrays: same classes on the 80 m file grid, zlib level 1
    import netCDF4
    with netCDF4.Dataset(out / f"{names[0]}_autoice.nc") as nc:
        v = nc.variables[f"{names[0]}_SOD"]
        assert v.shape == (600, 600) and v.dtype == np.uint8 and v.filters()["complevel"] == 1
        v.set_auto_mask(False)
        np.testing.assert_array_equal(v[:][::5, ::5], ids)
    with netCDF4.Dataset(out / "upload_package.nc") as nc:
        assert sorted(nc.variables) == sorted(f"{n}_SOD" for n in names)


def test_summary_sizes_and_metrics(run_folder):
    out, _ = run_folder
    doc = json.loads((out / "summary.json").read_text())
    assert doc["counts"] == {"scenes": 3, "written": 3, "failed": 0}
    s = doc["scenes"][0]
    z = s["sizes"]
    assert s["working_shape"] == [120, 120] and s["pixel_spacing_m"] == 400.0
    assert z["sod_uint8_bytes"] == 120 * 120
    assert z["sar_float32_bytes"] == 2 * 600 * 600 * 4
    assert z["s1_grd_uint16_bytes"] == 2 * 2 * (600 * 2) ** 2  # 40 m pixels, 2 pols, 16 bit
    assert z["sod_cog_bytes"] == (out / s["products"]["cog_SOD"]).stat().st_size
    assert z["ratio_sar_float32_to_sod_uint8"] == pytest.approx(2 * 600 * 600 * 4 / 14400)
    assert s["metrics"]["grid"] == "chart"
    m = s["metrics"]["metrics"]["SOD"]
    assert 0.0 <= m["score"] <= 100.0
    assert m["pixels"] == sum(c["support"] for c in m["per_class"]) > 0
    assert m["pixels"] == s["metrics"]["pixels"]["SOD"] > 20 * s["metrics"]["working_grid"][
        "pixels"]["SOD"]  # 80 m chart grid against the 400 m working grid
    assert s["metrics"]["combined_score"] is None  # a SOD-only model
    assert s["input_scaling"] == "physical" and s["normalisation"] == "checkpoint"
    assert set(s["seconds"]) == {"load", "inference", "write", "total"}
    assert s["tiles"] == 1  # 120 x 120 working pixels: one pass
    assert doc["backend"] == BACKEND and doc["size_assumptions"]


def test_tiled_output_equals_untiled_output_on_a_one_tile_scene(sample_scene_files, checkpoint,
                                                                tmp_path):
    """The 120 x 120 working scene fits one 256 px tile; 64 px tiles cut it in 16 pieces."""
    one = predict_scenes(checkpoint, sample_scene_files[:1], tmp_path / "one",
                         PredictOptions(backend=BACKEND, tile=256, quiet=True, quicklook=False))
    many = predict_scenes(checkpoint, sample_scene_files[:1], tmp_path / "many",
                          PredictOptions(backend=BACKEND, tile=64, quiet=True, quicklook=False))
    assert one.written[0].tiles == 1 and many.written[0].tiles == 16
    name = one.written[0].products["cog_SOD"]
    with rasterio.open(tmp_path / "one" / name) as a, rasterio.open(tmp_path / "many" / name) as b:
        assert a.read(1).shape == (120, 120)
        np.testing.assert_array_equal(a.read(1), b.read(1))
    assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes()


def test_warp_to_polar_stereographic(sample_scene_files, checkpoint, tmp_path):
    summary = predict_scenes(checkpoint, sample_scene_files[:1], tmp_path,
                             PredictOptions(backend=BACKEND, crs="EPSG:3413", quiet=True,
                                            quicklook=False))
    rec = summary.written[0]
    with rasterio.open(tmp_path / rec.products["cog_SOD"]) as ds:
        assert ds.crs.to_epsg() == 3413 and ds.gcps[0] == []
        assert ds.res == (400.0, 400.0)
        assert ds.transform.c % 400 == 0 and ds.transform.f % 400 == 0
        data = ds.read(1)
    assert set(np.unique(data)) <= set(range(6)) | {255}
    # about as many classified pixels as on the swath grid (same area, same 400 m pixels)
    assert abs((data != 255).sum() / rec.sizes["sod_uint8_bytes"] - 1) < 0.5
    assert "EPSG:3413" in rec.georeference


def test_a_failing_writer_leaves_no_products_of_that_scene(sample_scene_files, checkpoint,
                                                           tmp_path, monkeypatch):
    import tinyicenet.predict.quicklook as ql

    def broken(*a, **k):
        raise OSError("No space left on device")

    monkeypatch.setattr(ql, "write_quicklook", broken)
    summary = predict_scenes(checkpoint, sample_scene_files[:2], tmp_path / "o",
                             PredictOptions(backend=BACKEND, quiet=True))
    assert len(summary.failed) == 2 and "No space left" in summary.failed[0].error
    assert not (tmp_path / "o").exists()  # nothing written: not even the folder stays


# ---- CLI: folders, progress, bad input --------------------------------------------------------

def test_cli_folder_with_a_corrupt_scene(sample_scene_files, checkpoint, tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for p in sample_scene_files[:2]:
        shutil.copy(p, scenes / p.name)
    bad = scenes / "20200101T000000_S1A_AMSR2_Icechart-Greenland-NorthEast_prep.nc"
    data = sample_scene_files[2].read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # truncated download
    out = tmp_path / "out"
    r = _cli(checkpoint, scenes, "--out", out, "--backend", BACKEND)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "1 of 3 scenes failed" in errors[0] and bad.name in errors[0], \
        r.stderr
    assert any(ln.startswith("failed:") and bad.name in ln for ln in r.stderr.splitlines())
    assert sum("wrote " in ln for ln in r.stderr.splitlines()) == 2  # per-scene progress
    good = [p.name[: -len("_prep.nc")] for p in sample_scene_files[:2]]
    assert {f"{g}_SOD.tif" for g in good} <= set(_files(out))
    assert not [f for f in _files(out) if f.startswith("20200101T000000") or ".part" in f]
    doc = json.loads((out / "summary.json").read_text())
    assert doc["counts"] == {"scenes": 3, "written": 2, "failed": 1}
    assert good[0] in r.stdout  # the table


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_cli_scene_without_tie_points_is_written_without_georeference(sample_scene_files,
                                                                      checkpoint, tmp_path):
    src = sample_scene_files[0]
    plain = tmp_path / src.name
    with xr.open_dataset(src) as ds:
        ds.drop_vars(["sar_grid2d_latitude", "sar_grid2d_longitude"]).to_netcdf(plain)
    out = tmp_path / "out"
    r = _cli(checkpoint, plain, "--out", out, "--backend", BACKEND, "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "no tie-point grid" in warnings[0]
    assert _error_lines(r.stderr) == []
    name = src.name[: -len("_prep.nc")]
    with rasterio.open(out / f"{name}_SOD.tif") as ds:
        assert ds.crs is None and ds.gcps[0] == []
        assert ds.colormap(1)[5][3] == 255
    assert json.loads(r.stdout)["scenes"][0]["georeference"] is None


def test_cli_model_needs_a_variable_the_scene_lacks(sample_scene_files, tmp_path, capsys):
    from tinyicenet.models import create_model, save_checkpoint

    ckpt = save_checkpoint(tmp_path / "m3.pt",
                           create_model("tinyicenet_float", in_channels=3).eval(),
                           variables=["nersc_sar_primary", "nersc_sar_secondary",
                                      "sar_incidenceangle"])
    src = sample_scene_files[0]
    scene = tmp_path / src.name
    with xr.open_dataset(src) as ds:
        ds.drop_vars(["sar_incidenceangle"]).to_netcdf(scene)
    out = tmp_path / "out"
    r = _main(capsys, ckpt, scene, "--out", out, "--backend", "torch")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "sar_incidenceangle" in errors[0], r.stderr
    assert not out.exists()


def test_cli_output_folder_not_writable(sample_scene_files, checkpoint, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = _main(capsys, checkpoint, sample_scene_files[0], "--out", blocker / "out", "--backend",
              BACKEND)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "not writable" in errors[0] and "a_file" in errors[0]
    assert blocker.read_text() == "not a folder" and _files(tmp_path) == ["a_file"]


@pytest.mark.parametrize("args, message", [
    (["--crs", "EPSG:4326"], "not a projected CRS"),
    (["--crs", "EPSG:99999999"], "--crs EPSG:99999999"),
    (["--backend", "tpu"], "unknown backend 'tpu'"),
    (["--tile", "30"], "must be multiples of the model stride"),
    (["--tile", "32"], "leaves no core with halo"),
])
def test_cli_bad_options(sample_scene_files, checkpoint, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    r = _main(capsys, checkpoint, sample_scene_files[0], "--out", out, *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert not out.exists()


def test_cli_cuda_backend_without_a_gpu(sample_scene_files, checkpoint, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    r = _main(capsys, checkpoint, sample_scene_files[0], "--out", tmp_path / "out", "--backend",
              "cuda")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "no CUDA device" in errors[0]
    assert not (tmp_path / "out").exists()


def test_cli_bad_checkpoint(sample_scene_files, tmp_path, capsys):
    ckpt = tmp_path / "broken.pt"
    ckpt.write_bytes(b"PK\x03\x04 not really a checkpoint")
    r = _main(capsys, ckpt, sample_scene_files[0], "--out", tmp_path / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "broken.pt" in errors[0]
    assert not (tmp_path / "out").exists()


def test_scene_lists(sample_scene_files, run_folder, tmp_path):
    from tinyicenet.errors import ConfigError

    copy = tmp_path / sample_scene_files[0].name
    shutil.copy(sample_scene_files[0], copy)
    with pytest.raises(ConfigError, match="same scene"):
        pipeline.scene_paths([sample_scene_files[0], copy])
    # an output folder holds NetCDF products, but no scenes
    out, _ = run_folder
    with pytest.raises(DataError, match="no scene files"):
        pipeline.scene_paths([out])


def test_model_info_follows_the_training_configuration(tmp_path):
    from tinyicenet.errors import CheckpointError
    from tinyicenet.models import create_model, save_checkpoint

    model = create_model("tinyicenet_float", charts=("SOD", "SIC")).eval()
    ckpt = save_checkpoint(tmp_path / "a.pt", model, config={"data": {
        "downsample": 10, "variables": ["nersc_sar_primary", "nersc_sar_secondary"]}})
    info = model_info(ckpt)
    assert info.downsample == 10 and info.charts == ("SOD", "SIC")
    assert info.num_classes == (6, 11) and info.stride == 4 and info.halo == 16
    bad = save_checkpoint(tmp_path / "b.pt", model, variables=["nersc_sar_primary"])
    with pytest.raises(CheckpointError, match="1 input variables"):
        model_info(bad)


# ---- scores, normalisation, land, impossible values ------------------------------------------

def test_summary_scores_equal_evaluate(sample_scene_files, tmp_path):
    """predict's summary.json holds the numbers evaluate gives for the same scene."""
    import torch

    from tinyicenet.evaluate import evaluate
    from tinyicenet.models import create_model, save_checkpoint

    torch.manual_seed(3)
    model = create_model("tinyicenet_float", widths=(4, 8, 16), charts=("SOD", "SIC", "FLOE"))
    variables = ["nersc_sar_primary", "nersc_sar_secondary"]
    ckpt = save_checkpoint(tmp_path / "f.pt", model, variables=variables,
                           data_stats={**_data_stats(variables), "downsample": 5})
    summary = predict_scenes(ckpt, sample_scene_files[:1], tmp_path / "p",
                             PredictOptions(backend="torch", quiet=True, quicklook=False))
    got = summary.written[0].metrics
    want = evaluate(ckpt, sample_scene_files[:1], tile=256, device="cpu")
    assert got["scores"] == pytest.approx(want["scores"], abs=1e-9)
    assert got["combined_score"] == pytest.approx(want["combined_score"], abs=1e-9)
    assert got["pixels"] == want["pixels"]
    assert got["working_grid"]["scores"] == pytest.approx(want["working_grid"]["scores"])


def test_changing_statistics_after_training_does_not_change_predictions(
        sample_scene_files, checkpoint, tmp_path, monkeypatch):
    """The checkpoint's statistics serve; a checkpoint without them would follow the file."""
    import torch

    from tinyicenet.data import tables

    before = predict_scenes(checkpoint, sample_scene_files[:1], tmp_path / "a",
                            PredictOptions(backend=BACKEND, quiet=True, quicklook=False))
    ckpt = torch.load(checkpoint, weights_only=True)
    del ckpt["data_stats"]
    torch.save(ckpt, tmp_path / "nostats.pt")
    old = predict_scenes(tmp_path / "nostats.pt", sample_scene_files[:1], tmp_path / "c",
                         PredictOptions(backend=BACKEND, quiet=True, quicklook=False))
    assert any("stores no normalisation statistics" in w for w in old.written[0].warnings)

    real = tables._read_json

    def recomputed(name):  # what recomputing statistics.json on other scenes would give
        doc = real(name)
        if name == "statistics.json":
            doc["variables"]["nersc_sar_primary"].update(mean=-18.0, std=4.0)
            doc["variables"]["nersc_sar_secondary"].update(mean=-28.0, std=3.5)
        return doc

    monkeypatch.setattr(tables, "_read_json", recomputed)
    tables.normalisation_stats.cache_clear()
    try:
        after = predict_scenes(checkpoint, sample_scene_files[:1], tmp_path / "b",
                               PredictOptions(backend=BACKEND, quiet=True, quicklook=False))
        changed = predict_scenes(tmp_path / "nostats.pt", sample_scene_files[:1], tmp_path / "d",
                                 PredictOptions(backend=BACKEND, quiet=True, quicklook=False))
    finally:
        monkeypatch.undo()
        tables.normalisation_stats.cache_clear()
    name = before.written[0].scene
    read = {}
    for key, folder in (("before", "a"), ("after", "b"), ("old", "c"), ("changed", "d")):
        with rasterio.open(tmp_path / folder / f"{name}_SOD.tif") as ds:
            read[key] = ds.read(1)
    np.testing.assert_array_equal(read["after"], read["before"])
    np.testing.assert_array_equal(read["old"], read["before"])
    assert (read["changed"] != read["old"]).any()  # the test can fail: the file does matter
    assert after.written[0].normalisation == "checkpoint"


def test_land_is_no_data_even_with_backscatter_over_land(checkpoint, tmp_path):
    """Real files keep backscatter over land; distance_map zone 0 keeps it out of products."""
    from tinyicenet.data.synth import SynthConfig, generate_scene, write_scene

    cfg = SynthConfig(land_probability=1.0, land_backscatter=True)
    ds = generate_scene((400, 400), seed=2, config=cfg)
    land = ds["distance_map"].values == 0
    inside = np.isfinite(ds["sar_incidenceangle"].values)  # the swath; outside it SAR is NaN
    assert (land & inside).mean() > 0.03
    assert np.isfinite(ds["nersc_sar_primary"].values[land & inside]).all()
    path = write_scene(ds, tmp_path / "in" / ds.attrs["file_name"], cfg)
    summary = predict_scenes(checkpoint, [path], tmp_path / "out",
                             PredictOptions(backend=BACKEND, quiet=True, quicklook=False))
    rec = summary.written[0]
    assert rec.land_pixels == int(land.sum())
    with rasterio.open(tmp_path / "out" / f"{rec.scene}_SOD.tif") as cog:
        ids = cog.read(1)
    land_w = (land.reshape(80, 5, 80, 5).mean(axis=(1, 3)) > 0.5)
    inside_w = inside.reshape(80, 5, 80, 5).all(axis=(1, 3))
    assert (land_w & inside_w).sum() > 100
    assert (ids[land_w] == 255).all() and (ids[~land_w] != 255).any()
    scene = load_scene(path, charts=("SOD",))
    assert not scene["valid"][land_w].any() and (scene["SOD"][land_w] == 255).all()
    # without the mask the network would have been fed land, and labelled it as ice
    unmasked = load_scene(path, charts=("SOD",), mask_land=False)
    assert unmasked["valid"][land_w & inside_w].all()


def test_impossible_backscatter_is_masked_with_a_count_or_refused(checkpoint, tmp_path):
    from tinyicenet.data.synth import generate_scene, write_scene

    ds = generate_scene((200, 200), seed=5)
    good = load_scene(write_scene(ds, tmp_path / "good" / ds.attrs["file_name"]), downsample=1,
                      charts=())
    hh = ds["nersc_sar_primary"].values.copy()
    hh[10:20, 10:30] = np.inf  # 200 px
    hh[50:55, 50:60] = 1e30  # 50 px far above +30 dB
    hh[100, 100:110] = -80.0  # 10 px below -60 dB
    ds["nersc_sar_primary"] = (ds["nersc_sar_primary"].dims, hh)
    path = write_scene(ds, tmp_path / "bad" / ds.attrs["file_name"])
    with pytest.warns(UserWarning, match="nersc_sar_primary: 260 pixels non-finite or outside"):
        scene = load_scene(path, downsample=1, charts=("SOD",))
    assert not scene["valid"][10:20, 10:30].any() and not scene["valid"][100, 100:110].any()
    injected = np.zeros(hh.shape, bool)
    injected[10:20, 10:30] = injected[50:55, 50:60] = injected[100, 100:110] = True
    np.testing.assert_array_equal(scene["valid"], good["valid"] & ~injected)
    assert np.isfinite(scene["image"]).all() and np.abs(scene["image"]).max() < 20
    summary = predict_scenes(checkpoint, [path], tmp_path / "out",
                             PredictOptions(backend=BACKEND, quiet=True, quicklook=False))
    assert any("260 pixels" in w for w in summary.written[0].warnings)

    ds["nersc_sar_primary"] = (ds["nersc_sar_primary"].dims,
                               np.where(np.isfinite(hh), 1e30, np.nan).astype(np.float32))
    path = write_scene(ds, tmp_path / "worse" / ds.attrs["file_name"])
    with pytest.raises(DataError, match="no physically possible value"):
        load_scene(path, charts=())
    r = _cli(checkpoint, path, "--out", tmp_path / "out2", "--backend", BACKEND, "--quiet")
    assert r.returncode != 0 and "no physically possible value" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out2" / "summary.json").exists()

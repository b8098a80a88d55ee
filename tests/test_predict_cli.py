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

BACKEND = "integer"  # exact: products can be compared value for value


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised, calibrated w4a4 model (accuracy is irrelevant here)."""
    import torch

    from tinyicenet.models import calibrate, create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4").eval()
    calibrate(model, [torch.randn(2, 2, 64, 64) for _ in range(3)])
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "w4a4.pt", model,
                           variables=["nersc_sar_primary", "nersc_sar_secondary"])


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
    m = s["metrics"]["charts"]["SOD"]
    assert 0.0 <= m["score"] <= 100.0
    assert m["pixels"] == sum(c["support"] for c in m["per_class"]) > 0
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


def test_cli_model_needs_a_variable_the_scene_lacks(sample_scene_files, tmp_path):
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
    r = _cli(ckpt, scene, "--out", out, "--backend", "torch")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "sar_incidenceangle" in errors[0], r.stderr
    assert not out.exists()


def test_cli_output_folder_not_writable(sample_scene_files, checkpoint, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = _cli(checkpoint, sample_scene_files[0], "--out", blocker / "out", "--backend", BACKEND)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "not writable" in errors[0] and "a_file" in errors[0]
    assert blocker.read_text() == "not a folder" and _files(tmp_path) == ["a_file"]


@pytest.mark.parametrize("args, message", [
    (["--crs", "EPSG:4326"], "not a projected CRS"),
    (["--crs", "EPSG:99999999"], "--crs EPSG:99999999"),
    (["--backend", "tpu"], "unknown backend 'tpu'"),
])
def test_cli_bad_options(sample_scene_files, checkpoint, tmp_path, args, message):
    out = tmp_path / "out"
    r = _cli(checkpoint, sample_scene_files[0], "--out", out, *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert not out.exists()


def test_cli_cuda_backend_without_a_gpu(sample_scene_files, checkpoint, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    r = _cli(checkpoint, sample_scene_files[0], "--out", tmp_path / "out", "--backend", "cuda")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "no CUDA device" in errors[0]
    assert not (tmp_path / "out").exists()


def test_cli_bad_checkpoint(sample_scene_files, tmp_path):
    ckpt = tmp_path / "broken.pt"
    ckpt.write_bytes(b"PK\x03\x04 not really a checkpoint")
    r = _cli(ckpt, sample_scene_files[0], "--out", tmp_path / "out")
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

"""Loading scenes: normalisation, validity mask, downsampling, upsampling, metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tinyicenet.data import DEFAULT_DOWNSAMPLE
from tinyicenet.data import layout as L
from tinyicenet.data.resample import downsample_labels, downsample_mean, upsample
from tinyicenet.data.scene import already_normalised, load_scene
from tinyicenet.data.synth import generate_scene, write_scene
from tinyicenet.data.tables import normalisation_stats
from tinyicenet.errors import DataError


def test_contract_keys_and_types(sample_scene_files: list[Path]) -> None:
    scene = load_scene(sample_scene_files[0])
    assert DEFAULT_DOWNSAMPLE == 5
    assert scene["image"].shape == (2, 120, 120) and scene["image"].dtype == np.float32
    assert scene["valid"].dtype == bool and scene["valid"].shape == (120, 120)
    for chart in ("SOD", "SIC", "FLOE"):
        assert scene[chart].dtype == np.uint8 and scene[chart].shape == (120, 120)
        assert (scene[chart][~scene["valid"]] == 255).all()
    meta = scene["meta"]
    assert meta["pixel_spacing"] == 400 and meta["downsample"] == 5
    assert meta["variables"] == [L.HH, L.HV]
    assert meta["ice_service"] in ("dmi", "cis") and meta["path"].endswith("_prep.nc")
    assert meta["lat"].shape == meta["lon"].shape == (21, 21)
    assert len(meta["tie_lines"]) == 21 and len(meta["tie_samples"]) == 21


def test_normalisation_and_nan_to_zero(sample_scene_files: list[Path]) -> None:
    path = sample_scene_files[1]
    raw = load_scene(path, downsample=1, normalise=False, charts=())
    norm = load_scene(path, downsample=1, normalise=True, charts=())
    mean, std = normalisation_stats()[L.HH]
    with xr.open_dataset(path) as ds:
        hh = ds[L.HH].values
    valid = np.isfinite(hh) & np.isfinite(raw["image"][1])
    np.testing.assert_array_equal(raw["valid"], valid)
    np.testing.assert_allclose(raw["image"][0][valid], hh[valid], rtol=0, atol=0)
    np.testing.assert_allclose(norm["image"][0][valid], (hh[valid] - mean) / std, rtol=1e-5,
                               atol=1e-5)
    assert (norm["image"][:, ~valid] == 0).all() and np.isfinite(norm["image"]).all()
    assert (~valid).any()  # the swath edge gives invalid pixels to test
    # the z-scored HH of sea ice sits around 0 with unit-ish spread
    assert abs(float(norm["image"][0][valid].mean())) < 1.5


_SCALED_VARS = (L.HH, L.HV, "tclw", "u10m_rotated", "v10m_rotated")


def _upsampled(ds, var: str, shape) -> np.ndarray:
    from tinyicenet.data.resample import upsample
    return upsample(ds[var].values, shape, "nearest")


def test_scaling_is_decided_once_per_file_and_tclw_winds_are_right(tmp_path: Path) -> None:
    """Physical file: every input (tclw and the winds included) is z-scored once. Standardised
    file: nothing is scaled again. The old per-array median guess got tclw (physical, median
    near 0) wrong; the decision now comes from the file's metadata or the option."""
    ds = generate_scene((200, 200), seed=4)
    stats = normalisation_stats()
    assert ds.attrs["input_scaling"] == "physical"
    # the per-array guess this replaces: physical tclw "looks" z-scored, so it was never scaled
    assert already_normalised(ds["tclw"].values, "tclw")
    phys_path = write_scene(ds, tmp_path / "phys" / ds.attrs["file_name"])
    phys = load_scene(phys_path, variables=_SCALED_VARS, downsample=1, charts=())
    assert phys["meta"]["input_scaling"] == "physical"
    assert phys["meta"]["input_scaling_source"] == "file attribute input_scaling"
    v = phys["valid"]
    for k, var in enumerate(_SCALED_VARS):
        values = ds[var].values if var in (L.HH, L.HV) else _upsampled(ds, var, v.shape)
        mean, std = stats[var]
        np.testing.assert_allclose(phys["image"][k][v], ((values - mean) / std)[v],
                                   rtol=1e-5, atol=1e-5, err_msg=var)

    scaled = ds.copy()
    for var in _SCALED_VARS:  # what a "standard scaled" release file holds
        mean, std = stats[var]
        scaled[var] = ((ds[var] - mean) / std).astype(np.float32)
    scaled.attrs["input_scaling"] = "standardised"
    std_path = write_scene(scaled, tmp_path / "std" / ds.attrs["file_name"])
    auto = load_scene(std_path, variables=_SCALED_VARS, downsample=1, charts=())
    assert auto["meta"]["input_scaling"] == "standardised"
    for k, var in enumerate(_SCALED_VARS):
        values = (scaled[var].values if var in (L.HH, L.HV)
                  else _upsampled(scaled, var, v.shape))
        np.testing.assert_allclose(auto["image"][k][v], values[v], atol=1e-6, err_msg=var)
    np.testing.assert_allclose(auto["image"], phys["image"], atol=2e-5)  # same model input
    forced = load_scene(std_path, variables=_SCALED_VARS, downsample=1, charts=(),
                        input_scaling="physical")
    assert forced["meta"]["input_scaling_source"] == "option"
    assert not np.allclose(forced["image"][0][v], auto["image"][0][v])

    del scaled.attrs["input_scaling"]  # no metadata: one guess for the file, with a warning
    guess_path = write_scene(scaled, tmp_path / "guess" / ds.attrs["file_name"])
    with pytest.warns(UserWarning, match="input scaling standardised guessed"):
        guessed = load_scene(guess_path, variables=_SCALED_VARS, downsample=1, charts=())
    np.testing.assert_allclose(guessed["image"], auto["image"], atol=0)


def test_lazy_windows_share_the_file_decision(tmp_path: Path) -> None:
    """LazyScene decides the scaling once: every window equals the crop of the whole scene."""
    from tinyicenet.data.patches import LazyScene

    ds = generate_scene((160, 160), seed=6)
    stats = normalisation_stats()
    for var in (L.HH, L.HV):
        mean, std = stats[var]
        ds[var] = ((ds[var] - mean) / std).astype(np.float32)
    del ds.attrs["input_scaling"]
    path = write_scene(ds, tmp_path / ds.attrs["file_name"])
    with pytest.warns(UserWarning):
        whole = load_scene(path, downsample=2, charts=("SOD",))
    lazy = LazyScene(path, charts=("SOD",), downsample=2, normalise_inputs="auto")
    assert lazy.scaling == "standardised"
    for row, col in ((0, 0), (40, 8), (56, 56)):
        win = lazy.window(row, col, 24, 24, ("SOD",))
        np.testing.assert_array_equal(win["image"], whole["image"][:, row:row + 24, col:col + 24])


def test_downsample_mean_ignores_nan_and_keeps_partial_blocks() -> None:
    x = np.arange(36, dtype=np.float32).reshape(6, 6)
    x[0, 0] = np.nan
    x[3:, 3:] = np.nan
    out = downsample_mean(x, 3)
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(np.nanmean(x[:3, :3]))
    assert np.isnan(out[1, 1])
    odd = downsample_mean(np.ones((7, 5), np.float32), 3)
    assert odd.shape == (3, 2) and np.all(odd == 1)


def test_downsample_labels_mode_and_nearest() -> None:
    lab = np.array([[1, 1, 2, 3, 3, 3],
                    [1, 2, 2, 3, 255, 255],
                    [255, 255, 255, 255, 255, 255],
                    [255, 255, 255, 0, 0, 4]], dtype=np.uint8)
    mode = downsample_labels(lab, 2, "mode")
    np.testing.assert_array_equal(mode, [[1, 2, 3], [255, 0, 0]])  # tie 2/2 -> lower class
    near = downsample_labels(lab, 2, "nearest")
    np.testing.assert_array_equal(near, [[2, 3, 255], [255, 0, 4]])  # block centres
    with pytest.raises(ValueError):
        downsample_labels(lab, 2, "mean")


def test_downsampled_scene_matches_manual_blocks(sample_scene_files: list[Path]) -> None:
    path = sample_scene_files[2]
    full = load_scene(path, downsample=1, normalise=False)
    coarse = load_scene(path, downsample=4, normalise=False)
    assert coarse["image"].shape == (2, 150, 150)
    assert coarse["meta"]["pixel_spacing"] == 320
    with xr.open_dataset(path) as ds:
        hh = ds[L.HH].values
    block = hh[40:44, 80:84]
    if np.isfinite(block).any():
        assert coarse["image"][0, 10, 20] == pytest.approx(np.nanmean(block), abs=1e-4)
    sod = full["SOD"][40:44, 80:84]
    labelled = sod[sod != 255]
    if labelled.size and coarse["valid"][10, 20]:
        counts = np.bincount(labelled, minlength=6)
        assert coarse["SOD"][10, 20] == int(np.argmax(counts))
    # every class present at the working resolution was present at full resolution
    assert set(np.unique(coarse["SOD"])) <= set(np.unique(full["SOD"]))


def test_2km_variables_are_upsampled_to_the_grid(sample_scene_files: list[Path]) -> None:
    grid = np.arange(12, dtype=np.float32).reshape(3, 4)
    up = upsample(grid, (6, 8), "nearest")
    np.testing.assert_array_equal(up[::2, ::2], grid)
    bil = upsample(grid, (30, 40), "bilinear")
    assert bil.min() >= grid.min() and bil.max() <= grid.max()
    scene = load_scene(sample_scene_files[0], variables=[L.HH, "btemp_18_7h", "t2m"],
                       upsampling="bilinear", charts=["SOD"])
    assert scene["image"].shape == (3, 120, 120)
    assert np.isfinite(scene["image"]).all()
    # 2 km = 5 working pixels of 400 m: nearest upsampling gives 5 x 5 constant blocks
    near = load_scene(sample_scene_files[0], variables=["btemp_18_7h"], charts=())
    b = near["image"][0]
    valid = near["valid"]
    r, c = np.argwhere(valid[:-5, :-5])[len(np.argwhere(valid[:-5, :-5])) // 2]
    r, c = 5 * (r // 5), 5 * (c // 5)
    if valid[r:r + 5, c:c + 5].all():
        assert np.ptp(b[r:r + 5, c:c + 5]) == 0


def test_unknown_variable_and_chart_errors(sample_scene_files: list[Path]) -> None:
    with pytest.raises(DataError, match="unknown input variable"):
        load_scene(sample_scene_files[0], variables=["nersc_sar_tertiary"])
    with pytest.raises(DataError, match="unknown chart"):
        load_scene(sample_scene_files[0], charts=["ICE"])
    with pytest.raises(DataError, match="downsample"):
        load_scene(sample_scene_files[0], downsample=0)


def test_validate_scene(sample_scene_files: list[Path], tmp_path: Path) -> None:
    from tinyicenet.data import validate_scene

    validate_scene(sample_scene_files[0], variables=[L.HH, L.HV, "btemp_36_5v"])
    ds = generate_scene((64, 64), seed=9)
    flip = ds["FLOE"].values.copy()
    flip[10, 10] = 7  # FLOE has classes 0-6
    ds["FLOE"] = (L.SAR_DIMS, flip, ds["FLOE"].attrs)
    bad = write_scene(ds, tmp_path / "bad_prep.nc")
    with pytest.raises(DataError, match="FLOE has values outside the class table.*: 7"):
        validate_scene(bad)
    validate_scene(bad, charts=["SOD"])  # only the charts asked for are checked

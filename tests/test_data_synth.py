"""The generator writes the real AI4Arctic layout, deterministically, with SAR-like content."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tinyicenet.data import layout as L
from tinyicenet.data.synth import SynthConfig, generate_scene, write_scenes

NAME = re.compile(r"^\d{8}T\d{6}_S1[AB]_AMSR2_Icechart-[A-Za-z]+-[A-Za-z]+_prep\.nc$")


def _open(path: Path) -> xr.Dataset:
    return xr.open_dataset(path, engine="netcdf4", mask_and_scale=False)


def test_rtt_layout(sample_scene_files: list[Path]) -> None:
    assert len(sample_scene_files) == 3
    for path in sample_scene_files:
        assert NAME.match(path.name), path.name
        with _open(path) as ds:
            assert ds.sizes["sar_lines"] == 600 and ds.sizes["sar_samples"] == 600
            # 2 km grid: 25 pixels of 80 m per cell
            assert ds.sizes["2km_grid_lines"] == 24 and ds.sizes["2km_grid_samples"] == 24
            for var in L.FULL_GRID_VARIABLES:
                assert ds[var].dims == L.SAR_DIMS and ds[var].dtype == np.float32
            for var in L.GRID_2KM_VARIABLES:
                assert ds[var].dims == L.GRID_2KM_DIMS and ds[var].dtype == np.float32
            assert len(L.AMSR2_VARIABLES) == 14 and len(L.ERA5_VARIABLES) == 6
            for var in (L.LATITUDE, L.LONGITUDE):
                assert ds[var].dims == L.TIEPOINT_DIMS and ds[var].shape == (21, 21)
            for chart in L.CHARTS:
                assert ds[chart].dims == L.SAR_DIMS and ds[chart].dtype == np.uint8
                assert "_FillValue" not in ds[chart].attrs  # 255 is a value, not a NetCDF fill
                assert ds[chart].attrs["chart_fill_value"] == 255
            assert np.isnan(ds[L.HH].attrs["_FillValue"])
            for attr in L.GLOBAL_ATTRIBUTES:
                assert attr in ds.attrs
            assert ds.attrs["pixel_spacing"] == 80
            assert ds.attrs["ice_service"] in L.ICE_SERVICES
            assert path.name.startswith(ds.attrs["scene_id"])
            assert "_EW_GRDM_1SDH_" in ds.attrs["original_id"]
            assert L.POLYGON_ICECHART not in ds.variables


def test_raw_layout(raw_scene_dir: Path) -> None:
    files = sorted(raw_scene_dir.glob("*.nc"))
    assert len(files) == 2
    for path in files:
        assert not path.name.endswith(L.RTT_SUFFIX)
        with _open(path) as ds:
            assert ds.attrs["pixel_spacing"] == 40
            assert ds.sizes["2km_grid_lines"] == 12  # 50 pixels of 40 m per 2 km cell
            assert ds[L.POLYGON_ICECHART].dims == L.SAR_DIMS
            codes = [str(c) for c in ds[L.POLYGON_CODES].values]
            assert codes[0] == ";".join(L.POLYGON_FIELDS)
            assert all(len(c.split(";")) == 15 for c in codes)
            ids = ds[L.POLYGON_ICECHART].values
            listed = {int(c.split(";")[0]) for c in codes[1:]}
            assert set(np.unique(ids[np.isfinite(ids)]).astype(int)) <= listed
            for chart in L.CHARTS:
                assert chart not in ds.variables
            for var in L.RAW_TIEPOINT_VARIABLES:
                assert ds[var].dims == (L.RAW_TIEPOINT_DIM,)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = write_scenes(tmp_path / "a", 2, (96, 128), seed=11)
    b = write_scenes(tmp_path / "b", 2, (96, 128), seed=11)
    c = write_scenes(tmp_path / "c", 1, (96, 128), seed=12)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert [p.name for p in a] == [p.name for p in b]
    assert [digest(p) for p in a] == [digest(p) for p in b]
    assert a[0].name != a[1].name
    with _open(a[0]) as x, _open(c[0]) as y:
        assert not np.array_equal(x[L.HH].values, y[L.HH].values, equal_nan=True)
    # scene i does not depend on how many scenes were asked for
    with _open(a[0]) as x:
        single = generate_scene((96, 128), seed=11, index=0)
        np.testing.assert_array_equal(x[L.HH].values, single[L.HH].values)
    assert not list(tmp_path.glob("**/.*part*"))  # no temporaries left behind


@pytest.fixture(scope="module")
def big_scene() -> xr.Dataset:
    """One larger scene with many (smaller) polygons, so that most stages occur (in memory)."""
    return generate_scene((1500, 1500), seed=3, index=1, config=SynthConfig(polygon_km=15.0))


def test_labels_come_from_irregular_polygons(big_scene: xr.Dataset) -> None:
    sod = big_scene["SOD"].values
    classes = set(np.unique(sod)) - {255}
    assert len(classes) >= 5
    # polygons are irregular regions, not stripes: both axes see many class changes, and a
    # region's boundary is not a straight row or column
    changes_rows = (np.diff(sod.astype(int), axis=0) != 0).sum()
    changes_cols = (np.diff(sod.astype(int), axis=1) != 0).sum()
    assert changes_rows > 500 and changes_cols > 500
    assert 0.2 < changes_rows / changes_cols < 5
    for k in classes:
        rows = np.nonzero((sod == k).any(axis=1))[0]
        widths = [np.count_nonzero(sod[r] == k) for r in rows[:: max(1, len(rows) // 50)]]
        assert np.std(widths) > 0  # not a rectangle


def test_backscatter_depends_on_class_and_incidence(big_scene: xr.Dataset) -> None:
    hh, hv = big_scene[L.HH].values, big_scene[L.HV].values
    sod = big_scene["SOD"].values
    theta = big_scene[L.INCIDENCE].values
    valid = np.isfinite(hh)
    inside = np.isfinite(theta)
    assert 18.0 < np.nanmin(theta) < 22.0 and 44.0 < np.nanmax(theta) < 48.0
    # NaN outside the swath, and the swath edge is not a straight line
    assert (~inside).any() and inside.mean() > 0.5
    assert np.array_equal(np.isfinite(hv), valid)
    mean = {k: (np.mean(hh[valid & (sod == k)]), np.mean(hv[valid & (sod == k)]))
            for k in set(np.unique(sod[valid])) - {255}}
    if 5 in mean and 3 in mean:  # old ice brighter than thin first-year ice in both channels
        assert mean[5][0] > mean[3][0] + 2 and mean[5][1] > mean[3][1] + 2
    hv_means = [m[1] for m in mean.values()]
    assert max(hv_means) - min(hv_means) > 4  # classes differ
    # single pixels overlap between classes (speckle): class ranges are wide
    k = max(mean, key=lambda c: np.count_nonzero(sod == c))
    pix = hh[valid & (sod == k)]
    assert np.std(pix) > 2.0
    # backscatter falls with incidence angle
    near = valid & (theta < 28)
    far = valid & (theta > 40)
    if near.sum() > 1000 and far.sum() > 1000:
        assert np.median(hh[near]) > np.median(hh[far])
    # values are physical dB
    assert -45 < np.nanpercentile(hh, 1) and np.nanpercentile(hh, 99) < 5


def test_land_swath_and_labels_are_consistent(tmp_path: Path) -> None:
    # find a seed with land (about half the scenes have a coast)
    for index in range(8):
        ds = generate_scene((300, 300), seed=7, index=index)
        dist = ds[L.DISTANCE].values
        if (dist == 0).any():
            break
    else:
        pytest.fail("no generated scene with land in 8 tries")
    land = dist == 0
    assert np.isnan(ds[L.HH].values[land]).all()
    assert (ds["SOD"].values[land] == 255).all()
    assert set(np.unique(dist)) <= set(range(11))
    # labels are 255 wherever SAR is missing; SAR is present where labels are
    nodata = np.isnan(ds[L.HH].values)
    for chart in L.CHARTS:
        assert (ds[chart].values[nodata] == 255).all()
    # water is the same in all charts
    water = ds["SIC"].values == 0
    assert (ds["SOD"].values[water] == 0).all() and (ds["FLOE"].values[water] == 0).all()


def test_2km_variables_follow_ice_concentration(big_scene: xr.Dataset) -> None:
    tb = big_scene["btemp_18_7h"].values
    assert np.isfinite(tb).all() and 60 < tb.min() and tb.max() < 300
    t2m = big_scene["t2m"].values
    assert 220 < t2m.min() and t2m.max() < 290
    lat = big_scene[L.LATITUDE].values
    assert np.all((lat > 45) & (lat < 90))

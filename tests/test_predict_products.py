"""Product writers of ``tinyicenet predict``: COG with GCPs / EPSG:3413 warp, AutoICE NetCDF,
quicklook. Synthetic inputs only (no model), so these run in seconds."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import transform as transform_coords
from rasterio.windows import from_bounds

from tinyicenet.predict import cog, geo
from tinyicenet.predict.quicklook import write_quicklook
from tinyicenet.predict.submission import submission_scene_name, upsample_nearest, write_submission

NAMES = ["open water", "new ice", "young ice", "thin first-year", "thick first-year", "old ice"]
COLOURS = ["#0064ff", "#b464ff", "#ff00ff", "#64ff64", "#00b400", "#ff5000"]
RES = 400.0
X0, Y0 = -500_000.0, -1_000_000.0  # upper-left corner in EPSG:3413 of the synthetic scene


def _class_map(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Blocky random classes (like ice-chart polygons) with a nodata band."""
    blocks = rng.integers(0, 6, size=(h // 20 + 1, w // 20 + 1), dtype=np.uint8)
    a = np.kron(blocks, np.ones((20, 20), np.uint8))[:h, :w].copy()
    a[: h // 10] = 255
    return a


def _polar_tie_points(working: int, n: int = 21, x0: float = X0, y0: float = Y0):
    """Tie points of a scene whose product grid (``working`` px a side) is a regular 400 m grid
    in EPSG:3413 with upper-left corner (x0, y0); points spread evenly over the scene like in
    RTT files (5 file pixels per product pixel). Returns ``geo.TiePoints`` and the lat grid."""
    pos = (np.linspace(0, working * 5 - 1, n) + 0.5) / 5 - 0.5  # as tinyicenet.data gives them
    line, sample = np.meshgrid(pos, pos, indexing="ij")
    x = x0 + (sample + 0.5) * RES
    y = y0 - (line + 0.5) * RES
    lon, lat = transform_coords(CRS.from_epsg(3413), CRS.from_epsg(4326), x.ravel(), y.ravel())
    lat, lon = np.reshape(lat, (n, n)), np.reshape(lon, (n, n))
    return geo.tie_points(lat, lon, lines=pos, samples=pos), lat, lon


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            return ds.read(1), ds.profile, ds.gcps, ds.colormap(1), ds.tags(), ds.overviews(1)


# ---- tie points -------------------------------------------------------------------------------

def test_tie_points_are_gdal_raster_coordinates_of_pixel_centres():
    lat = np.linspace(70, 75, 21 * 21).reshape(21, 21)
    lon = np.linspace(-40, -30, 21 * 21).reshape(21, 21)
    lines, samples = np.linspace(0, 999, 21), np.linspace(0, 799, 21)
    tp = geo.tie_points(lat, lon, lines=lines, samples=samples)
    assert len(tp) == 441
    # pixel i (centre at index i) spans GDAL raster coordinates [i, i + 1)
    assert tp.row.min() == 0.5 and tp.row.max() == 999.5
    assert tp.col.min() == 0.5 and tp.col.max() == 799.5
    k = 21 * 3 + 7  # lat[i, j] belongs to line i, sample j
    assert tp.lat[k] == lat[3, 7] and tp.lon[k] == lon[3, 7]
    assert (tp.row[k], tp.col[k]) == pytest.approx((lines[3] + 0.5, samples[7] + 0.5))


def test_tie_points_flat_list_and_non_finite_points():
    lines = np.array([0.0, 0.0, 100.0, 100.0])
    samples = np.array([0.0, 50.0, 0.0, 50.0])
    lat = np.array([70.0, 70.1, np.nan, 69.9])
    lon = np.array([-30.0, -29.0, -30.0, -29.0])
    tp = geo.tie_points(lat, lon, lines=lines, samples=samples)
    assert len(tp) == 3  # the NaN point is dropped
    np.testing.assert_allclose(tp.row, [0.5, 0.5, 100.5])
    np.testing.assert_allclose(tp.col, [0.5, 50.5, 50.5])
    with pytest.raises(ValueError, match="do not fit"):
        geo.tie_points(lat, lon, lines=lines[:3], samples=samples)


def test_tie_points_across_the_antimeridian_stay_continuous():
    lat = np.full((2, 2), 72.0)
    lon = np.array([[179.5, -179.5], [179.0, -179.0]])
    tp = geo.tie_points(lat, lon, lines=np.array([0.0, 9.0]), samples=np.array([0.0, 9.0]))
    np.testing.assert_allclose(tp.lon, [179.5, 180.5, 179.0, 181.0])


# ---- COG --------------------------------------------------------------------------------------

def test_cog_with_gcps_reads_back_with_colours_names_nodata_and_overviews(tmp_path):
    rng = np.random.default_rng(1)
    a = _class_map(400, 400, rng)
    tp, lat, lon = _polar_tie_points(400)
    path = cog.write_class_cog(tmp_path / "s_SOD.tif", a, chart="SOD", names=NAMES,
                               colours=COLOURS, georef=cog.Georef("EPSG:4326", gcps=tp.gcps()),
                               tags={"SCENE": "s"})
    data, profile, (gcps, gcp_crs), cmap, tags, overviews = _read(path)
    np.testing.assert_array_equal(data, a)
    assert profile["dtype"] == "uint8" and profile["nodata"] == 255
    assert profile["tiled"] and profile["blockxsize"] == cog.BLOCKSIZE
    assert gcp_crs == CRS.from_epsg(4326) and len(gcps) == 441
    g = gcps[21 * 5 + 9]
    assert (g.row, g.col, g.y, g.x) == pytest.approx((tp.row[21 * 5 + 9], tp.col[21 * 5 + 9],
                                                      lat[5, 9], lon[5, 9]))
    assert cmap[0] == (0, 100, 255, 255) and cmap[5] == (255, 80, 0, 255)
    assert cmap[255][3] == 0  # nodata transparent
    assert json.loads(tags["CLASS_NAMES"]) == {str(i): n for i, n in enumerate(NAMES)}
    assert tags["CLASS_3"] == "thin first-year" and tags["SCENE"] == "s"
    assert overviews == [2]  # 400 px: one level brings it under the 256 px block
    with rasterio.open(path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert not list(tmp_path.glob(".*part*"))


def test_cog_overviews_take_the_majority_class_not_a_blend(tmp_path):
    # every 2x2 block holds three 1s and one 5: an average would give 2, the mode gives 1
    block = np.array([[1, 1], [1, 5]], np.uint8)
    a = np.tile(block, (300, 300))
    path = cog.write_class_cog(tmp_path / "m.tif", a, chart="SOD", names=NAMES, colours=COLOURS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            assert ds.overviews(1)[0] == 2
            ov = ds.read(1, out_shape=(300, 300))
    assert set(np.unique(ov)) == {1}


def test_cog_rejects_unnamed_classes_and_leaves_no_file(tmp_path):
    a = np.zeros((50, 50), np.uint8)
    a[0, 0] = 7
    target = tmp_path / "bad.tif"
    with pytest.raises(ValueError, match=r"value\(s\) \[7\]"):
        cog.write_class_cog(target, a, chart="SOD", names=NAMES, colours=COLOURS)
    assert list(tmp_path.iterdir()) == []


def test_cog_write_failure_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.tif"
    a = np.zeros((64, 64), np.uint8)
    cog.write_class_cog(target, a, chart="SOD", names=NAMES, colours=COLOURS)
    before = target.read_bytes()

    import rasterio.shutil as rshutil

    def broken_copy(src, dst, **kw):
        with open(dst, "wb") as f:  # a half-written file under the temporary name
            f.write(b"II*\x00partial")
        raise OSError("disk full")

    monkeypatch.setattr(rshutil, "copy", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        cog.write_class_cog(target, a + 1, chart="SOD", names=NAMES, colours=COLOURS)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.tif"]


def _warp_and_check(a: np.ndarray, x0: float, y0: float):
    tp, _, _ = _polar_tie_points(a.shape[0], x0=x0, y0=y0)
    warped, transform = geo.warp_classes(a, tp, "EPSG:3413", resolution=RES)
    assert transform.a == RES and transform.e == -RES
    assert transform.c % RES == 0 and transform.f % RES == 0  # snapped to the 400 m lattice
    # the scene was a regular 400 m grid at (x0, y0): the warp must give it back pixel for pixel
    i0, j0 = round((transform.f - y0) / RES), round((x0 - transform.c) / RES)
    h, w = a.shape
    core = warped[i0:i0 + h, j0:j0 + w]
    assert core.shape == a.shape
    np.testing.assert_array_equal(core, a)
    outside = np.ones(warped.shape, bool)
    outside[i0:i0 + h, j0:j0 + w] = False
    assert (warped[outside] == 255).all()
    return warped, transform


def test_warp_across_the_antimeridian():
    # a 160 km scene centred on 180 deg E at 75 N (Chukchi / East Siberian Sea)
    a = _class_map(400, 400, np.random.default_rng(6))
    _warp_and_check(a, -1_155_200.0 - 80_000.0, 1_155_200.0 + 80_000.0)


def test_warp_to_epsg3413_recovers_the_polar_stereographic_grid(tmp_path):
    rng = np.random.default_rng(2)
    a = _class_map(400, 400, rng)
    warped, transform = _warp_and_check(a, X0, Y0)

    path = cog.write_class_cog(tmp_path / "w.tif", warped, chart="SOD", names=NAMES,
                               colours=COLOURS,
                               georef=cog.Georef("EPSG:3413", transform=transform))
    with rasterio.open(path) as ds:
        assert ds.crs == CRS.from_epsg(3413) and ds.transform == transform
        assert ds.gcps[0] == [] and ds.overviews(1) == [2]
        assert ds.colormap(1)[4][:3] == (0, 180, 0)


def test_cog_without_georeference(tmp_path):
    a = np.full((100, 120), 3, np.uint8)
    path = cog.write_class_cog(tmp_path / "n.tif", a, chart="SOD", names=NAMES, colours=COLOURS)
    d = cog.describe(path)
    assert d["georeference"] is None and d["crs"] is None and d["shape"] == [100, 120]
    assert d["layout"] == "COG"


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="GDAL command-line tools absent")
def test_gdalinfo_parses_the_cog(tmp_path):
    tp, _, _ = _polar_tie_points(200)
    path = cog.write_class_cog(tmp_path / "g.tif", _class_map(200, 200, np.random.default_rng(3)),
                               chart="SOD", names=NAMES, colours=COLOURS,
                               georef=cog.Georef("EPSG:4326", gcps=tp.gcps()))
    out = subprocess.run(["gdalinfo", "-json", str(path)], capture_output=True, text=True,
                         check=True)
    info = json.loads(out.stdout)
    assert info["bands"][0]["colorTable"]["count"] >= 6
    assert len(info["gcps"]["gcpList"]) == 441
    assert info["metadata"][""]["CLASS_0"] == "open water"


# ---- AutoICE submission ---------------------------------------------------------------------

def test_submission_netcdf_layout_and_compression(tmp_path):
    import netCDF4

    rng = np.random.default_rng(4)
    small = _class_map(40, 30, rng)
    full = upsample_nearest(small, (200, 148), 5)
    assert full.shape == (200, 148)
    np.testing.assert_array_equal(full[::5, ::5], small[:, :30])
    np.testing.assert_array_equal(full[:, 145:], np.repeat(full[:, 144:145], 3, axis=1))
    sic = (full % 11).astype(np.uint8)
    name = submission_scene_name("20180326T184705_dmi_prep.nc")
    assert name == "20180326T184705_dmi"
    path = write_submission(tmp_path / "up.nc", {name: {"SOD": full, "SIC": sic}})
    with netCDF4.Dataset(path) as ds:
        assert set(ds.variables) == {f"{name}_SOD", f"{name}_SIC"}
        v = ds.variables[f"{name}_SOD"]
        assert v.dimensions == (f"{name}_SOD_dim0", f"{name}_SOD_dim1")
        assert v.dtype == np.uint8
        f = v.filters()
        assert f["zlib"] and f["complevel"] == 1
        v.set_auto_mask(False)
        np.testing.assert_array_equal(v[:], full)
        assert ds.data_model == "NETCDF4"


def test_submission_rejects_wrong_dtype_without_writing(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_submission(tmp_path / "x.nc", {"s": {"SOD": np.zeros((4, 4), np.int64)}})
    assert list(tmp_path.iterdir()) == []


def test_submission_scene_names():
    assert submission_scene_name("/a/b/20190101T000000_cis_prep_reference.nc") == \
        "20190101T000000_cis"
    assert submission_scene_name("S1B_x_Icechart-Greenland.nc") == "S1B_x_Icechart-Greenland"


# ---- quicklook --------------------------------------------------------------------------------

def test_quicklook_panels_and_legend_colours(tmp_path):
    import matplotlib.image as mpimg

    rng = np.random.default_rng(5)
    pred = _class_map(300, 300, rng)
    pred[pred == 5] = 0  # class 5 absent from the maps: its colour can only come from the legend
    valid = pred != 255
    hh = rng.normal(size=pred.shape).astype(np.float32)
    two = write_quicklook(tmp_path / "a.png", hh=hh, valid=valid, prediction=pred,
                          names=NAMES, colours=COLOURS, title="scene a")
    three = write_quicklook(tmp_path / "b.png", hh=hh, valid=valid, prediction=pred,
                            labels=pred, names=NAMES, colours=COLOURS, title="scene b")
    img2, img3 = mpimg.imread(two), mpimg.imread(three)
    assert img3.shape[1] > img2.shape[1] * 1.3  # a third panel for the labels
    rgb = (img3[..., :3] * 255).round().astype(int)
    for colour in ((0, 100, 255), (255, 80, 0)):
        assert (np.abs(rgb - np.array(colour)).sum(-1) == 0).any(), colour
    assert not list(tmp_path.glob(".*part*"))


@pytest.mark.skipif(shutil.which("gdalwarp") is None, reason="GDAL command-line tools absent")
def test_gdalwarp_reads_the_gcps_like_our_warp(tmp_path):
    """GDAL's own warper, given only the GCP product, lands on our EPSG:3413 grid."""
    a = _class_map(300, 300, np.random.default_rng(7))
    tp, _, _ = _polar_tie_points(300)
    src = cog.write_class_cog(tmp_path / "g.tif", a, chart="SOD", names=NAMES, colours=COLOURS,
                              georef=cog.Georef("EPSG:4326", gcps=tp.gcps()))
    subprocess.run(["gdalwarp", "-q", "-tps", "-t_srs", "EPSG:3413", "-tr", "400", "400", "-tap",
                    "-r", "near", str(src), str(tmp_path / "w.tif")], check=True)
    ours, transform = geo.warp_classes(a, tp, "EPSG:3413", resolution=RES)
    o_bounds = rasterio.transform.array_bounds(*ours.shape, transform)  # (w, s, e, n)
    with rasterio.open(tmp_path / "w.tif") as ds:
        assert ds.crs.to_epsg() == 3413 and (ds.transform.c - transform.c) % RES == 0
        common = (max(ds.bounds.left, o_bounds[0]), max(ds.bounds.bottom, o_bounds[1]),
                  min(ds.bounds.right, o_bounds[2]), min(ds.bounds.top, o_bounds[3]))
        t = ds.read(1, window=from_bounds(*common, ds.transform))
    rows, cols = from_bounds(*common, transform).toslices()
    o = ours[rows, cols]
    assert t.shape == o.shape and t.shape[0] >= 299
    seen = (t != 255) | (o != 255)
    assert (t[seen] == o[seen]).mean() > 0.99  # GDAL fits its spline in degrees, we in metres

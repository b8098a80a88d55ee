"""Raw files: polygon codes -> SIC/SOD/FLOE with the dominance rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tinyicenet.data import layout as L
from tinyicenet.data.icechart import charts_from_polygons, parse_polygon_codes, polygon_classes
from tinyicenet.data.scene import load_scene
from tinyicenet.errors import DataError

HEADER = ";".join(L.POLYGON_FIELDS)


def code(pid: int, ct, layers=(), ptype: str = "I") -> str:
    """Egg code string; ``layers`` = [(C, S, F), ...] for A, B, C."""
    fields = [pid, ct]
    for k in range(3):
        fields += list(layers[k]) if k < len(layers) else [-9, -9, -9]
    return ";".join(str(f) for f in fields + [-9, -9, -9, ptype])


def classes(*codes, threshold=None):
    return polygon_classes([HEADER, *codes], threshold)


def test_dominant_stage_above_threshold() -> None:
    # CT 9/10: 7/10 thick FYI (93) + 2/10 young (84): 7/9 = 78 % >= 65 %
    out = classes(code(1, 90, [(70, 93, 5), (20, 84, 3)]))
    assert out["SIC"][1] == 9 and out["SOD"][1] == 4 and out["FLOE"][1] == 4


def test_ambiguous_polygon_is_ignored_and_threshold_is_a_parameter() -> None:
    # 10/10: 6/10 old (95) + 4/10 thin FYI (87): 60 % < 65 % -> ignore; with 0.55 -> old ice
    c = code(2, 92, [(60, 95, 6), (40, 87, 4)])
    assert classes(c)["SOD"][2] == 255
    assert classes(c, threshold=0.55)["SOD"][2] == 5
    assert classes(c, threshold={"SOD": 0.55, "FLOE": 0.9})["FLOE"][2] == 255
    with pytest.raises(DataError):
        classes(c, threshold=1.5)


def test_partials_of_one_class_add_up() -> None:
    # 4/10 grey (84) + 3/10 grey-white (85) are both young ice: 7/10 >= 65 % with 3/10 FYI
    out = classes(code(3, 92, [(40, 84, 2), (30, 85, 3), (30, 87, 4)]))
    assert out["SOD"][3] == 2
    # floe: cake 4/10, small 3/10, medium 3/10: no floe size reaches 65 % -> ignore
    assert out["FLOE"][3] == 255


def test_single_ice_type_with_empty_ca_and_special_codes() -> None:
    out = classes(
        code(4, 91, [(-9, 95, 7)]),  # CA empty: one type, CA = CT -> old ice, vast floe
        code(5, -9, ptype="W"),  # open water polygon
        code(6, 1, []),  # CT < 1/10: ice free
        code(7, 92, [(90, 98, 10), (10, 93, 8)]),  # glacier dominates; fast ice: no FLOE
        code(8, 99, [(90, 93, 5)]),  # unknown concentration
        code(9, 55, ptype="L"),  # land polygon
        code(10, 35, [(-9, 87, 3)]),  # interval 3-5/10 -> SIC 4
    )
    assert (out["SIC"][4], out["SOD"][4], out["FLOE"][4]) == (10, 5, 5)
    assert (out["SIC"][5], out["SOD"][5], out["FLOE"][5]) == (0, 0, 0)
    assert (out["SIC"][6], out["SOD"][6], out["FLOE"][6]) == (0, 0, 0)
    assert out["SIC"][7] == 10 and out["SOD"][7] == 255 and out["FLOE"][7] == 255
    assert (out["SIC"][8], out["SOD"][8]) == (255, 255)
    assert (out["SIC"][9], out["SOD"][9], out["FLOE"][9]) == (255, 255, 255)
    assert (out["SIC"][10], out["SOD"][10]) == (4, 3)


def test_rasterise_and_malformed_codes() -> None:
    ids = np.array([[1, 1, 2], [np.nan, 2, 3]], dtype=np.float32)
    charts = charts_from_polygons(ids, [HEADER, code(1, 92, [(-9, 93, 5)]),
                                        code(2, -9, ptype="W")])
    assert charts["SOD"].dtype == np.uint8
    np.testing.assert_array_equal(charts["SOD"], [[4, 4, 0], [255, 0, 255]])  # id 3 unknown
    with pytest.raises(DataError, match="fields"):
        parse_polygon_codes([HEADER, "1;92;-9"])
    with pytest.raises(DataError, match="non-numeric"):
        parse_polygon_codes([HEADER, code(1, 92).replace("92", "xx")])


def test_raw_scene_loads_like_its_rtt_twin(raw_scene_dir: Path) -> None:
    path = sorted(raw_scene_dir.glob("*.nc"))[0]
    scene = load_scene(path, downsample=1)
    assert scene["meta"]["kind"] == "raw"
    assert scene["meta"]["pixel_spacing"] == 40
    with xr.open_dataset(path, mask_and_scale=False) as ds:
        ids = ds[L.POLYGON_ICECHART].values
        codes = [str(c) for c in ds[L.POLYGON_CODES].values]
    expected = charts_from_polygons(ids, codes)
    for chart in L.CHARTS:
        want = np.where(scene["valid"], expected[chart], 255)
        np.testing.assert_array_equal(scene[chart], want)
    assert (scene["SOD"] != 255).any()
    # the dominance threshold reaches the loader: a strict one leaves fewer labelled pixels
    strict = load_scene(path, downsample=1, charts=["SOD"], threshold=0.99)
    assert (strict["SOD"] != 255).sum() <= (scene["SOD"] != 255).sum()
    # tie points of raw files (1-D lists) come back as a grid with positions
    assert scene["meta"]["lat"].shape == (21, 21)
    assert scene["meta"]["tie_lines"][0] == 0 and scene["meta"]["tie_lines"][-1] == 599
    # downsample=None reaches the 400 m working resolution from 40 m raw pixels
    working = load_scene(path, downsample=None, charts=["SOD"])
    assert working["meta"]["downsample"] == 10 and working["meta"]["pixel_spacing"] == 400
    assert working["image"].shape == (2, 60, 60)

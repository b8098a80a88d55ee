"""Generated scenes match the published AI4Arctic statistics they are calibrated to (10 %)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinyicenet.data.calibration import PUBLISHED, TOLERANCE, generator_statistics

CHECKED = ("hh_mean_db", "hh_std_db", "hv_mean_db", "hv_std_db", "ia_mean_deg", "ia_std_deg",
           "fyi_hh_slope_db_per_deg", "fyi_hv_slope_db_per_deg")


def test_generated_scenes_match_published_statistics() -> None:
    # other seeds than the recorded file's: the calibration is not tuned to one sample
    result = generator_statistics(n_scenes=12, size=(500, 500), seed=41)
    for key in CHECKED:
        measured, published = result["measured"][key], PUBLISHED[key]["value"]
        assert measured == pytest.approx(published, rel=TOLERANCE), key
    assert sum(result["sod_class_shares"].values()) == pytest.approx(1.0)


def test_recorded_statistics_file_is_current() -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "ai4arctic" / "generator_statistics.json"
    doc = json.loads(path.read_text())
    again = generator_statistics(doc["generator"]["n_scenes"], tuple(doc["generator"]["size"]),
                                 doc["generator"]["seed"])
    # the scenes are float32: numpy's vectorised exp / log give results that differ in the last
    # ulp with and without AVX-512 (github.com/numpy/numpy/issues/23523; 7e-8 relative seen
    # between two x86 machines); a change of the generator moves these by far more
    assert again["measured"] == pytest.approx(doc["measured"], rel=1e-6)

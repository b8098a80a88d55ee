"""The report reads `tinyicenet evaluate` results as accuracy entries."""

import json

import pytest

from tinyicenet.errors import ResultError
from tinyicenet.report.accuracy import load_accuracy


def _evaluation(f1: float) -> dict:
    return {"schema": "tinyicenet-eval", "schema_version": 1, "model": "tinyicenet_w4a4",
            "precision": "w4a4", "weight_bits": 4, "act_bits": 4, "skips": True,
            "scenes": [{}, {}], "metrics": {"SOD": {"f1_weighted": f1, "score": f1}}}


def test_evaluation_becomes_entry(tmp_path):
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(_evaluation(87.5)))
    (entry,) = load_accuracy(path)
    assert entry["sod_f1"] == pytest.approx(0.875)
    assert (entry["model"], entry["precision"], entry["skips"], entry["scenes"]) == (
        "tinyicenet_w4a4", "w4a4", True, 2)


def test_evaluation_without_sod_is_refused(tmp_path):
    data = _evaluation(50.0)
    data["metrics"] = {}
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultError, match="no SOD weighted F1"):
        load_accuracy(path)

"""The streaming AutoICE metrics equal scikit-learn's on the pooled pixels."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, r2_score

from tinyicenet.metrics import IGNORE_INDEX, ChartMetrics, ConfusionMatrix


def _scenes(rng: np.random.Generator, k: int, n_scenes: int = 4):
    """Random scenes of different sizes with ignored pixels and a skewed class mix."""
    out = []
    for _ in range(n_scenes):
        h, w = rng.integers(5, 40, size=2)
        probs = rng.dirichlet(np.ones(k) * 0.7)
        ref = rng.choice(k, size=(h, w), p=probs).astype(np.uint8)
        # predictions: mostly right, sometimes a neighbouring or random class
        pred = ref.astype(np.int64).copy()
        flip = rng.random((h, w)) < 0.3
        pred[flip] = rng.integers(0, k, size=flip.sum())
        ref[rng.random((h, w)) < 0.2] = IGNORE_INDEX
        out.append((ref, pred.astype(np.uint8)))
    return out


def _pooled(scenes):
    ref = np.concatenate([r.ravel() for r, _ in scenes])
    pred = np.concatenate([p.ravel() for _, p in scenes])
    keep = ref != IGNORE_INDEX
    return ref[keep], pred[keep]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [6, 7, 11])
def test_streaming_matches_sklearn(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    scenes = _scenes(rng, k)
    cm = ConfusionMatrix(k)
    for ref, pred in scenes:
        cm.update(ref, pred)
    y, p = _pooled(scenes)
    labels = list(range(k))
    np.testing.assert_array_equal(cm.matrix, confusion_matrix(y, p, labels=labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns for classes never predicted
        assert cm.f1_weighted() == pytest.approx(f1_score(y, p, average="weighted"), abs=1e-12)
        per_class = f1_score(y, p, average=None, labels=labels, zero_division=0)
    present = np.isin(labels, np.union1d(y, p))
    np.testing.assert_allclose(cm.per_class_f1()[present], per_class[present], atol=1e-12)
    assert np.isnan(cm.per_class_f1()[~present]).all()
    assert cm.r2() == pytest.approx(r2_score(y, p), abs=1e-12)
    assert cm.total == y.size


def test_constant_reference_r2_like_sklearn() -> None:
    ref = np.full(10, 3)
    for pred in (np.full(10, 3), np.array([3] * 9 + [4])):
        cm = ConfusionMatrix(11)
        cm.update(ref, pred)
        assert cm.r2() == r2_score(ref, pred)


def test_ignore_pixels_leave_no_trace() -> None:
    cm = ConfusionMatrix(6)
    ref = np.array([[0, 255], [2, 255]], dtype=np.uint8)
    pred = np.array([[0, 5], [1, 4]], dtype=np.uint8)
    cm.update(ref, pred)
    assert cm.total == 2
    assert cm.matrix[0, 0] == 1 and cm.matrix[2, 1] == 1


def test_out_of_range_class_is_an_error() -> None:
    cm = ConfusionMatrix(6)
    with pytest.raises(ValueError, match="outside 0..5"):
        cm.update(np.array([0, 6]), np.array([0, 1]))
    with pytest.raises(ValueError, match="prediction class 9"):
        cm.update(np.array([0, 1]), np.array([0, 9]))


def test_combined_score_over_present_heads() -> None:
    rng = np.random.default_rng(3)
    m = ChartMetrics(["SIC", "SOD", "FLOE"])
    pooled = {}
    for chart, k in (("SIC", 11), ("SOD", 6), ("FLOE", 7)):
        scenes = _scenes(rng, k)
        for ref, pred in scenes:
            m.update(chart, ref, pred)
        pooled[chart] = _pooled(scenes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sic = 100 * r2_score(*pooled["SIC"])
        sod = 100 * f1_score(*pooled["SOD"], average="weighted")
        floe = 100 * f1_score(*pooled["FLOE"], average="weighted")
    assert m.combined() == pytest.approx((2 * sic + 2 * sod + floe) / 5, abs=1e-9)

    sod_only = ChartMetrics(["SOD"])
    sod_only.confusion["SOD"] = m.confusion["SOD"]
    # AutoICE's combined score needs all three charts: a SOD-only model has none
    assert math.isnan(sod_only.combined())
    summary = sod_only.summary()
    assert list(summary["charts"]) == ["SOD"]
    assert summary["combined_score"] is None and "SOD only" in summary["combined_note"]
    assert summary["charts"]["SOD"]["score"] == pytest.approx(sod, abs=1e-9)
    assert len(summary["charts"]["SOD"]["per_class"]) == 6


def test_chart_metrics_merge_and_state_are_exact() -> None:
    """Per-scene tallies (with their working-grid companions) merged in any order, or sent
    through to_state/from_state, give the pooled single-pass scores."""
    rng = np.random.default_rng(11)
    scenes = _scenes(rng, 6, n_scenes=5)
    whole = ChartMetrics(["SOD"], working=ChartMetrics(["SOD"], "working"))
    parts = []
    for ref, pred in scenes:
        whole.update("SOD", ref, pred)
        whole.working.update("SOD", ref[::2], pred[::2])
        part = ChartMetrics(["SOD"], working=ChartMetrics(["SOD"], "working"))
        part.update("SOD", ref, pred)
        part.working.update("SOD", ref[::2], pred[::2])
        parts.append(ChartMetrics.from_state(json.loads(json.dumps(part.to_state()))))
    merged = ChartMetrics(["SOD"])
    for part in reversed(parts):
        merged.merge(part)
    np.testing.assert_array_equal(merged.confusion["SOD"].matrix, whole.confusion["SOD"].matrix)
    np.testing.assert_array_equal(merged.working.confusion["SOD"].matrix,
                                  whole.working.confusion["SOD"].matrix)
    assert merged.score("SOD") == whole.score("SOD")
    with pytest.raises(ValueError, match="cannot merge"):
        merged.merge(ChartMetrics(["SOD"], "working"))


def test_merge_equals_single_pass() -> None:
    rng = np.random.default_rng(7)
    scenes = _scenes(rng, 6, n_scenes=6)
    whole, a, b = ConfusionMatrix(6), ConfusionMatrix(6), ConfusionMatrix(6)
    for i, (ref, pred) in enumerate(scenes):
        whole.update(ref, pred)
        (a if i % 2 else b).update(ref, pred)
    a.merge(b)
    np.testing.assert_array_equal(a.matrix, whole.matrix)


def test_empty_metrics_are_null_in_summary() -> None:
    summary = ChartMetrics(["SOD"]).summary()
    assert summary["charts"]["SOD"]["score"] is None
    assert summary["combined_score"] is None

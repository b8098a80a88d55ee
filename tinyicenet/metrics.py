"""AutoICE metrics, pooled over all valid pixels of all scenes, with bounded memory.

The official AutoICE scores are scikit-learn's ``r2_score`` (SIC, on class indices) and
``f1_score(average="weighted")`` (SOD, FLOE) on the concatenation of every labelled pixel of every
test scene, times 100; combined = (2 SIC + 2 SOD + 1 FLOE) / 5 (starter kit ``functions.py``:
``compute_metrics``, ``compute_combined_score``), defined here only when all three charts are
scored: a model of fewer heads has per-chart scores and no combined score. Concatenating a test set of
full-resolution scenes does not fit in memory, but a ``K x K`` confusion matrix is a sufficient
statistic for both scores: F1 per class from its rows and columns, and R^2 from
``sum C[i, j] (i - j)^2`` over ``sum C[i, :] (i - mean)^2``. So each scene only adds to one
integer matrix per chart (:class:`ConfusionMatrix`), and the scores are derived at the end.
``tests/test_metrics.py`` checks these against scikit-learn on random data.

A :class:`ChartMetrics` names the ``grid`` it was tallied on (``"chart"``: each reference chart's
own grid in the file, as AutoICE scores; ``"working"``: the model's downsampled grid) and may
carry a companion tally on the other grid (``working``); :meth:`ChartMetrics.merge` adds both,
exactly, so per-scene tallies computed anywhere (another process, another machine) pool into
the same scores as one sequential pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# the ignore value and class counts are the class tables file's (data/ai4arctic/classes.json)
from tinyicenet.data.tables import LABEL_FILL as IGNORE_INDEX
from tinyicenet.data.tables import NUM_CLASSES, class_table

#: AutoICE combined-score weights.
CHART_WEIGHTS = {"SIC": 2.0, "SOD": 2.0, "FLOE": 1.0}
#: The score each chart contributes: R^2 for the concentration classes, weighted F1 otherwise.
CHART_METRIC = {"SIC": "r2", "SOD": "f1", "FLOE": "f1"}


def class_names(chart: str) -> tuple[str, ...]:
    """Class names of a chart, from the project's class tables (data/ai4arctic/classes.json)."""
    return class_table(chart).names


@dataclass
class ConfusionMatrix:
    """A streaming ``K x K`` confusion matrix (rows: reference, columns: prediction).

    Pixels whose reference is :data:`IGNORE_INDEX` are left out; any other reference or
    prediction outside ``0..K-1`` is an error (a class table mismatch, not a pixel to drop).
    """

    num_classes: int
    matrix: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.matrix is None:
            self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, reference: np.ndarray, prediction: np.ndarray) -> None:
        """Add one scene (or batch): arrays of the same shape, any integer dtype."""
        reference = np.asarray(reference).ravel()
        prediction = np.asarray(prediction).ravel()
        if reference.shape != prediction.shape:
            raise ValueError(f"reference {reference.shape} and prediction {prediction.shape} "
                             "differ in size")
        keep = reference != IGNORE_INDEX
        ref = reference[keep].astype(np.int64)
        pred = prediction[keep].astype(np.int64)
        k = self.num_classes
        for name, arr in (("reference", ref), ("prediction", pred)):
            if arr.size and (arr.min() < 0 or arr.max() >= k):
                raise ValueError(f"{name} class {int(arr.max())} outside 0..{k - 1}")
        self.matrix += np.bincount(ref * k + pred, minlength=k * k).reshape(k, k)

    def merge(self, other: ConfusionMatrix) -> None:
        self.matrix += other.matrix

    @property
    def total(self) -> int:
        return int(self.matrix.sum())

    # ---- derived scores -------------------------------------------------------------------
    def per_class_f1(self) -> np.ndarray:
        """F1 per class; NaN for a class neither in the reference nor predicted.

        A class present on one side only scores 0 (scikit-learn's ``zero_division`` result).
        """
        tp = np.diag(self.matrix).astype(np.float64)
        support = self.matrix.sum(axis=1).astype(np.float64)
        predicted = self.matrix.sum(axis=0).astype(np.float64)
        denom = support + predicted
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(denom > 0, 2.0 * tp / denom, np.nan)
        return f1

    def support(self) -> np.ndarray:
        return self.matrix.sum(axis=1)

    def f1_weighted(self) -> float:
        """Support-weighted mean F1 (scikit-learn ``average="weighted"``), in [0, 1]."""
        support = self.support().astype(np.float64)
        if support.sum() == 0:
            return float("nan")
        f1 = np.nan_to_num(self.per_class_f1(), nan=0.0)
        return float((f1 * support).sum() / support.sum())

    def f1_macro(self) -> float:
        """Mean F1 over the classes that occur in the reference or the prediction."""
        f1 = self.per_class_f1()
        return float(np.nanmean(f1)) if np.isfinite(f1).any() else float("nan")

    def accuracy(self) -> float:
        total = self.total
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def r2(self) -> float:
        """R^2 of predicted against reference class index (scikit-learn ``r2_score``).

        Like scikit-learn (``force_finite``), a constant reference scores 1 when predicted
        exactly and 0 otherwise.
        """
        total = self.total
        if total == 0:
            return float("nan")
        idx = np.arange(self.num_classes, dtype=np.float64)
        ref_counts = self.matrix.sum(axis=1).astype(np.float64)
        mean = float((ref_counts * idx).sum() / total)
        ss_tot = float((ref_counts * (idx - mean) ** 2).sum())
        ss_res = float((self.matrix * (idx[:, None] - idx[None, :]) ** 2).sum())
        if ss_tot == 0.0:
            return 1.0 if ss_res == 0.0 else 0.0
        return 1.0 - ss_res / ss_tot


#: Grids a tally can be computed on.
GRIDS = ("chart", "working")


class ChartMetrics:
    """One confusion matrix per chart; the AutoICE scores from them.

    ``grid`` says where the pixels were compared (see the module docstring); ``working``
    optionally holds the companion tally of the same scenes on the working grid.
    """

    def __init__(self, charts: tuple[str, ...] | list[str], grid: str = "chart",
                 working: ChartMetrics | None = None) -> None:
        self.charts = tuple(charts)
        for chart in self.charts:
            if chart not in NUM_CLASSES:
                raise ValueError(f"unknown chart {chart!r}")
        if grid not in GRIDS:
            raise ValueError(f"unknown grid {grid!r}: choose from {', '.join(GRIDS)}")
        self.grid = grid
        self.confusion = {c: ConfusionMatrix(NUM_CLASSES[c]) for c in self.charts}
        self.working = working

    def update(self, chart: str, reference: np.ndarray, prediction: np.ndarray) -> None:
        self.confusion[chart].update(reference, prediction)

    def merge(self, other: ChartMetrics) -> None:
        """Add ``other``'s pixels (same charts and grid); the companion tallies too."""
        if tuple(other.charts) != self.charts or other.grid != self.grid:
            raise ValueError(f"cannot merge a {other.grid}-grid tally of {list(other.charts)} "
                             f"into a {self.grid}-grid tally of {list(self.charts)}")
        for chart in self.charts:
            self.confusion[chart].merge(other.confusion[chart])
        if other.working is not None:
            if self.working is None:
                self.working = ChartMetrics(other.working.charts, other.working.grid)
            self.working.merge(other.working)

    @property
    def has_combined(self) -> bool:
        """True when all three AutoICE charts are tallied (the combined score is defined)."""
        return set(self.charts) == set(NUM_CLASSES)

    def to_state(self) -> dict:
        """Plain data (JSON-ready) from which :meth:`from_state` rebuilds this tally exactly."""
        state = {"charts": list(self.charts), "grid": self.grid,
                 "confusion": {c: self.confusion[c].matrix.tolist() for c in self.charts}}
        if self.working is not None:
            state["working"] = self.working.to_state()
        return state

    @classmethod
    def from_state(cls, state: dict) -> ChartMetrics:
        out = cls(state["charts"], state.get("grid", "chart"))
        for c in out.charts:
            m = np.asarray(state["confusion"][c], dtype=np.int64)
            if m.shape != out.confusion[c].matrix.shape:
                raise ValueError(f"{c}: confusion matrix of shape {m.shape}, expected "
                                 f"{out.confusion[c].matrix.shape}")
            out.confusion[c].matrix = m.copy()
        if state.get("working") is not None:
            out.working = cls.from_state(state["working"])
        return out

    def score(self, chart: str) -> float:
        """The chart's AutoICE score x 100 (R^2 for SIC, weighted F1 for SOD and FLOE)."""
        cm = self.confusion[chart]
        return 100.0 * (cm.r2() if CHART_METRIC[chart] == "r2" else cm.f1_weighted())

    def combined(self) -> float:
        """(2 SIC + 2 SOD + 1 FLOE) / 5; NaN unless all three charts are tallied (a SOD-only
        model has no AutoICE combined score)."""
        if not self.has_combined:
            return float("nan")
        return sum(CHART_WEIGHTS[c] * self.score(c) for c in self.charts) / sum(
            CHART_WEIGHTS.values())

    def summary(self) -> dict:
        """JSON-ready: per chart the score, per-class F1, supports and the matrix."""
        out: dict = {"grid": self.grid, "charts": {},
                     "combined_score": _finite(self.combined()),
                     "combined_weights": dict(CHART_WEIGHTS)}
        if not self.has_combined:
            out["combined_note"] = ("not defined: AutoICE combines SIC, SOD and FLOE; this model "
                                    f"predicts {', '.join(self.charts)} only")
        for chart in self.charts:
            cm = self.confusion[chart]
            per_class = cm.per_class_f1()
            names = class_names(chart)
            entry = {
                "metric": "r2" if CHART_METRIC[chart] == "r2" else "f1_weighted",
                "score": _finite(self.score(chart)),
                "f1_weighted": _finite(100.0 * cm.f1_weighted()),
                "f1_macro": _finite(100.0 * cm.f1_macro()),
                "accuracy": _finite(100.0 * cm.accuracy()),
                "pixels": cm.total,
                "per_class": [
                    {"class": i, "name": names[i], "f1": _finite(100.0 * per_class[i]),
                     "support": int(cm.support()[i]),
                     "predicted": int(cm.matrix[:, i].sum())}
                    for i in range(cm.num_classes)
                ],
                "confusion": cm.matrix.tolist(),
            }
            if chart == "SIC":
                entry["r2"] = _finite(100.0 * cm.r2())
            out["charts"][chart] = entry
        return out


def tally_scene(classes: dict[str, np.ndarray], scene: dict, charts: tuple[str, ...] | list[str],
                factor: int) -> ChartMetrics:
    """One scene's chart-grid tally (predictions upsampled onto ``scene["full_labels"]``, the
    charts on the file grid) with its working-grid companion (``scene[chart]``), from one
    working-grid prediction ``classes``: the AutoICE comparison and ours."""
    from tinyicenet.data.resample import upsample_classes

    working = ChartMetrics(charts, "working")
    metrics = ChartMetrics(charts, "chart", working=working)
    for chart in charts:
        working.update(chart, scene[chart], classes[chart])
        ref = scene["full_labels"][chart]
        metrics.update(chart, ref, upsample_classes(classes[chart], ref.shape, factor))
    return metrics


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined score is null."""
    return float(value) if np.isfinite(value) else None

"""C simulation vs the integer reference: the verification report (JSON + Markdown).

The report passes only with 0 differing head codes and 100 % argmax agreement; anything else is a
:class:`~tinyicenet.errors.VerificationError`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.atomic import write_text
from tinyicenet.errors import VerificationError

REPORT_JSON = "verification.json"
REPORT_MD = "verification.md"


@dataclass
class TileResult:
    source: str
    differing: int
    argmax_agreement: float
    max_abs_code_difference: int


@dataclass
class VerificationReport:
    """C simulation vs integer reference on a set of tiles."""

    reference: str
    implementation: str
    tiles: int
    tile: list[int]
    values: int
    differing: int
    argmax_agreement: float
    max_abs_code_difference: int
    random_seed: int | None
    per_tile: list[TileResult] = field(default_factory=list)
    date: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"))

    @property
    def passed(self) -> bool:
        return self.differing == 0 and self.argmax_agreement == 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["criteria"] = {"differing": "must be 0", "argmax_agreement": "must be 1.0 (100 %)"}
        return d

    def summary(self) -> str:
        return (f"{self.differing} of {self.values} values differ, argmax agreement "
                f"{100 * self.argmax_agreement:.4f} % on {self.tiles} tiles")

    def markdown(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"# Verification: {self.implementation} vs {self.reference}", "",
                 f"**{verdict}**: {self.summary()} "
                 f"({self.tile[0]}x{self.tile[1]} pixels each).", "",
                 "Criteria: 0 differing head codes and 100 % argmax agreement.", "",
                 "| tile source | differing values | argmax agreement | max abs code diff |",
                 "| --- | ---: | ---: | ---: |"]
        for t in self.per_tile:
            lines.append(f"| {t.source} | {t.differing} | {100 * t.argmax_agreement:.4f} % | "
                         f"{t.max_abs_code_difference} |")
        lines += ["", f"Random tiles use seed {self.random_seed}." if self.random_seed is not None
                  else "", f"Date: {self.date}", ""]
        return "\n".join(lines)


def compare_codes(got: np.ndarray, want: np.ndarray, sources: list[str], *,
                  reference: str = "integer reference", implementation: str = "hls4ml C simulation",
                  random_seed: int | None = None) -> VerificationReport:
    """Compare head codes ``[N, K, H, W]`` tile by tile."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        raise VerificationError(f"{implementation} output shape {list(got.shape)} differs from "
                                f"the {reference}'s {list(want.shape)}")
    per_tile = []
    for i in range(len(got)):
        diff = got[i].astype(np.int64) - want[i].astype(np.int64)
        per_tile.append(TileResult(
            source=sources[i] if i < len(sources) else f"tile {i}",
            differing=int(np.count_nonzero(diff)),
            argmax_agreement=float(np.mean(got[i].argmax(0) == want[i].argmax(0))),
            max_abs_code_difference=int(np.abs(diff).max(initial=0))))
    return VerificationReport(
        reference=reference, implementation=implementation, tiles=len(got),
        tile=list(got.shape[-2:]), values=int(got.size),
        differing=int(sum(t.differing for t in per_tile)),
        argmax_agreement=float(np.mean(got.argmax(1) == want.argmax(1))) if got.size else 1.0,
        max_abs_code_difference=max((t.max_abs_code_difference for t in per_tile), default=0),
        random_seed=random_seed, per_tile=per_tile)


def write_report(report: VerificationReport, folder: str | os.PathLike[str]) -> list[Path]:
    """Write ``verification.json`` and ``verification.md`` into ``folder``."""
    folder = Path(folder)
    return [write_text(folder / REPORT_JSON, json.dumps(report.to_dict(), indent=1) + "\n"),
            write_text(folder / REPORT_MD, report.markdown())]


def require_pass(report: VerificationReport, what: str) -> None:
    """Raise VerificationError unless the report passed."""
    if not report.passed:
        raise VerificationError(f"{what}: {report.implementation} does not match the "
                                f"{report.reference}: {report.summary()}")

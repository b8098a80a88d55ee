"""Import an external power meter's CSV (bench supply, wall meter, Joulescope, Yokogawa export).

The CSV needs a header, a time column and a power column:

* time: ``timestamp``, ``time``, ``unix_time``, ``time_s``, ``datetime`` or ``date``; Unix
  seconds, or ISO 8601 (with a zone offset; without one it is read as this machine's local
  time, which is what loggers on the bench host write);
* power: ``power_w``, ``watts``, ``w``, ``power`` (watts), ``power_mw``, ``mw`` (milliwatts),
  ``power_uw`` or ``uw`` (microwatts); matching ignores case, spaces and brackets, so
  ``Power [W]`` and ``P (mW)`` work too.

:class:`CsvMeter` re-reads the file when each window ends (a logger may still be appending)
and integrates the power over the window's Unix times; a file that does not cover the window,
or has gone, gives no energy and says why. ``apply_power_csv`` does the same afterwards
for a finished result whose windows carry their Unix begin and end times
(:func:`tinyicenet.bench.harness.apply_power_csv`).
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from tinyicenet.bench.meters.base import (
    MeterFault,
    MeterUnavailable,
    TraceMeter,
    _Window,
    integrate,
)

TIME_COLUMNS = ("timestamp", "time", "unixtime", "times", "datetime", "date")
POWER_COLUMNS = {"powerw": 1.0, "watts": 1.0, "w": 1.0, "power": 1.0, "pw": 1.0,
                 "powermw": 1e-3, "mw": 1e-3, "pmw": 1e-3, "poweruw": 1e-6, "uw": 1e-6,
                 "puw": 1e-6}


def _key(header: str) -> str:
    return re.sub(r"[^a-z]", "", header.lower())


@dataclass(frozen=True)
class PowerTrace:
    """Power samples: Unix times (s) and watts, strictly increasing in time."""

    times: np.ndarray
    watts: np.ndarray
    source: str

    def span(self) -> tuple[float, float]:
        return float(self.times[0]), float(self.times[-1])


def _parse_time(text: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read_power_csv(path: str | Path, time_column: str | None = None,
                   power_column: str | None = None, power_scale: float | None = None,
                   ) -> PowerTrace:
    """Read a power-meter CSV into a :class:`PowerTrace`; problems raise ``MeterFault``."""
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise MeterFault(f"{path}: power CSV not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MeterFault(f"{path}: power CSV cannot be read ({exc})") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise MeterFault(f"{path}: power CSV has no header and samples")
    header = [_key(h) for h in rows[0]]
    t_col = _column(header, [_key(time_column)] if time_column else TIME_COLUMNS, path, "time")
    if power_column:
        p_col = _column(header, [_key(power_column)], path, "power")
        scale = power_scale if power_scale is not None else POWER_COLUMNS.get(header[p_col], 1.0)
    else:
        p_col = _column(header, tuple(POWER_COLUMNS), path, "power")
        scale = power_scale if power_scale is not None else POWER_COLUMNS[header[p_col]]
    times, watts = [], []
    for lineno, row in enumerate(rows[1:], start=2):
        try:
            times.append(_parse_time(row[t_col]))
            watts.append(float(row[p_col]) * scale)
        except (IndexError, ValueError):
            raise MeterFault(f"{path}:{lineno}: cannot read time {row[t_col:t_col + 1]} and "
                             f"power {row[p_col:p_col + 1]}") from None
    t, w = np.asarray(times), np.asarray(watts)
    if np.any(np.diff(t) <= 0):
        i = int(np.argmax(np.diff(t) <= 0)) + 3
        raise MeterFault(f"{path}:{i}: times must increase strictly")
    if not np.all(np.isfinite(w)):
        raise MeterFault(f"{path}: power column holds non-finite values")
    return PowerTrace(t, w, str(path))


def _column(header: list[str], names: tuple[str, ...] | list[str], path: Path, what: str) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    raise MeterFault(f"{path}: no {what} column (header {header}; expected one of "
                     f"{list(names)})")


class CsvMeter(TraceMeter):
    """Windows over an external power meter's CSV, integrated when each window ends."""

    name = "csv"
    polled = False

    def __init__(self, path: str | Path, *, time_column: str | None = None,
                 power_column: str | None = None, power_scale: float | None = None,
                 max_gap_s: float = 2.0, check: bool = False) -> None:
        # Unix time: the logger's clock and ours meet on wall time
        super().__init__(time.time, interval_s=max_gap_s / 5, max_gap_s=max_gap_s)
        self.path = Path(path)
        self._options = dict(time_column=time_column, power_column=power_column,
                             power_scale=power_scale)
        if check:
            try:
                read_power_csv(self.path, **self._options)
            except MeterFault as exc:
                raise MeterUnavailable(f"csv: {exc}") from None

    def _energy(self, window: _Window, t1: float) -> tuple[float, dict[str, float], int]:
        trace = read_power_csv(self.path, **self._options)
        return energy_between(trace, window.t0, t1, self.max_gap_s)

    @property
    def rails(self) -> list[str]:
        return [self.path.name]

    def describe(self) -> str:
        return f"external power meter CSV {self.path.name}"


def energy_between(trace: PowerTrace, t0: float, t1: float, max_gap_s: float = 2.0,
                   ) -> tuple[float, dict[str, float], int]:
    """Energy (J) of ``trace`` over Unix times ``[t0, t1]``; ``MeterFault`` if not covered."""
    first, last = trace.span()
    if first > t0 + max_gap_s or last < t1 - max_gap_s:
        raise MeterFault(f"{trace.source} covers {first:.1f}..{last:.1f} (Unix s), the window "
                         f"is {t0:.1f}..{t1:.1f}")
    powers = [{"csv": float(w)} for w in trace.watts]
    return integrate(list(trace.times), powers, t0, t1, max_gap_s)

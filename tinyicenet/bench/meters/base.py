"""Energy meters behind one window interface (Zeus style).

``meter.begin_window(name)`` ... ``meter.end_window(name)`` returns a :class:`Measurement`:
elapsed time, energy in joules (or ``None`` with the reason), energy per rail and the number of
readings behind it. Two families share the machinery:

* :class:`CounterMeter`: the hardware keeps a cumulative energy counter (NVML, RAPL). The
  window's energy is the counter's difference, with wrap-around undone; a background poll
  notices a counter that wraps more than once or disappears mid-window.
* :class:`TraceMeter`: the hardware gives power (tegrastats, INA3221, INA226, PMBus, an external
  power-meter CSV). Samples are timestamped and the window's energy is the integral of the
  piecewise-linear power over exactly the window; a gap longer than ``max_gap_s`` or a read that
  fails inside the window makes the energy ``None`` with the reason.

A meter that cannot read at all raises :class:`MeterUnavailable` when opened; the harness then
uses :class:`UnavailableMeter`, which times windows and reports no energy, with the reason.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from tinyicenet.errors import MeterError


class MeterUnavailable(MeterError):
    """The meter cannot be read on this machine (missing device, driver, file or permission)."""


class MeterFault(MeterError):
    """A read failed while the meter was in use (the sensor disappeared, the tool exited)."""


@dataclass(frozen=True)
class Measurement:
    """One window. Energies in joules, times in seconds (``t_begin``/``t_end`` are Unix time)."""

    name: str
    meter: str
    elapsed_s: float
    energy_j: float | None
    reason: str | None = None
    rails_j: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    t_begin: float = 0.0
    t_end: float = 0.0

    @property
    def energy_mj(self) -> float | None:
        return None if self.energy_j is None else self.energy_j * 1e3

    @property
    def average_power_w(self) -> float | None:
        if self.energy_j is None or self.elapsed_s <= 0:
            return None
        return self.energy_j / self.elapsed_s

    def to_dict(self) -> dict:
        out = asdict(self)
        out["energy_mj"] = self.energy_mj
        out["average_power_w"] = self.average_power_w
        return out

    def __str__(self) -> str:
        if self.energy_j is None:
            return (f"{self.name}: {self.elapsed_s:.3f} s, energy unavailable "
                    f"({self.meter}: {self.reason})")
        return (f"{self.name}: {self.elapsed_s:.3f} s, {self.energy_j:.3f} J, "
                f"{self.average_power_w:.2f} W ({self.meter}, {self.samples} readings)")


@dataclass
class _Window:
    t0: float           # monotonic
    unix0: float
    faults_at_begin: int
    snapshot: dict[str, float] = field(default_factory=dict)


class Meter(ABC):
    """Begin/end windows by name; several windows may be open at once."""

    #: short name written into results (``method.meter``)
    name = "meter"
    #: windows shorter than this are too short for the sensor's update rate: energy is None
    min_window_s = 0.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._faults: list[tuple[float, str]] = []
        self._lock = threading.RLock()

    # -- the interface -------------------------------------------------------------------
    def begin_window(self, name: str) -> None:
        """Open window ``name`` now."""
        with self._lock:
            if name in self._windows:
                raise MeterError(f"{self.name}: window {name!r} is already open")
            faults_before = len(self._faults)  # a failed read at the window's edge counts
            self._on_begin()
            self._windows[name] = _Window(self._clock(), time.time(), faults_before,
                                          self._snapshot())

    def end_window(self, name: str) -> Measurement:
        """Close window ``name``; its measurement has energy None and a reason on trouble."""
        with self._lock:
            window = self._windows.pop(name, None)
            if window is None:
                raise MeterError(f"{self.name}: window {name!r} was never begun")
            t1, unix1 = self._clock(), time.time()
            self._on_end(t1)
            elapsed = t1 - window.t0
            base = dict(name=name, meter=self.name, elapsed_s=elapsed, t_begin=window.unix0,
                        t_end=unix1)
            faults = self._faults[window.faults_at_begin:]
            if faults:
                when, why = faults[0]
                measurement = Measurement(energy_j=None, reason=(
                    f"meter lost {max(when - window.t0, 0.0):.2f} s into the window: "
                    f"{why}"),
                    **base)
            elif elapsed < self.min_window_s:
                measurement = Measurement(energy_j=None, reason=(
                    f"window {elapsed:.3f} s is shorter than this meter's resolution "
                    f"({self.min_window_s:g} s)"), **base)
            else:
                try:
                    energy, rails, samples = self._energy(window, t1)
                    measurement = Measurement(energy_j=energy, rails_j=rails, samples=samples,
                                              **base)
                except MeterFault as exc:
                    measurement = Measurement(energy_j=None, reason=str(exc), **base)
            idle = not self._windows
        if idle:  # outside the lock: stopping joins a poll thread that may be waiting for it
            self._on_idle()
        return measurement

    def close(self) -> None:
        """Stop background work; safe to call twice."""
        self._on_idle()

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        """One line: what is read and summed."""
        return self.name

    @property
    def rails(self) -> list[str]:
        """Names of the rails/zones summed into the energy."""
        return []

    # -- hooks ------------------------------------------------------------------------------
    def fault(self, message: str) -> None:
        """Record that the meter failed now; open windows then report no energy."""
        with self._lock:
            self._faults.append((self._clock(), message))

    def _on_begin(self) -> None:
        """Called (locked) before a window opens."""

    def _on_end(self, t1: float) -> None:
        """Called (locked) when a window closes, before its energy is computed."""

    def _on_idle(self) -> None:
        """Called when no window is open any more."""

    def _snapshot(self) -> dict[str, float]:
        return {}

    @abstractmethod
    def _energy(self, window: _Window, t1: float) -> tuple[float, dict[str, float], int]:
        """(energy J, energy per rail J, readings) of a window ending at ``t1``."""


class _Poller:
    """Call ``fn`` every ``interval_s`` on a daemon thread until stopped."""

    def __init__(self, fn: Callable[[], None], interval_s: float) -> None:
        self._fn, self._interval = fn, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True, name="meter-poll")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._fn()


class CounterMeter(Meter):
    """A cumulative hardware energy counter per rail (joules after ``_read``'s conversion)."""

    poll_s = 1.0

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 poll_s: float | None = None) -> None:
        super().__init__(clock)
        self._acc: dict[str, float] = {}
        self._last: dict[str, float] | None = None
        self._poller = _Poller(self._sample, poll_s if poll_s is not None else self.poll_s)

    @abstractmethod
    def _read(self) -> dict[str, float]:
        """Cumulative energy per rail in joules; raise OSError/MeterError if it cannot."""

    def _wrap_j(self, rail: str) -> float | None:
        """The counter's range in joules (it restarts from 0 past it), or None if it never wraps."""
        return None

    def _sample(self) -> bool:
        """Read the counters and accumulate; on failure record a fault and return False."""
        with self._lock:
            try:
                raw = self._read()
            except (OSError, MeterError, ValueError) as exc:
                self.fault(f"{type(exc).__name__}: {exc}")
                return False
            if self._last is not None:
                if set(raw) != set(self._last):
                    self.fault(f"rails changed from {sorted(self._last)} to {sorted(raw)}")
                    self._last = raw
                    return False
                for rail, value in raw.items():
                    delta = value - self._last[rail]
                    if delta < 0:
                        wrap = self._wrap_j(rail)
                        if wrap is None:
                            self.fault(f"counter {rail} went backwards ({self._last[rail]} -> "
                                       f"{value}) and does not wrap")
                            self._last = raw
                            return False
                        delta += wrap
                    self._acc[rail] = self._acc.get(rail, 0.0) + delta
            else:
                self._acc = {rail: 0.0 for rail in raw}
            self._last = raw
            return True

    def _on_begin(self) -> None:
        self._sample()
        self._poller.start()

    def _on_end(self, t1: float) -> None:
        self._sample()

    def _on_idle(self) -> None:
        self._poller.stop()

    def _snapshot(self) -> dict[str, float]:
        return dict(self._acc)

    def _energy(self, window: _Window, t1: float) -> tuple[float, dict[str, float], int]:
        rails = {r: self._acc[r] - window.snapshot.get(r, 0.0) for r in self._acc}
        return sum(rails.values()), rails, 2


class TraceMeter(Meter):
    """Power samples over time; the window's energy is their integral over the window.

    Subclasses either implement ``_read_power`` (polled every ``interval_s`` while a window is
    open, and at each window edge) or push samples with :meth:`add_sample` from their own
    reader (``polled = False``).
    """

    interval_s = 0.1
    polled = True
    #: how long end_window waits for a pushed sample at or after the window's end
    end_wait_s = 0.0

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 interval_s: float | None = None, max_gap_s: float | None = None) -> None:
        super().__init__(clock)
        if interval_s is not None:
            self.interval_s = interval_s
        self.max_gap_s = max_gap_s if max_gap_s is not None else max(5 * self.interval_s, 0.5)
        self._times: list[float] = []
        self._powers: list[dict[str, float]] = []
        self._new_sample = threading.Condition(self._lock)
        self._poller = _Poller(self._poll, self.interval_s)

    def _read_power(self) -> dict[str, float]:
        """Power per rail in watts now (polled meters)."""
        raise NotImplementedError

    def _total(self, powers: Mapping[str, float]) -> float:
        """The power counted for the measurement from one sample (default: sum of all rails)."""
        return float(sum(powers.values()))

    def add_sample(self, t: float, powers: Mapping[str, float]) -> None:
        """Append a sample taken at monotonic time ``t`` (watts per rail)."""
        with self._new_sample:
            if self._times and t <= self._times[-1]:
                return  # out of order or repeated: keep the trace strictly increasing
            self._times.append(t)
            self._powers.append(dict(powers))
            self._prune()
            self._new_sample.notify_all()

    def _prune(self) -> None:
        # keep what open windows need, plus a short history for windows about to open
        keep_from = min((w.t0 for w in self._windows.values()), default=self._clock())
        keep_from -= max(self.max_gap_s, 2 * self.interval_s)
        cut = 0
        while cut < len(self._times) - 1 and self._times[cut + 1] < keep_from:
            cut += 1
        if cut:
            del self._times[:cut], self._powers[:cut]

    def _poll(self) -> None:
        t_before = self._clock()
        try:
            powers = self._read_power()
        except (OSError, MeterError, ValueError) as exc:
            self.fault(f"{type(exc).__name__}: {exc}")
            return
        self.add_sample((t_before + self._clock()) / 2, powers)

    def _on_begin(self) -> None:
        if self.polled:
            self._poll()
            self._poller.start()

    def _on_end(self, t1: float) -> None:
        if self.polled:
            self._poll()
            return
        deadline = time.monotonic() + self.end_wait_s
        while not (self._times and self._times[-1] >= t1):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._new_sample.wait(left)

    def _on_idle(self) -> None:
        self._poller.stop()

    def _energy(self, window: _Window, t1: float) -> tuple[float, dict[str, float], int]:
        return integrate(self._times, self._powers, window.t0, t1, self.max_gap_s, self._total)


def integrate(times: list[float], powers: list[Mapping[str, float]], t0: float, t1: float,
              max_gap_s: float, total: Callable[[Mapping[str, float]], float] | None = None,
              ) -> tuple[float, dict[str, float], int]:
    """Energy (J) of piecewise-linear power samples over ``[t0, t1]``.

    Returns (energy counted by ``total``, energy per rail, samples used). Raises
    :class:`MeterFault` when the samples do not cover the window to within ``max_gap_s``.
    """
    total = total or (lambda p: float(sum(p.values())))
    if t1 <= t0:
        return 0.0, {}, 0
    t = np.asarray(times, dtype=float)
    lo = int(np.searchsorted(t, t0, side="right")) - 1   # last sample at or before t0
    hi = int(np.searchsorted(t, t1, side="left"))        # first sample at or after t1
    lo, hi = max(lo, 0), min(hi, len(t) - 1)
    if len(t) == 0 or t[lo] > t1 or t[hi] < t0:
        raise MeterFault("no power samples inside the window")
    if t[lo] - t0 > max_gap_s:
        raise MeterFault(f"first power sample {t[lo] - t0:.2f} s after the window began")
    if t1 - t[hi] > max_gap_s:
        raise MeterFault(f"last power sample {t1 - t[hi]:.2f} s before the window ended")
    sel = t[lo:hi + 1]
    gaps = np.diff(sel)
    if gaps.size and gaps.max() > max_gap_s:
        i = int(gaps.argmax())
        raise MeterFault(f"no power sample for {gaps[i]:.2f} s inside the window")
    rows = powers[lo:hi + 1]
    rails = sorted(set.intersection(*(set(r) for r in rows))) if rows else []
    grid = np.unique(np.clip(np.concatenate([[t0], sel, [t1]]), t0, t1))

    def energy(values: np.ndarray) -> float:
        v = np.interp(grid, sel, values)
        return float(np.sum((v[1:] + v[:-1]) * np.diff(grid)) / 2)

    per_rail = {r: energy(np.array([row[r] for row in rows], dtype=float)) for r in rails}
    counted = energy(np.array([total(row) for row in rows], dtype=float))
    return counted, per_rail, len(rows)


class UnavailableMeter(Meter):
    """Times windows and reports no energy, saying why (no meter can be read here)."""

    def __init__(self, meter: str, reason: str, clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self.name, self.reason = meter, reason

    def _energy(self, window: _Window, t1: float) -> tuple[float, dict[str, float], int]:
        raise MeterFault(f"unavailable: {self.reason}")

    def describe(self) -> str:
        return f"{self.name} (unavailable: {self.reason})"

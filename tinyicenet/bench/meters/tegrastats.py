"""Jetson power from ``tegrastats`` lines.

Rails print as ``NAME cur/avg`` (JetPack 4: bare milliwatts, ``GPU 1155/1155``; JetPack 5:
``VDD_GPU_SOC 3981mW/3981mW``) or ``NAME cur/avg/peak`` (JetPack 6/7). ``cur`` is the
instantaneous reading and is what the meter integrates; ``avg`` runs since tegrastats started.
Tokens that look alike but are not power (``RAM 2150/7765MB``, ``SWAP 0/3882MB``,
``IRAM 0/252kB``) are not rails: the value must end in ``mW`` or stand bare.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tinyicenet.bench.meters import jetson_rails
from tinyicenet.bench.meters.base import MeterUnavailable, TraceMeter

_RAIL = re.compile(
    r"(?<![\w@])([A-Za-z][A-Za-z0-9_]*) "
    r"(\d+)(mW)?/(\d+)(mW)?(?:/(\d+)(mW)?)?"
    r"(?=\s|$)")
_STAMP = re.compile(r"^(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s")


@dataclass(frozen=True)
class RailReading:
    """One rail of one line, milliwatts."""

    cur_mw: int
    avg_mw: int
    peak_mw: int | None = None


@dataclass(frozen=True)
class TegraSample:
    """One tegrastats line: the printed timestamp (if any) and the power rails."""

    timestamp: datetime | None
    rails: dict[str, RailReading]

    def power_w(self) -> dict[str, float]:
        """Instantaneous power per connected rail, watts."""
        return {name: r.cur_mw / 1e3 for name, r in self.rails.items()
                if name not in jetson_rails.NOT_CONNECTED}

    @property
    def family(self) -> str:
        return jetson_rails.family(self.rails)

    def total_w(self) -> float:
        """Module power now, from the family's total rail or the sum of its rails."""
        return jetson_rails.total_power(self.power_w())


def parse_line(line: str) -> TegraSample:
    """Parse one tegrastats line; a line without power rails gives an empty ``rails``."""
    stamp = _STAMP.match(line)
    when = datetime.strptime(stamp.group(1), "%m-%d-%Y %H:%M:%S") if stamp else None
    rails: dict[str, RailReading] = {}
    for m in _RAIL.finditer(line):
        name, cur, u1, avg, u2, peak, u3 = m.groups()
        units = [u1, u2] + ([u3] if peak else [])
        if any(units) and not all(units):
            continue   # half with units, half without: not a power rail
        rails[name] = RailReading(int(cur), int(avg), int(peak) if peak else None)
    return TegraSample(when, rails)


def parse_lines(lines: Iterable[str]) -> list[TegraSample]:
    """Parse many lines, keeping those with power rails."""
    return [s for s in (parse_line(line) for line in lines) if s.rails]


class TegrastatsMeter(TraceMeter):
    """Runs ``tegrastats --interval N`` and integrates the total module power of each line."""

    name = "tegrastats"
    polled = False

    def __init__(self, interval_ms: int = 100, command: Sequence[str] | None = None, *,
                 clock: Callable[[], float] = time.monotonic, first_line_s: float = 5.0,
                 max_gap_s: float | None = None) -> None:
        super().__init__(clock, interval_s=interval_ms / 1e3, max_gap_s=max_gap_s)
        self.end_wait_s = 3 * self.interval_s + 0.5
        if command is None:
            if shutil.which("tegrastats") is None:
                raise MeterUnavailable("tegrastats: not on PATH (not a Jetson?)")
            command = ["tegrastats", "--interval", str(int(interval_ms))]
        try:
            self._proc = subprocess.Popen(list(command), stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, bufsize=1)
        except OSError as exc:
            raise MeterUnavailable(f"tegrastats: cannot start {command[0]} ({exc})") from None
        self._rails: list[str] = []
        self._first = threading.Event()
        self._reader = threading.Thread(target=self._read_stream, daemon=True,
                                        name="tegrastats-reader")
        self._reader.start()
        if not self._first.wait(first_line_s):
            self._stop_process()
            raise MeterUnavailable(f"tegrastats: no line with power rails within "
                                   f"{first_line_s:g} s")

    def feed(self, line: str, t: float | None = None) -> bool:
        """Parse one line and add it as a sample at monotonic time ``t`` (now if None)."""
        sample = parse_line(line)
        powers = sample.power_w()
        if not powers:
            return False
        if not self._rails:
            self._rails = jetson_rails.counted_rails(powers)
        self.add_sample(self._clock() if t is None else t, powers)
        return True

    def _read_stream(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if self.feed(line):
                self._first.set()
        code = self._proc.wait()
        self.fault(f"tegrastats exited (code {code})")

    def _total(self, powers: Mapping[str, float]) -> float:
        return jetson_rails.total_power(powers)

    @property
    def rails(self) -> list[str]:
        return list(self._rails)

    def describe(self) -> str:
        return (f"tegrastats every {self.interval_s * 1e3:.0f} ms, instantaneous power of "
                f"{' + '.join(self._rails) or 'no rails yet'}")

    def close(self) -> None:
        super().close()
        self._stop_process()

    def _stop_process(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()

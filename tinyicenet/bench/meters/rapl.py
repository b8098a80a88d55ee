"""CPU energy from Linux powercap RAPL (Intel, and AMD Zen on Linux 5.8+).

Zones ``intel-rapl:N`` (one per package) and their ``dram`` subzones are summed; ``psys``
(platform) overlaps the packages and is left out, as are the core/uncore subzones the package
already contains. ``energy_uj`` counts microjoules and restarts from 0 past
``max_energy_range_uj``: the wrap is undone, and a poll each second keeps long windows from
wrapping twice unseen. Since Linux 5.10 the files are root-only; where they are missing or
unreadable the meter is unavailable and no number is reported.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from tinyicenet.bench.meters.base import CounterMeter, MeterUnavailable

DEFAULT_ROOT = "/sys/class/powercap"
_TOP = re.compile(r"^intel-rapl:\d+$")
_SUB = re.compile(r"^intel-rapl:\d+:\d+$")


class RaplMeter(CounterMeter):
    """Sum of package (and DRAM) RAPL counters."""

    name = "rapl"
    min_window_s = 0.1   # counters update every ~1 ms

    def __init__(self, root: str | Path = DEFAULT_ROOT, *,
                 clock: Callable[[], float] = time.monotonic, poll_s: float | None = None):
        super().__init__(clock, poll_s)
        root = Path(root)
        if not root.is_dir():
            raise MeterUnavailable(f"rapl: {root} does not exist (no powercap on this machine)")
        self._zones: dict[str, tuple[Path, float]] = {}
        for zone in sorted(root.iterdir()):
            if not (_TOP.match(zone.name) or _SUB.match(zone.name)):
                continue
            name = _read_text(zone / "name")
            if name is None:
                continue
            if _TOP.match(zone.name) and name == "psys":
                continue
            if _SUB.match(zone.name) and name != "dram":
                continue
            label = f"{zone.name} {name}"
            try:
                max_uj = float((zone / "max_energy_range_uj").read_text())
                float((zone / "energy_uj").read_text())
            except PermissionError:
                raise MeterUnavailable(f"rapl: {zone / 'energy_uj'} is not readable (root only "
                                       "since Linux 5.10)") from None
            except (OSError, ValueError) as exc:
                raise MeterUnavailable(f"rapl: {zone} cannot be read ({exc})") from None
            self._zones[label] = (zone / "energy_uj", max_uj / 1e6)
        if not self._zones:
            raise MeterUnavailable(f"rapl: no RAPL package zones under {root}")

    def _read(self) -> dict[str, float]:
        return {label: float(path.read_text()) / 1e6 for label, (path, _) in self._zones.items()}

    def _wrap_j(self, rail: str) -> float | None:
        return self._zones[rail][1]

    @property
    def rails(self) -> list[str]:
        return list(self._zones)

    def describe(self) -> str:
        return "rapl powercap counters: " + ", ".join(self._zones)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None

"""ZCU102 board power: its INA226 monitors through hwmon, or PMBus through PYNQ.

Finding and reading the monitors is ``tinyicenet_io.ina226`` (shared with the board driver).

hwmon: ``/sys/class/hwmon/hwmon*/name`` is ``ina226_uNN`` (the board's reference designator;
the hwmon numbers change between boots, so devices are found by name) and ``power1_input`` is
microwatts. PMBus: ``pynq.get_rails()`` gives rails whose ``power`` sensor reads watts (PYNQ
images only). The rail table and the rails counted in energy figures (the PL and PS domains, as
the on-board script counts them) come from the board facts ``boards/zcu102/board.json``;
``rails="all"`` counts every monitor found, a list of rail names or designators restricts it
(e.g. ``["VCCINT"]`` for the PL core alone).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from tinyicenet_io.ina226 import energy_domains, rail_table, read_watts, scan_hwmon

from tinyicenet.bench.meters.base import MeterUnavailable, TraceMeter

#: used only when board.json is not installed (UG1182's INA226 table, a subset of board.json's)
_FALLBACK_RAILS = {
    "u79": "VCCINT", "u76": "VCCPSINTFP", "u77": "VCCPSINTLP", "u78": "VCCPSAUX",
    "u87": "VCCPSPLL", "u93": "VCCO_PSDDR_504", "u88": "VCCOPS", "u15": "VCCOPS3",
    "u92": "VCCPSDDRPLL",
}


@lru_cache(maxsize=1)
def board_rails() -> tuple[dict[str, str], tuple[str, ...]]:
    """(designator -> rail name, rails counted in energy) from board.json, else the fallback."""
    try:
        from tinyicenet.resources import resource_dir
        board = json.loads((resource_dir("boards/zcu102") / "board.json").read_text())
        table = {r.refdes: r.rail for r in rail_table(board)}
        counted = tuple(r for rails in energy_domains(board).values() for r in rails)
        return table, counted
    except (OSError, KeyError, ValueError, TypeError):
        return dict(_FALLBACK_RAILS), tuple(_FALLBACK_RAILS.values())


def rail_label(sensor: str) -> str:
    """``ina226_u79`` -> ``VCCINT``; a designator not in the table keeps the sensor's name."""
    ref = sensor.split("_", 1)[1].lower() if "_" in sensor else sensor.lower()
    return board_rails()[0].get(ref, sensor)


def find_sensors(root: str | Path = "/") -> dict[str, tuple[str, Path]]:
    """Rail label -> (sensor name, ``power1_input`` file) of every ``ina226_*`` hwmon device."""
    return {rail_label(dev.name): (dev.name, Path(dev.power_file))
            for dev in scan_hwmon(Path(root) / "sys/class/hwmon")}


def _wanted(rails: Iterable[str] | str | None) -> set[str] | None:
    if rails == "all":
        return None
    if rails is None:
        return set(board_rails()[1])
    if isinstance(rails, str):
        return {r.strip() for r in rails.split(",") if r.strip()}
    return set(rails)

class Ina226Meter(TraceMeter):
    """Polls the ZCU102 INA226 hwmon sensors and integrates their summed power."""

    name = "ina226"

    def __init__(self, root: str | Path = "/", rails: Iterable[str] | str | None = None, *,
                 interval_s: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 max_gap_s: float | None = None) -> None:
        super().__init__(clock, interval_s=interval_s, max_gap_s=max_gap_s)
        wanted = _wanted(rails)
        found = find_sensors(root)
        self._sensors = {label: path for label, (sensor, path) in found.items()
                         if wanted is None or label in wanted or sensor in wanted
                         or sensor.split("_", 1)[-1] in wanted}
        if not self._sensors:
            raise MeterUnavailable(
                f"ina226: no ina226 hwmon sensors under {Path(root) / 'sys/class/hwmon'}"
                + (f" among the rails {sorted(wanted)} (found {sorted(found)})"
                   if found and wanted is not None else ""))
        try:
            self._read_power()
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(f"ina226: sensors cannot be read ({exc})") from None

    def _read_power(self) -> dict[str, float]:
        return {label: read_watts(path) for label, path in self._sensors.items()}

    @property
    def rails(self) -> list[str]:
        return list(self._sensors)

    def describe(self) -> str:
        return (f"ina226 hwmon every {self.interval_s * 1e3:.0f} ms, sum of "
                f"{len(self._sensors)} rails: {', '.join(self._sensors)}")


class PmbusMeter(TraceMeter):
    """Polls ``pynq.get_rails()`` (PMBus and INA sensors that PYNQ knows) and sums rail power."""

    name = "pmbus"

    def __init__(self, rails: Iterable[str] | str | None = None, *, interval_s: float = 0.1,
                 clock: Callable[[], float] = time.monotonic, max_gap_s: float | None = None,
                 pynq: Any = None) -> None:
        super().__init__(clock, interval_s=interval_s, max_gap_s=max_gap_s)
        if pynq is None:
            try:
                import pynq  # type: ignore[import-not-found]
            except Exception as exc:  # ImportError, or pynq failing off the board
                raise MeterUnavailable(f"pmbus: pynq is not usable here ({exc})") from None
        try:
            all_rails = pynq.get_rails()
        except Exception as exc:
            raise MeterUnavailable(f"pmbus: pynq.get_rails() failed ({exc})") from None
        wanted = set(rails) if rails is not None and rails != "all" else None
        self._rails = {name: rail for name, rail in all_rails.items()
                       if getattr(rail, "power", None) is not None
                       and (wanted is None or name in wanted)}
        if not self._rails:
            raise MeterUnavailable("pmbus: no rail with a power sensor"
                                   + (f" among {sorted(wanted)}" if wanted else ""))

    def _read_power(self) -> dict[str, float]:
        return {name: float(rail.power.value) for name, rail in self._rails.items()}

    @property
    def rails(self) -> list[str]:
        return list(self._rails)

    def describe(self) -> str:
        return f"pynq pmbus every {self.interval_s * 1e3:.0f} ms: {', '.join(self._rails)}"

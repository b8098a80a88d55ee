"""Jetson INA3221 power monitors read from sysfs.

Two layouts exist:

* JetPack 5 and newer (hwmon): ``/sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmon*/``
  with ``in{N}_label``, ``in{N}_input`` (mV) and ``curr{N}_input`` (mA); power = V x I.
  The hwmon number changes between boots: it is found by globbing, never written down.
* older L4T (iio): ``/sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device*/`` with
  ``rail_name_{N}`` and ``in_power{N}_input`` (mW).

The module total follows :mod:`tinyicenet.bench.meters.jetson_rails`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tinyicenet.bench.meters import jetson_rails
from tinyicenet.bench.meters.base import MeterUnavailable, TraceMeter

_HWMON_LABEL = re.compile(r"^in(\d+)_label$")
_IIO_POWER = re.compile(r"^in_power(\d+)_input$")


def _read(path: Path) -> str:
    return path.read_text().strip()


def find_channels(root: str | Path = "/") -> dict[str, tuple[str, Path, Path | None]]:
    """Rail label -> ('hwmon', voltage mV file, current mA file) or ('iio', power mW file, None)."""
    root = Path(root)
    channels: dict[str, tuple[str, Path, Path | None]] = {}

    def add(label: str, device: str, entry: tuple[str, Path, Path | None]) -> None:
        if label in jetson_rails.NOT_CONNECTED:
            return
        channels[label if label not in channels else f"{device}/{label}"] = entry

    for hwmon in sorted(root.glob("sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*")):
        device = hwmon.parent.parent.name
        for label_file in sorted(hwmon.iterdir()):
            m = _HWMON_LABEL.match(label_file.name)
            if not m:
                continue
            n = m.group(1)
            volt, curr = hwmon / f"in{n}_input", hwmon / f"curr{n}_input"
            if volt.exists() and curr.exists():
                add(_read(label_file), device, ("hwmon", volt, curr))
    for iio in sorted(root.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*")):
        device = iio.parent.name
        for power_file in sorted(iio.iterdir()):
            m = _IIO_POWER.match(power_file.name)
            if not m:
                continue
            name_file = iio / f"rail_name_{m.group(1)}"
            label = _read(name_file) if name_file.exists() else f"channel{m.group(1)}"
            add(label, device, ("iio", power_file, None))
    return channels


class Ina3221Meter(TraceMeter):
    """Polls the Jetson INA3221 rails (default every 100 ms) and integrates the module total."""

    name = "ina3221"

    def __init__(self, root: str | Path = "/", *, interval_s: float = 0.1,
                 clock: Callable[[], float] = time.monotonic,
                 max_gap_s: float | None = None) -> None:
        super().__init__(clock, interval_s=interval_s, max_gap_s=max_gap_s)
        self._channels = find_channels(root)
        if not self._channels:
            raise MeterUnavailable(f"ina3221: no INA3221 rails under "
                                   f"{Path(root) / 'sys/bus/i2c/drivers'} (ina3221 hwmon or "
                                   "ina3221x iio)")
        try:
            self._read_power()
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(f"ina3221: rails cannot be read ({exc})") from None

    def _read_power(self) -> dict[str, float]:
        out = {}
        for label, (kind, first, second) in self._channels.items():
            if kind == "hwmon":
                assert second is not None
                out[label] = float(_read(first)) * float(_read(second)) / 1e6  # mV * mA -> W
            else:
                out[label] = float(_read(first)) / 1e3  # mW -> W
        return out

    def _total(self, powers: Mapping[str, float]) -> float:
        return jetson_rails.total_power(powers)

    @property
    def rails(self) -> list[str]:
        return jetson_rails.counted_rails(self._channels)

    def describe(self) -> str:
        kinds = sorted({kind for kind, _, _ in self._channels.values()})
        return (f"ina3221 sysfs ({'/'.join(kinds)}) every {self.interval_s * 1e3:.0f} ms: "
                f"{' + '.join(self.rails)}")

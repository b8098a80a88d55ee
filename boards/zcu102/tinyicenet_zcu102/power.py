"""ZCU102 power logging from the INA226 rail monitors (hwmon, or pynq.pmbus as a fallback).

The rail table is data (``board.json`` -> ``power_monitors.rails``). On a PYNQ image every
INA226 is a hwmon device whose ``name`` is ``ina226_u<NN>`` (the board's reference designator)
and whose ``power1_input`` is the rail power in microwatts; the hwmon numbers change between
boots, so the devices are found by name, never by number. When no such device exists but
``pynq.pmbus`` does, its rails (libsensors labels) are matched to the table by rail name or
reference designator.

A source is *live* only when it reads the board itself: the kernel's ``/sys/class/hwmon`` or
the ``pynq.pmbus`` module of the PYNQ image. A hwmon tree elsewhere (files a test wrote or
copied) or a pmbus object passed in is a test meter and carries its own name
(``test-hwmon-files``, ``test-pmbus``), so a result never calls it the board's INA226s.

A :class:`PowerLogger` samples in a background thread; a :class:`PowerTrace` integrates the
samples (trapezoids over the sample times) into energy and time-weighted mean power.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time

from tinyicenet_io.ina226 import (SYSFS_HWMON, Rail, energy_domains, rail_table, read_watts,
                                  scan_hwmon)

from .errors import BoardError, PowerUnavailable

__all__ = ["SYSFS_HWMON", "Rail", "energy_domains", "rail_table", "HwmonSource", "PmbusSource",
           "PowerLogger", "PowerTrace", "load_board", "meter_name", "open_source"]

BOARD_METER = "zcu102-ina226"  # the board's INA226 rail monitors, read live


def meter_name(source) -> str:
    """The meter a result names: the board's INA226s when live, else a test meter."""
    if getattr(source, "live", False):
        return BOARD_METER
    return getattr(source, "test_meter", None) or f"test-{getattr(source, 'meter', 'meter')}"


def default_board_json() -> str:
    """``board.json`` beside the driver package (the deploy folder keeps them together), else
    the copy an installed ``tinyicenet-zcu102`` wheel keeps with its build resources."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    beside = os.path.join(parent, "board.json")
    installed = os.path.join(parent, "tinyicenet_zcu102_build", "_resources", "board.json")
    return installed if not os.path.exists(beside) and os.path.exists(installed) else beside


def load_board(path: str | None = None) -> dict:
    """Read the board facts."""
    path = path or default_board_json()
    try:
        with open(path) as handle:
            board = json.load(handle)
    except FileNotFoundError:
        raise BoardError(f"{path}: board facts not found (copy board.json beside the "
                         "driver)") from None
    except (OSError, ValueError) as exc:
        raise BoardError(f"{path}: cannot read board facts ({exc})") from None
    if board.get("format") != "tinyicenet-board" or "power_monitors" not in board:
        raise BoardError(f"{path}: not a tinyicenet board file")
    return board


class HwmonSource:
    """Reads ``power1_input`` (uW) of every ``ina226_uNN`` hwmon device in the rail table."""

    meter = "hwmon"
    test_meter = "test-hwmon-files"

    def __init__(self, rails: list, root: str = SYSFS_HWMON, only=None):
        self.live = os.path.abspath(root) == SYSFS_HWMON
        by_refdes = {r.refdes: r for r in rails}
        self.files = {}
        for device in scan_hwmon(root):
            rail = by_refdes.get(device.refdes)
            if rail is not None and (only is None or rail.rail in only):
                self.files[rail.rail] = device.power_file
        if not self.files:
            raise PowerUnavailable(f"{root}: no INA226 hwmon device (name ina226_uNN with "
                                   "power1_input) from the board's rail table")
        self.rails = sorted(self.files)

    def read(self) -> dict:
        """Rail name -> watts, now."""
        watts = {}
        for rail, path in self.files.items():
            try:
                watts[rail] = read_watts(path)
            except (OSError, ValueError) as exc:
                raise BoardError(f"{path}: cannot read rail {rail} ({exc})") from None
        return watts


class PmbusSource:
    """Reads rail power through ``pynq.pmbus.get_rails()`` (W)."""

    meter = "pmbus"
    test_meter = "test-pmbus"

    def __init__(self, rails: list, pmbus, only=None, live: bool = False):
        self.live = live  # True only for the PYNQ image's own pynq.pmbus (open_source)
        found = pmbus.get_rails()
        keys = {r.rail.upper(): r for r in rails}
        keys.update({r.refdes.upper(): r for r in rails})
        self.sensors = {}
        for label, sensor_rail in found.items():
            token = re.sub(r"^INA226[_-]?", "", str(label).upper())
            rail = keys.get(token) or keys.get(str(label).upper())
            if rail is None or getattr(sensor_rail, "power", None) is None:
                continue
            if only is None or rail.rail in only:
                self.sensors[rail.rail] = sensor_rail.power
        if not self.sensors:
            raise PowerUnavailable("pynq.pmbus: no rail label matches the board's INA226 table "
                                   f"(labels: {', '.join(sorted(map(str, found))) or 'none'})")
        self.rails = sorted(self.sensors)

    def read(self) -> dict:
        return {rail: float(sensor.value) for rail, sensor in self.sensors.items()}


def open_source(board: dict, hwmon_root: str = SYSFS_HWMON, pmbus=None, only=None):
    """The first rail source that works: hwmon, then pynq.pmbus; else PowerUnavailable."""
    rails = rail_table(board)
    try:
        return HwmonSource(rails, hwmon_root, only)
    except PowerUnavailable as hwmon_error:
        live = False
        if pmbus is None:
            try:
                from pynq import pmbus  # noqa: PLC0415 - only on the board
            except Exception:  # no pynq, or pynq without libsensors
                raise hwmon_error from None
            live = not getattr(sys.modules.get("pynq"), "EMULATED", False)
        try:
            return PmbusSource(rails, pmbus, only, live=live)
        except PowerUnavailable as pmbus_error:
            raise PowerUnavailable(f"{hwmon_error}; {pmbus_error}") from None


class PowerTrace:
    """Samples of rail power over time: ``times`` (s, monotonic) and ``watts[rail]``."""

    def __init__(self, rails: list):
        self.rails = list(rails)
        self.times = []
        self.watts = {r: [] for r in self.rails}

    def add(self, t: float, sample: dict) -> None:
        self.times.append(t)
        for rail in self.rails:
            self.watts[rail].append(sample[rail])

    def __len__(self) -> int:
        return len(self.times)

    @property
    def duration(self) -> float:
        return self.times[-1] - self.times[0] if len(self.times) > 1 else 0.0

    def _total(self, rails) -> list:
        missing = [r for r in rails if r not in self.watts]
        if missing:
            raise BoardError(f"power trace has no rail {', '.join(missing)}")
        return [sum(self.watts[r][i] for r in rails) for i in range(len(self.times))]

    def energy_j(self, rails=None) -> float:
        """Trapezoidal integral of the summed power of ``rails`` over the trace."""
        if len(self.times) < 2:
            raise BoardError("power trace holds fewer than 2 samples; lengthen the window")
        total = self._total(self.rails if rails is None else rails)
        return sum((total[i] + total[i + 1]) / 2 * (self.times[i + 1] - self.times[i])
                   for i in range(len(total) - 1))

    def mean_w(self, rails=None) -> float:
        """Time-weighted mean of the summed power of ``rails``."""
        if self.duration <= 0:
            raise BoardError("power trace spans no time; lengthen the window")
        return self.energy_j(rails) / self.duration

    def rail_means(self) -> dict:
        return {r: self.mean_w([r]) for r in self.rails}

    def to_csv(self) -> str:
        lines = ["time_s," + ",".join(f"{r}_W" for r in self.rails)]
        t0 = self.times[0] if self.times else 0.0
        for i, t in enumerate(self.times):
            lines.append(f"{t - t0:.6f}," + ",".join(f"{self.watts[r][i]:.6f}" for r in self.rails))
        return "\n".join(lines) + "\n"


class PowerLogger:
    """Samples a rail source every ``interval_s`` in a thread between start() and stop()."""

    def __init__(self, source, interval_s: float = 0.02, clock=time.perf_counter):
        self.source = source
        self.interval_s = interval_s
        self.clock = clock
        self._thread = None
        self._stop = threading.Event()
        self._error = None
        self.trace = None

    def _sample(self) -> None:
        self.trace.add(self.clock(), self.source.read())

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self._sample()
        except Exception as exc:  # reported by stop(), not lost in the thread
            self._error = exc

    def start(self) -> PowerLogger:
        if self._thread is not None:
            raise BoardError("power logger is already running")
        self.trace = PowerTrace(self.source.rails)
        self._stop.clear()
        self._error = None
        self._sample()  # a sample at the window's start, so the trace spans the whole window
        self._thread = threading.Thread(target=self._run, name="ina226-logger", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> PowerTrace:
        if self._thread is None:
            raise BoardError("power logger was not started")
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise self._error
        self._sample()  # and one at its end
        return self.trace

    def __enter__(self) -> PowerLogger:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._thread is None:
            return
        if exc_type is None:
            self.stop()  # the trace stays in self.trace
        else:  # the block failed: end the thread, keep the block's exception
            self._stop.set()
            self._thread.join()
            self._thread = None

"""Energy meters behind one ``begin_window(name)`` / ``end_window(name)`` interface.

=============  =====================================================  ==========================
name           reads                                                  module
=============  =====================================================  ==========================
``nvml``       NVIDIA GPU cumulative energy counter (mJ)              :mod:`.nvml`
``rapl``       Linux powercap RAPL counters (uJ, wrap-around)         :mod:`.rapl`
``tegrastats`` Jetson rails from ``tegrastats`` lines (mW)            :mod:`.tegrastats`
``ina3221``    Jetson INA3221 sysfs (hwmon or old iio)                :mod:`.ina3221`
``ina226``     ZCU102 INA226 hwmon (uW)                               :mod:`.ina226`
``pmbus``      ZCU102 rails through ``pynq.get_rails()`` (W)          :mod:`.ina226`
``csv:PATH``   an external power meter's CSV (W/mW/uW)                :mod:`.csv_import`
``none``       no energy; windows are still timed                     :mod:`.base`
=============  =====================================================  ==========================

:func:`open_meter` raises :class:`MeterUnavailable` when a meter cannot read here;
:func:`open_meter_or_unavailable` returns an :class:`UnavailableMeter` instead, which reports
``energy_j=None`` with the reason for every window.
"""

from __future__ import annotations

from typing import Any

from tinyicenet.bench.meters.base import (
    Measurement,
    Meter,
    MeterFault,
    MeterUnavailable,
    UnavailableMeter,
)
from tinyicenet.errors import ConfigError

METER_NAMES = ("nvml", "rapl", "tegrastats", "ina3221", "ina226", "pmbus", "csv", "none")


def open_meter(spec: str, **options: Any) -> Meter:
    """Open the meter named by ``spec`` (``csv:PATH`` for a CSV) with its keyword options."""
    name, _, arg = spec.partition(":")
    if name == "nvml":
        from tinyicenet.bench.meters.nvml import NvmlMeter
        return NvmlMeter(**options)
    if name == "rapl":
        from tinyicenet.bench.meters.rapl import RaplMeter
        return RaplMeter(**options)
    if name == "tegrastats":
        from tinyicenet.bench.meters.tegrastats import TegrastatsMeter
        return TegrastatsMeter(**options)
    if name == "ina3221":
        from tinyicenet.bench.meters.ina3221 import Ina3221Meter
        return Ina3221Meter(**options)
    if name == "ina226":
        from tinyicenet.bench.meters.ina226 import Ina226Meter
        return Ina226Meter(**options)
    if name == "pmbus":
        from tinyicenet.bench.meters.ina226 import PmbusMeter
        return PmbusMeter(**options)
    if name == "csv":
        if not arg:
            raise ConfigError("meter 'csv' needs a file: csv:PATH")
        from tinyicenet.bench.meters.csv_import import CsvMeter
        return CsvMeter(arg, check=True, **options)
    if name == "none":
        return UnavailableMeter("none", "no meter was asked for (--meter none)")
    raise ConfigError(f"unknown meter {spec!r}; choose from {', '.join(METER_NAMES)} "
                      "(csv as csv:PATH)")


def open_meter_or_unavailable(spec: str, **options: Any) -> Meter:
    """Like :func:`open_meter`, but a meter that cannot read here becomes an UnavailableMeter."""
    try:
        return open_meter(spec, **options)
    except MeterUnavailable as exc:
        return UnavailableMeter(spec.partition(":")[0], str(exc))


__all__ = ["METER_NAMES", "Measurement", "Meter", "MeterFault", "MeterUnavailable",
           "UnavailableMeter", "open_meter", "open_meter_or_unavailable"]

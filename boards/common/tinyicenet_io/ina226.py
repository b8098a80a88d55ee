"""The ZCU102's INA226 rail monitors: the rail table of ``board.json`` and the hwmon devices.

On a PYNQ image (Linux ``ina2xx`` driver) every INA226 is a hwmon device whose ``name`` is
``ina226_u<NN>`` (the board's reference designator) and whose ``power1_input`` is the rail power
in microwatts; the hwmon numbers change between boots, so devices are found by name, never by
number. The host's bench meter (``tinyicenet.bench.meters.ina226``) and the board driver's power
logger (``tinyicenet_zcu102.power``) both find and read them here. Standard library only.
"""

from __future__ import annotations

import glob
import os
from collections import namedtuple

#: one monitored rail of the board table: designator (lower case), rail name, power domain
Rail = namedtuple("Rail", "refdes rail domain")
#: one INA226 hwmon device: its ``name``, the designator in it (lower case), its power file
Device = namedtuple("Device", "name refdes power_file")

SYSFS_HWMON = "/sys/class/hwmon"


def rail_table(board: dict) -> list:
    """The INA226 rails of the board facts (``power_monitors.rails``) as :class:`Rail` tuples."""
    return [Rail(r["refdes"].lower(), r["rail"], r["domain"])
            for r in board["power_monitors"]["rails"]]


def energy_domains(board: dict) -> dict:
    """Domain name -> rail names counted in the energy figures (PL and PS)."""
    return {k: list(v) for k, v in board["power_monitors"]["energy_domains"].items()}


def scan_hwmon(hwmon_dir: str | os.PathLike = SYSFS_HWMON) -> list:
    """Every ``ina226*`` hwmon device under ``hwmon_dir`` that has a ``power1_input``."""
    found = []
    for device in sorted(glob.glob(os.path.join(str(hwmon_dir), "hwmon*"))):
        try:
            with open(os.path.join(device, "name")) as handle:
                name = handle.read().strip()
        except OSError:
            continue
        power_file = os.path.join(device, "power1_input")
        if name.startswith("ina226") and os.path.exists(power_file):
            refdes = name.split("_", 1)[1].lower() if "_" in name else ""
            found.append(Device(name, refdes, power_file))
    return found


def read_watts(power_file: str | os.PathLike) -> float:
    """A ``power1_input`` file (microwatts) in watts; OSError/ValueError if it cannot be read."""
    with open(power_file) as handle:
        return float(handle.read().strip()) / 1e6

"""NVIDIA GPU energy from NVML's cumulative counter (``nvidia-ml-py``, module ``pynvml``).

``nvmlDeviceGetTotalEnergyConsumption`` counts millijoules since the driver loaded (Volta and
newer). It updates about every 100 ms, so a window must be long against that: windows under
one second report no energy. The harness synchronises the device before each read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from tinyicenet.bench.meters.base import CounterMeter, MeterUnavailable
from tinyicenet.errors import MeterError


def _load_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError:
        raise MeterUnavailable("nvml: the nvidia-ml-py package (module pynvml) is not "
                               "installed") from None
    return pynvml


class NvmlMeter(CounterMeter):
    """Energy of one GPU, chosen by NVML index or PCI bus id (robust to CUDA_VISIBLE_DEVICES)."""

    name = "nvml"
    min_window_s = 1.0

    def __init__(self, index: int = 0, pci_bus_id: str | None = None, *,
                 clock: Callable[[], float] = time.monotonic, poll_s: float | None = None,
                 nvml: Any = None) -> None:
        super().__init__(clock, poll_s)
        self._nvml = nvml if nvml is not None else _load_pynvml()
        try:
            self._nvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
            raise MeterUnavailable(f"nvml: cannot initialise NVML ({exc})") from None
        try:
            if pci_bus_id:
                self._handle = self._nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id)
            else:
                self._handle = self._nvml.nvmlDeviceGetHandleByIndex(index)
            self.device = _text(self._nvml.nvmlDeviceGetName(self._handle))
            self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except Exception as exc:  # no such GPU, or a GPU without the counter (pre-Volta)
            self._shutdown()
            raise MeterUnavailable(f"nvml: GPU {pci_bus_id or index} has no readable energy "
                                   f"counter ({exc})") from None
        self._rail = f"gpu{index}" if not pci_bus_id else f"gpu {pci_bus_id}"

    def _read(self) -> dict[str, float]:
        try:
            mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except Exception as exc:
            raise MeterError(f"NVML energy read failed ({exc})") from None
        return {self._rail: mj / 1e3}

    def power_w(self) -> float | None:
        """NVML's power reading now (an average over about a second on Ampere and newer)."""
        try:
            return self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1e3
        except Exception:
            return None

    @property
    def rails(self) -> list[str]:
        return [self._rail]

    def describe(self) -> str:
        return f"nvml total energy counter of {self.device} ({self._rail})"

    def close(self) -> None:
        super().close()
        self._shutdown()

    def _shutdown(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

"""Counter meters: NVML (fake library) and RAPL (recorded powercap tree with a wrap-around)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinyicenet.bench.meters import UnavailableMeter, open_meter, open_meter_or_unavailable
from tinyicenet.bench.meters.base import MeterUnavailable
from tinyicenet.bench.meters.nvml import NvmlMeter
from tinyicenet.bench.meters.rapl import RaplMeter
from tinyicenet.errors import ConfigError, MeterError

RECORDED = Path(__file__).parent / "data" / "recorded"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeNvml:
    """The pynvml calls the meter uses; energy in mJ, settable by the test."""

    class NVMLError(Exception):
        pass

    def __init__(self, energy_mj: int = 1_000_000, init_error: str | None = None) -> None:
        self.energy_mj, self.init_error, self.lost, self.shutdowns = energy_mj, init_error, False, 0

    def nvmlInit(self):
        if self.init_error:
            raise self.NVMLError(self.init_error)

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetHandleByIndex(self, i):
        if i != 0:
            raise self.NVMLError("Invalid Argument")
        return "h0"

    def nvmlDeviceGetHandleByPciBusId(self, bus):
        return "h0"

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H200"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if self.lost:
            raise self.NVMLError("GPU is lost")
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, h):
        return 117_000


def test_nvml_counter_delta_is_the_window_energy():
    nvml, clock = FakeNvml(), Clock()
    meter = NvmlMeter(nvml=nvml, clock=clock, poll_s=60)
    meter.begin_window("w")
    clock.t += 2.0
    nvml.energy_mj += 400_000          # 400 J in 2 s
    m = meter.end_window("w")
    assert m.energy_j == pytest.approx(400.0) and m.average_power_w == pytest.approx(200.0)
    assert m.energy_mj == pytest.approx(400_000) and m.reason is None
    assert meter.device == "NVIDIA H200" and meter.power_w() == pytest.approx(117.0)
    meter.close()
    assert nvml.shutdowns == 1


def test_nvml_overlapping_windows_and_errors():
    nvml, clock = FakeNvml(), Clock()
    meter = NvmlMeter(nvml=nvml, clock=clock, poll_s=60)
    meter.begin_window("outer")
    clock.t += 1.5
    nvml.energy_mj += 1000
    meter.begin_window("inner")
    clock.t += 1.5
    nvml.energy_mj += 3000
    inner = meter.end_window("inner")
    outer = meter.end_window("outer")
    assert inner.energy_j == pytest.approx(3.0) and outer.energy_j == pytest.approx(4.0)
    with pytest.raises(MeterError, match="never begun"):
        meter.end_window("inner")
    meter.begin_window("x")
    with pytest.raises(MeterError, match="already open"):
        meter.begin_window("x")
    meter.close()


def test_nvml_short_window_and_lost_gpu_give_no_energy():
    nvml, clock = FakeNvml(), Clock()
    meter = NvmlMeter(nvml=nvml, clock=clock, poll_s=60)
    meter.begin_window("short")
    clock.t += 0.2                      # counter updates every ~100 ms: too coarse
    nvml.energy_mj += 50
    m = meter.end_window("short")
    assert m.energy_j is None and "shorter than this meter's resolution" in m.reason
    meter.begin_window("lost")
    clock.t += 2.0
    nvml.lost = True                    # the GPU falls off the bus mid-window
    m = meter.end_window("lost")
    assert m.energy_j is None and "GPU is lost" in m.reason and "meter lost" in m.reason
    assert "energy unavailable" in str(m)
    meter.close()


def test_nvml_unavailable_without_driver():
    with pytest.raises(MeterUnavailable, match="cannot initialise NVML"):
        NvmlMeter(nvml=FakeNvml(init_error="Driver Not Loaded"))
    with pytest.raises(MeterUnavailable, match="no readable energy counter"):
        NvmlMeter(index=3, nvml=FakeNvml())


def test_real_pynvml_here_reports_unavailable_or_reads():
    meter = open_meter_or_unavailable("nvml")
    try:
        if isinstance(meter, UnavailableMeter):
            assert "nvml" in meter.reason
            meter.begin_window("w")
            m = meter.end_window("w")
            assert m.energy_j is None and "unavailable" in m.reason
        else:  # a machine with an NVIDIA driver
            assert meter.rails
    finally:
        meter.close()


def copy_powercap(tmp_path: Path) -> Path:
    return Path(shutil.copytree(RECORDED / "powercap", tmp_path / "powercap"))


def test_rapl_sums_packages_and_dram_and_undoes_wrap(tmp_path):
    root = copy_powercap(tmp_path)
    clock = Clock()
    meter = RaplMeter(root, clock=clock, poll_s=60)
    assert meter.rails == ["intel-rapl:0 package-0", "intel-rapl:0:1 dram",
                           "intel-rapl:1 package-1"]   # core and psys are not double counted
    meter.begin_window("w")
    clock.t += 1.0
    # package-0 wraps: 262143000000 -> max 262143328850 -> restarts -> 1000000 uJ
    (root / "intel-rapl:0" / "energy_uj").write_text("1000000\n")
    (root / "intel-rapl:0:1" / "energy_uj").write_text("7000000\n")     # +2 J
    (root / "intel-rapl:1" / "energy_uj").write_text("110000000\n")     # +10 J
    (root / "intel-rapl:0:0" / "energy_uj").write_text("99999999999\n")  # ignored subzone
    m = meter.end_window("w")
    wrapped = (262143328850 - 262143000000 + 1000000) / 1e6
    assert m.rails_j["intel-rapl:0 package-0"] == pytest.approx(wrapped)
    assert m.energy_j == pytest.approx(wrapped + 2.0 + 10.0)
    meter.close()


def test_rapl_missing_or_unreadable_is_unavailable(tmp_path):
    with pytest.raises(MeterUnavailable, match="no powercap"):
        RaplMeter(tmp_path / "nothing")
    root = copy_powercap(tmp_path)
    (root / "intel-rapl:1" / "energy_uj").unlink()
    (root / "intel-rapl:1" / "energy_uj").mkdir()       # unreadable as a file
    with pytest.raises(MeterUnavailable, match="cannot be read"):
        RaplMeter(root)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MeterUnavailable, match="no RAPL package zones"):
        RaplMeter(empty)
    meter = open_meter_or_unavailable("rapl", root=str(tmp_path / "nothing"))
    assert isinstance(meter, UnavailableMeter) and "no powercap" in meter.reason


def test_rapl_zone_disappearing_mid_window(tmp_path):
    root = copy_powercap(tmp_path)
    clock = Clock()
    meter = RaplMeter(root, clock=clock, poll_s=60)
    meter.begin_window("w")
    clock.t += 1.0
    shutil.rmtree(root / "intel-rapl:1")
    m = meter.end_window("w")
    assert m.energy_j is None and "FileNotFoundError" in m.reason
    meter.close()


def test_rapl_background_poll_sees_two_wraps(tmp_path):
    """A poll between reads keeps a window that wraps twice from losing a whole range."""
    root = copy_powercap(tmp_path)
    for zone in ("intel-rapl:0", "intel-rapl:0:1", "intel-rapl:1"):
        (root / zone / "max_energy_range_uj").write_text("1000000\n")
        (root / zone / "energy_uj").write_text("0\n")
    clock = Clock()
    meter = RaplMeter(root, clock=clock, poll_s=60)
    meter.begin_window("w")
    for value in ("900000", "400000", "300000"):   # +0.9, wrap +0.5, wrap +0.9
        (root / "intel-rapl:0" / "energy_uj").write_text(value)
        assert meter._sample()  # what the poll thread does every poll_s
    clock.t += 1.0
    m = meter.end_window("w")
    assert m.rails_j["intel-rapl:0 package-0"] == pytest.approx(0.9 + 0.5 + 0.9)
    meter.close()


def test_open_meter_names():
    with pytest.raises(ConfigError, match="unknown meter 'joules'"):
        open_meter("joules")
    with pytest.raises(ConfigError, match="csv:PATH"):
        open_meter("csv")
    none = open_meter("none")
    none.begin_window("a")
    assert none.end_window("a").energy_j is None

"""Power-trace meters on recorded samples: tegrastats, INA3221, INA226, PMBus, power-meter CSV."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tinyicenet.bench.meters import open_meter, open_meter_or_unavailable
from tinyicenet.bench.meters.base import MeterFault, MeterUnavailable, TraceMeter, integrate
from tinyicenet.bench.meters.csv_import import CsvMeter, energy_between, read_power_csv
from tinyicenet.bench.meters.ina226 import Ina226Meter, PmbusMeter
from tinyicenet.bench.meters.ina3221 import Ina3221Meter
from tinyicenet.bench.meters.tegrastats import TegrastatsMeter, parse_line, parse_lines

RECORDED = Path(__file__).parent / "data" / "recorded"
TEGRA = RECORDED / "tegrastats"


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


# -- integration ------------------------------------------------------------------------------

def test_integrate_is_exact_for_piecewise_linear_power():
    times = [float(t) for t in range(11)]
    powers = [{"a": float(t), "b": 1.0} for t in range(11)]    # a ramps 0..10 W
    energy, rails, n = integrate(times, powers, 2.5, 7.5, max_gap_s=1.0)
    assert rails["a"] == pytest.approx((7.5**2 - 2.5**2) / 2)  # 25 J
    assert rails["b"] == pytest.approx(5.0)
    assert energy == pytest.approx(30.0) and n == 7


def test_integrate_refuses_gaps_and_uncovered_windows():
    times = [0.0, 1.0, 2.0, 6.0, 7.0]
    powers = [{"p": 1.0}] * 5
    with pytest.raises(MeterFault, match="no power sample for 4.00 s"):
        integrate(times, powers, 0.5, 6.5, max_gap_s=1.0)
    with pytest.raises(MeterFault, match="last power sample"):
        integrate(times, powers, 0.0, 9.5, max_gap_s=1.0)
    with pytest.raises(MeterFault, match="first power sample"):
        integrate([5.0, 6.0], [{"p": 1.0}] * 2, 0.0, 6.0, max_gap_s=1.0)
    with pytest.raises(MeterFault, match="no power samples"):
        integrate([], [], 0.0, 1.0, max_gap_s=1.0)


class ScriptedMeter(TraceMeter):
    """A polled meter whose reading the test sets; 'gone' makes the read fail."""

    name = "scripted"

    def __init__(self, clock):
        self.watts, self.gone = {"rail": 5.0}, False
        super().__init__(clock, interval_s=1000)   # no real polling: the edges sample

    def _read_power(self):
        if self.gone:
            raise FileNotFoundError("power1_input")
        return dict(self.watts)


def test_polled_meter_window_and_disappearance():
    clock = Clock()
    meter = ScriptedMeter(clock)
    meter.begin_window("w")
    clock.t = 0.25
    m = meter.end_window("w")
    assert m.energy_j == pytest.approx(5.0 * 0.25) and m.samples == 2
    meter.begin_window("lost")
    clock.t = 0.35
    meter.gone = True
    m = meter.end_window("lost")
    assert m.energy_j is None and "FileNotFoundError" in m.reason
    meter.gone = False
    meter.begin_window("back")
    clock.t = 0.6
    assert meter.end_window("back").energy_j == pytest.approx(5.0 * 0.25)
    meter.close()


# -- tegrastats -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, family, total_w, rails", [
    ("agx_xavier_jp4.txt", "agx_xavier", (1155 + 385 + 2504 + 0 + 192 + 2692) / 1e3,
     {"GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"}),
    ("agx_orin_jp5.txt", "agx_orin", (2340 + 390 + 4025 + 301) / 1e3,
     {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO", "NC"}),
    ("orin_nx_jp5.txt", "nx_orin_nano", 5.832, {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}),
    ("orin_nano_jp6.txt", "nx_orin_nano", 5.251, {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}),
    ("nano_jp4.txt", "nano", 1.795, {"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"}),
    ("tx2_jp4.txt", "tx2", 5.297,
     {"VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_4V0_WIFI", "VDD_IN", "VDD_SYS_CPU", "VDD_SYS_DDR"}),
])
def test_tegrastats_every_rail_family(name, family, total_w, rails):
    samples = parse_lines((TEGRA / name).read_text().splitlines())
    assert samples, name
    first = samples[0]
    assert set(first.rails) == rails           # RAM/SWAP/IRAM/temperatures are not rails
    assert first.family == family
    assert first.total_w() == pytest.approx(total_w)


def test_tegrastats_value_formats():
    jp6 = parse_lines((TEGRA / "orin_nano_jp6.txt").read_text().splitlines())
    busy = jp6[1].rails["VDD_IN"]
    assert (busy.cur_mw, busy.avg_mw, busy.peak_mw) == (9873, 7562, 9873)
    orin = parse_line((TEGRA / "agx_orin_jp5.txt").read_text().splitlines()[1])
    assert orin.timestamp.isoformat() == "2025-04-11T10:36:28"
    assert orin.rails["VDD_GPU_SOC"].avg_mw == 8581 and orin.rails["VDD_GPU_SOC"].peak_mw is None
    assert parse_line("RAM 2150/7765MB SWAP 0/3882MB IRAM 0/252kB GR3D_FREQ 0%@[0,0]").rails == {}
    assert parse_line("VDD_IN 5000mW/4000").rails == {}   # half with units: not a rail


def fake_tegrastats(lines, period_s, repeat, then_exit=True):
    script = (f"import sys, time\nlines = {lines!r}\n"
              f"for i in range({repeat}):\n"
              f"    print(lines[i % len(lines)], flush=True)\n"
              f"    time.sleep({period_s})\n")
    if not then_exit:
        script += "time.sleep(60)\n"
    return [sys.executable, "-c", script]


def test_tegrastats_meter_integrates_a_live_stream():
    line = (TEGRA / "orin_nx_jp5.txt").read_text().splitlines()[1]   # VDD_IN 11604 mW
    meter = TegrastatsMeter(command=fake_tegrastats([line], 0.02, 200, then_exit=False),
                            interval_ms=20)
    try:  # the constructor returns once the first line has come
        meter.begin_window("w")
        time.sleep(0.4)
        m = meter.end_window("w")
        assert m.energy_j == pytest.approx(11.604 * m.elapsed_s, rel=1e-6)
        assert m.samples >= 2 and meter.rails == ["VDD_IN"]
        assert "VDD_IN" in meter.describe()
    finally:
        meter.close()


def test_tegrastats_exiting_mid_window_gives_no_energy():
    line = (TEGRA / "agx_xavier_jp4.txt").read_text().splitlines()[0]
    meter = TegrastatsMeter(command=fake_tegrastats([line], 0.02, 10), interval_ms=20)
    try:
        meter.begin_window("w")
        meter._reader.join(timeout=30)       # the fake tool exits after 10 lines, ~0.2 s
        m = meter.end_window("w")
        assert m.energy_j is None and "tegrastats exited" in m.reason
    finally:
        meter.close()


def test_tegrastats_feed_with_a_fake_clock():
    clock = Clock()
    meter = TegrastatsMeter.__new__(TegrastatsMeter)
    TraceMeter.__init__(meter, clock, interval_s=0.1)
    meter._rails = []
    lines = (TEGRA / "agx_orin_jp5.txt").read_text().splitlines()
    meter.feed(lines[0], 0.0)            # 7.056 W
    meter.begin_window("w")              # at t = 0
    meter.feed(lines[1], 0.1)            # 24.408 W
    meter.feed(lines[1], 0.2)
    clock.t = 0.2
    m = meter.end_window("w")
    assert m.energy_j == pytest.approx((7.056 + 24.408) / 2 * 0.1 + 24.408 * 0.1)
    assert meter.rails == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]


def test_tegrastats_missing_tool_is_unavailable(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MeterUnavailable, match="not on PATH"):
        TegrastatsMeter()
    with pytest.raises(MeterUnavailable, match="no line with power rails"):
        TegrastatsMeter(command=[sys.executable, "-c", "print('RAM 1/2MB')"], first_line_s=1.0)


# -- INA3221 sysfs ----------------------------------------------------------------------------

@pytest.mark.parametrize("tree, rails, total_w", [
    ("jetson_agx_orin_hwmon", ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"],
     5.0 * 0.468 + 5.0 * 0.078 + 5.0 * 0.805 + 4.992 * 0.060),
    ("jetson_orin_nx_hwmon", ["VDD_IN"], 19.104 * 0.305),
    ("jetson_agx_xavier_iio", ["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"],
     (1155 + 385 + 2504 + 0 + 192 + 2692) / 1e3),
])
def test_ina3221_layouts(tree, rails, total_w):
    clock = Clock()
    meter = Ina3221Meter(RECORDED / tree, clock=clock, interval_s=1000)
    assert meter.rails == rails
    meter.begin_window("w")
    clock.t = 2.0
    m = meter.end_window("w")
    assert m.energy_j == pytest.approx(total_w * 2.0)
    meter.close()


def test_ina3221_rail_disappears_mid_window(tmp_path):
    root = Path(shutil.copytree(RECORDED / "jetson_orin_nx_hwmon", tmp_path / "t"))
    clock = Clock()
    meter = Ina3221Meter(root, clock=clock, interval_s=1000)
    meter.begin_window("w")
    clock.t = 1.0
    next(root.glob("sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/curr1_input")).unlink()
    m = meter.end_window("w")
    assert m.energy_j is None and "curr1_input" in m.reason
    with pytest.raises(MeterUnavailable, match="no INA3221 rails"):
        Ina3221Meter(tmp_path / "none")


# -- ZCU102 INA226 and PMBus ------------------------------------------------------------------

PL_PS_W = 2.55 + 0.034 + 1.02 + 0.255 + 0.108 + 0.012 + 0.54 + 0.066 + 0.0165 + 0.045


def test_ina226_counts_the_board_pl_and_ps_rails():
    clock = Clock()
    meter = Ina226Meter(RECORDED / "zcu102_hwmon", clock=clock, interval_s=1000)
    assert "VCCINT" in meter.rails and "MGTRAVCC" not in meter.rails   # GT rail not counted
    assert len(meter.rails) == 10
    meter.begin_window("w")
    clock.t = 3.0
    m = meter.end_window("w")
    assert m.energy_j == pytest.approx(PL_PS_W * 3.0)
    assert m.rails_j["VCCINT"] == pytest.approx(2.55 * 3.0)
    everything = Ina226Meter(RECORDED / "zcu102_hwmon", rails="all", interval_s=1000)
    assert "ina226_u99" in everything.rails and "MGTRAVCC" in everything.rails
    assert sum(everything._read_power().values()) == pytest.approx(PL_PS_W + 0.085 + 0.007)
    assert Ina226Meter(RECORDED / "zcu102_hwmon", rails=["u79"]).rails == ["VCCINT"]
    assert Ina226Meter(RECORDED / "zcu102_hwmon", rails="VCCINT,VCCBRAM").rails == [
        "VCCINT", "VCCBRAM"]
    with pytest.raises(MeterUnavailable, match="among the rails"):
        Ina226Meter(RECORDED / "zcu102_hwmon", rails=["VCCNOPE"])
    with pytest.raises(MeterUnavailable, match="no ina226 hwmon sensors"):
        Ina226Meter(RECORDED / "jetson_orin_nx_hwmon")


def test_pmbus_through_a_fake_pynq():
    def rail(w):
        return SimpleNamespace(power=SimpleNamespace(value=w))

    pynq = SimpleNamespace(get_rails=lambda: {"VCCINT": rail(2.0), "VCCAUX": rail(0.5),
                                              "12V": SimpleNamespace(power=None)})
    clock = Clock()
    meter = PmbusMeter(pynq=pynq, clock=clock, interval_s=1000)
    assert meter.rails == ["VCCINT", "VCCAUX"]
    meter.begin_window("w")
    clock.t = 2.0
    assert meter.end_window("w").energy_j == pytest.approx(5.0)
    assert PmbusMeter(rails=["VCCINT"], pynq=pynq).rails == ["VCCINT"]
    with pytest.raises(MeterUnavailable, match="pynq"):
        open_meter("pmbus")   # no pynq here


# -- external power-meter CSV -----------------------------------------------------------------

def test_read_recorded_csvs():
    w = read_power_csv(RECORDED / "power_meter_w.csv")
    t0 = w.times[0]
    assert len(w.times) == 61 and w.watts[0] == 4.0 and w.watts[-1] == 12.0
    # 10 s idle at 4 W then 12 W: [2, 8] s is all idle, [12, 22] s all busy
    assert energy_between(w, t0 + 2, t0 + 8)[0] == pytest.approx(24.0)
    assert energy_between(w, t0 + 12, t0 + 22)[0] == pytest.approx(120.0)
    mw = read_power_csv(RECORDED / "power_meter_mw_unix.csv")
    assert mw.watts[0] == pytest.approx(2.0) and mw.times[1] - mw.times[0] == pytest.approx(1.0)
    start = mw.times[0]
    # power = 2 + t W: integral over [3.5, 10.5] s = 2*7 + (10.5^2 - 3.5^2)/2
    assert energy_between(mw, start + 3.5, start + 10.5)[0] == pytest.approx(14 + 49.0)
    with pytest.raises(MeterFault, match="covers"):
        energy_between(mw, start + 20, start + 60)


def test_csv_problems_are_clear(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("when,volts\n1,2\n")
    with pytest.raises(MeterFault, match="no time column"):
        read_power_csv(bad)
    bad.write_text("time,power_w\n1,2\n1,3\n")
    with pytest.raises(MeterFault, match="strictly"):
        read_power_csv(bad)
    bad.write_text("time,power_w\n1,2\n2,x\n")
    with pytest.raises(MeterFault, match=r"bad.csv:3"):
        read_power_csv(bad)
    custom = tmp_path / "custom.csv"
    custom.write_text("t_ms,chan_a\n1000,1500\n2000,1500\n")
    trace = read_power_csv(custom, time_column="t_ms", power_column="chan_a", power_scale=1e-3)
    assert trace.watts[0] == pytest.approx(1.5)
    meter = open_meter_or_unavailable(f"csv:{tmp_path / 'missing.csv'}")
    assert "not found" in meter.reason


def test_csv_meter_live_window_and_vanishing_file(tmp_path):
    now = time.time()
    path = tmp_path / "live.csv"
    rows = ["Timestamp,P (mW)"] + [f"{now - 5 + 0.1 * i:.3f},{7500.0}" for i in range(101)]
    path.write_text("\n".join(rows) + "\n")
    meter = CsvMeter(path, max_gap_s=0.5)
    meter.begin_window("w")
    time.sleep(0.05)
    m = meter.end_window("w")
    assert m.energy_j == pytest.approx(7.5 * m.elapsed_s, rel=1e-6)
    meter.begin_window("gone")
    path.unlink()
    m = meter.end_window("gone")
    assert m.energy_j is None and "not found" in m.reason


def test_jetson_meter_falls_back_and_explains(monkeypatch):
    from tinyicenet.bench.targets.jetson import open_jetson_meter
    monkeypatch.setenv("PATH", "/nonexistent")
    meter = open_jetson_meter(None)          # no tegrastats, no INA3221 sysfs here
    assert meter.name == "tegrastats"
    assert "not on PATH" in meter.reason and "no INA3221 rails" in meter.reason

"""ZCU102 rail logging on a recorded hwmon tree (tests/data/zcu102/hwmon) and a fake pynq.pmbus."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tinyicenet.resources import resource_dir

BOARD_DIR = resource_dir("boards/zcu102")
from tinyicenet_zcu102 import power
from tinyicenet_zcu102.errors import BoardError, PowerUnavailable

HWMON = Path(__file__).parent / "data" / "zcu102" / "hwmon"


@pytest.fixture(scope="module")
def board():
    return power.load_board()


def _tree_watts() -> dict[str, float]:
    """Rail -> W read straight from the recorded files (independent of the logger)."""
    table = {r["refdes"]: r["rail"] for r in power.load_board()["power_monitors"]["rails"]}
    out = {}
    for device in HWMON.iterdir():
        name = (device / "name").read_text().strip()
        ref = name.removeprefix("ina226_")
        if name.startswith("ina226_") and ref in table:
            out[table[ref]] = int((device / "power1_input").read_text()) / 1e6
    return out


def test_board_facts(board):
    assert board["part"] == "xczu9eg-ffvb1156-2-e"
    res = board["resources"]
    assert (res["bram36"], res["dsp"], res["lut"], res["uram"]) == (912, 2520, 274080, 0)
    rails = {r.rail: r for r in power.rail_table(board)}
    assert rails["VCCINT"].refdes == "u79" and rails["VCCINT"].domain == "pl"
    for ps in ("VCCPSINTFP", "VCCPSINTLP", "VCCPSAUX", "VCCPSPLL", "VCCO_PSDDR_504", "VCCOPS",
               "VCCOPS3", "VCCPSDDRPLL"):
        assert rails[ps].domain == "ps"
    counted = [r for rails_ in power.energy_domains(board).values() for r in rails_]
    assert set(counted) <= set(rails) and "MGTAVCC" not in counted


def test_hwmon_finds_rails_by_name_not_number(board):
    source = power.HwmonSource(power.rail_table(board), str(HWMON))
    expected = _tree_watts()
    assert len(expected) == 18
    assert set(source.rails) == set(expected)  # ams and ina226_u999 are ignored
    assert source.read() == pytest.approx(expected, rel=0, abs=1e-12)
    assert source.read()["VCCINT"] == pytest.approx(0.850 * 1.850)  # 850 mV x 1850 mA


def test_hwmon_restricted_rails_and_missing_tree(board, tmp_path):
    only = ["VCCINT", "VCCPSINTFP"]
    source = power.HwmonSource(power.rail_table(board), str(HWMON), only=only)
    assert source.rails == sorted(only)
    with pytest.raises(PowerUnavailable, match="no INA226 hwmon device"):
        power.HwmonSource(power.rail_table(board), str(tmp_path))


def test_hwmon_read_error_names_the_file(board, tmp_path):
    tree = tmp_path / "hwmon"
    shutil.copytree(HWMON, tree)
    source = power.HwmonSource(power.rail_table(board), str(tree))
    victim = next(d for d in tree.iterdir() if (d / "name").read_text().strip() == "ina226_u79")
    (victim / "power1_input").write_text("garbage\n")
    with pytest.raises(BoardError, match="power1_input: cannot read rail VCCINT"):
        source.read()


def test_trace_integrates_trapezoids():
    trace = power.PowerTrace(["A", "B"])
    for t, a, b in ((0.0, 1.0, 0.0), (1.0, 2.0, 1.0), (3.0, 2.0, 3.0)):
        trace.add(t, {"A": a, "B": b})
    # A: 1.5 + 4 = 5.5 J; B: 0.5 + 4 = 4.5 J
    assert trace.energy_j(["A"]) == pytest.approx(5.5)
    assert trace.energy_j() == pytest.approx(10.0)
    assert trace.mean_w() == pytest.approx(10.0 / 3.0)
    assert trace.rail_means() == pytest.approx({"A": 5.5 / 3, "B": 4.5 / 3})
    assert trace.to_csv().splitlines()[0] == "time_s,A_W,B_W"
    with pytest.raises(BoardError, match="no rail C"):
        trace.energy_j(["C"])
    short = power.PowerTrace(["A"])
    short.add(0.0, {"A": 1.0})
    with pytest.raises(BoardError, match="fewer than 2 samples"):
        short.energy_j()


class RampSource:
    """Power that follows the clock: 1 W + 2 W/s, so the mean over a window is known."""

    meter = "test"
    rails = ["X"]

    def __init__(self, clock):
        self.clock, self.reads = clock, 0
        self.t0 = clock()

    def read(self):
        self.reads += 1
        return {"X": 1.0 + 2.0 * (self.clock() - self.t0)}


def test_logger_samples_a_changing_rail_over_the_window():
    source = RampSource(time.perf_counter)
    logger = power.PowerLogger(source, interval_s=0.005)
    with logger:  # at least 0.2 s and 10 polls, however slowly a loaded machine runs the thread
        deadline = time.perf_counter() + 30
        while (time.perf_counter() - source.t0 < 0.2 or source.reads < 10) \
                and time.perf_counter() < deadline:
            time.sleep(0.01)
    trace = logger.trace
    assert len(trace) >= 10 and trace.duration >= 0.2
    t0, t1 = trace.times[0] - source.t0, trace.times[-1] - source.t0
    # a linear ramp integrates exactly with trapezoids (up to the read-vs-stamp jitter)
    assert trace.mean_w() == pytest.approx(1.0 + (t0 + t1), abs=0.02)


def test_logger_reports_a_failing_source():
    class Failing:
        meter, rails = "test", ["X"]

        def __init__(self):
            self.calls = 0

        def read(self):
            self.calls += 1
            if self.calls > 2:
                raise BoardError("rail gone")
            return {"X": 1.0}

    logger = power.PowerLogger(Failing(), interval_s=0.001).start()
    time.sleep(0.05)
    with pytest.raises(BoardError, match="rail gone"):
        logger.stop()
    with pytest.raises(BoardError, match="not started"):
        logger.stop()


class FakeSensor:
    def __init__(self, value):
        self.value = value


class FakeRail:
    def __init__(self, watts):
        self.power = FakeSensor(watts)
        self.voltage = self.current = None


class FakePmbus:
    def __init__(self, rails):
        self.rails = rails

    def get_rails(self):
        return self.rails


def test_pmbus_labels_match_rail_names_or_refdes(board):
    pmbus = FakePmbus({"VCCINT": FakeRail(1.5), "ina226_u76": FakeRail(0.9),
                       "12V": FakeRail(20.0), "power1": FakeRail(3.0)})
    source = power.PmbusSource(power.rail_table(board), pmbus)
    assert source.read() == {"VCCINT": 1.5, "VCCPSINTFP": 0.9}
    with pytest.raises(PowerUnavailable, match="no rail label matches"):
        power.PmbusSource(power.rail_table(board), FakePmbus({"12V": FakeRail(1.0)}))


def test_open_source_prefers_hwmon_then_pmbus(board, tmp_path):
    assert isinstance(power.open_source(board, str(HWMON)), power.HwmonSource)
    pmbus = FakePmbus({"VCCINT": FakeRail(1.5)})
    assert isinstance(power.open_source(board, str(tmp_path), pmbus=pmbus), power.PmbusSource)
    with pytest.raises(PowerUnavailable, match="no INA226 hwmon device.*no rail label"):
        power.open_source(board, str(tmp_path), pmbus=FakePmbus({}))


def test_rails_command_prints_the_recorded_tree():
    proc = subprocess.run([sys.executable, "-m", "tinyicenet_zcu102", "rails", "--hwmon",
                           str(HWMON)], cwd=BOARD_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split()[:2] for line in proc.stdout.splitlines())
    assert float(lines["VCCINT"]) == pytest.approx(1.5725, abs=1e-4)
    assert len(lines) == 18
    proc = subprocess.run([sys.executable, "-m", "tinyicenet_zcu102", "rails", "--hwmon",
                           "/nonexistent"], cwd=BOARD_DIR, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_threads_do_not_leak():
    before = threading.active_count()
    logger = power.PowerLogger(RampSource(time.perf_counter), interval_s=0.001)
    logger.start()
    logger.stop()
    assert threading.active_count() == before

"""The harness method on a tiny callable workload with scripted meters."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tinyicenet.bench.harness import BenchConfig, apply_power_csv, run_bench
from tinyicenet.bench.meters import open_meter
from tinyicenet.bench.meters.base import Meter, TraceMeter
from tinyicenet.bench.schema import validate_result
from tinyicenet.bench.units import ew_scene
from tinyicenet.bench.workload import CallableWorkload
from tinyicenet.errors import ConfigError, ResultError

FAST = dict(window_s=0.15, repetitions=3, warmup_s=0.02, warmup_calls=2, idle_s=0.1)


class BusyMeter(TraceMeter):
    """4 W while idle, 10 W once the workload has run; optionally vanishes after N reads."""

    name = "busy"

    def __init__(self, state, fail_after=None):
        self.state, self.reads, self.fail_after = state, 0, fail_after
        super().__init__(interval_s=0.01)

    def _read_power(self):
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise FileNotFoundError("/sys/class/hwmon/hwmon3/power1_input")
        return {"board": 10.0 if self.state["busy"] else 4.0}


def workload(state, batch=4):
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)

    def step():
        state["busy"] = True
        state["calls"] += 1
        for _ in range(batch):
            x @ x

    return CallableWorkload(step, batch=batch, tile=(256, 256), model="tiny", device="test cpu")


def test_same_run_gives_throughput_latency_and_energy():
    state = {"busy": False, "calls": 0}
    meter = BusyMeter(state)
    result = run_bench(workload(state), meter, BenchConfig(**FAST), target="cpu",
                       scene=ew_scene())
    validate_result(result)
    assert result["repetitions"] == 3 and len(result["windows"]) == 3
    assert result["window_s"] >= 0.15
    calls = sum(w["calls"] for w in result["windows"])
    latency_calls = sum(w["latency_calls"] for w in result["windows"])
    assert result["latency_ms"]["calls"] == latency_calls >= 3 * 20
    assert state["calls"] > calls + latency_calls   # + warm-up
    assert result["timing"] == {"throughput": "queued", "latency": "synchronised"}
    assert all(w["tiles"] == 4 * w["calls"] for w in result["windows"])
    rates = sorted(w["tiles"] / w["elapsed_s"] for w in result["windows"])
    assert result["tiles_per_s"] == pytest.approx(rates[1])            # the median window
    assert result["scenes_per_s"] == pytest.approx(result["tiles_per_s"] / 25)
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    # power: 4 W idle (nothing ran yet), 10 W in the windows
    assert result["power_w"]["idle"] == pytest.approx(4.0)
    assert result["power_w"]["average"] == pytest.approx(10.0, rel=1e-6)
    e = result["energy_mj"]
    per_tile = [w["energy_mj"] / w["tiles"] for w in result["windows"]]
    assert e["per_tile_gross"] == pytest.approx(sorted(per_tile)[1])
    assert e["per_scene_gross"] == pytest.approx(25 * e["per_tile_gross"])
    # above idle: (10 - 4) W of the 10 W
    assert e["per_tile_above_idle"] == pytest.approx(0.6 * e["per_tile_gross"], rel=0.05)
    assert result["provenance"] == {"throughput": "measured", "energy": "measured",
                                    "energy_reason": None, "assumptions": [],
                                    "verification": None}
    assert result["method"]["meter"] == "busy" and result["method"]["warmup_s"] >= 0.02
    assert result["date"].endswith("Z") and result["host"]["cores"] >= 1
    json.dumps(result, allow_nan=False)


def test_meter_lost_in_later_windows_keeps_earlier_ones_and_says_so():
    state = {"busy": False, "calls": 0}
    # reads: idle 2, rep0 2 + polls ... fail after enough reads for idle and ~one window
    meter = BusyMeter(state)
    meter.interval_s = 1000   # edges only: idle 2 reads, each window 2 reads
    meter._poller._interval = 1000
    meter.fail_after = 4
    result = run_bench(workload(state), meter, BenchConfig(**FAST), target="cpu",
                       scene=ew_scene())
    windows = result["windows"]
    assert windows[0]["energy_mj"] is not None
    assert windows[1]["energy_mj"] is None and windows[2]["energy_mj"] is None
    assert "power1_input" in windows[1]["reason"]
    assert result["provenance"]["energy"] == "measured"
    assert "2 of 3 windows without energy" in result["provenance"]["energy_reason"]
    assert result["energy_mj"]["per_tile_gross"] == pytest.approx(
        windows[0]["energy_mj"] / windows[0]["tiles"])


def test_meter_lost_everywhere_gives_nulls_not_numbers():
    state = {"busy": False, "calls": 0}
    meter = BusyMeter(state, fail_after=0)
    result = run_bench(workload(state), meter, BenchConfig(**FAST), target="cpu",
                       scene=ew_scene())
    assert result["provenance"]["energy"] == "unavailable"
    assert "meter lost" in result["provenance"]["energy_reason"]
    assert set(result["energy_mj"].values()) == {None}
    assert result["power_w"] == {"average": None, "idle": None}
    assert result["tiles_per_s"] > 0          # throughput still measured


def test_no_meter_and_no_idle():
    state = {"busy": False, "calls": 0}
    cfg = BenchConfig(**{**FAST, "repetitions": 1}, measure_idle=False)
    result = run_bench(workload(state), open_meter("none"), cfg, target="cpu",
                       scene=ew_scene())
    assert result["idle"] is None and result["method"]["idle_s"] is None
    assert result["provenance"]["energy"] == "unavailable"
    assert "--meter none" in result["provenance"]["energy_reason"]


def test_apply_power_csv_after_the_run(tmp_path):
    state = {"busy": False, "calls": 0}
    result = run_bench(workload(state), open_meter("none"), BenchConfig(**FAST), target="cpu",
                       scene=ew_scene())
    # an external meter logged 3 W during idle and 9 W elsewhere, at 20 Hz
    idle = result["idle"]
    t = np.arange(idle["t_begin"] - 1, result["windows"][-1]["t_end"] + 1, 0.05)
    watts = np.where((t >= idle["t_begin"] - 0.001) & (t <= idle["t_end"] + 0.001), 3.0, 9.0)
    csv = tmp_path / "meter.csv"
    rows = "".join(f"{a:.4f},{b}\n" for a, b in zip(t, watts, strict=True))
    csv.write_text("time_s,power_w\n" + rows)
    out = apply_power_csv(result, str(csv))
    assert out["method"]["meter"] == "csv" and out["provenance"]["energy"] == "measured"
    assert out["power_w"]["average"] == pytest.approx(9.0)
    assert out["power_w"]["idle"] == pytest.approx(3.0, abs=0.6)  # edges ramp over 50 ms
    w = out["windows"][-1]      # the first may start within one CSV sample of the idle window
    assert w["energy_mj"] == pytest.approx(9.0 * (w["t_end"] - w["t_begin"]) * 1e3)
    assert result["provenance"]["energy"] == "unavailable"       # the input is not modified
    far = tmp_path / "far.csv"
    far.write_text("time_s,power_w\n1,1\n2,1\n")
    gaps = apply_power_csv(result, str(far))
    assert gaps["provenance"]["energy"] == "unavailable"
    assert "covers" in gaps["windows"][0]["reason"]


def test_bad_configuration_is_refused():
    state = {"busy": False, "calls": 0}
    with pytest.raises(ConfigError, match="window"):
        run_bench(workload(state), open_meter("none"), BenchConfig(window_s=0), target="cpu",
                  scene=ew_scene())
    with pytest.raises(ConfigError, match="repetitions"):
        BenchConfig(repetitions=0).check()
    with pytest.raises(ConfigError, match="differs from the scene unit"):
        run_bench(workload(state), open_meter("none"), BenchConfig(**FAST), target="cpu",
                  scene=ew_scene((128, 128)))


# -- the two timing definitions, on a fake device with a fake clock ---------------------------
class FakeDevice:
    """A device with a queue: ``run`` costs the host ``launch`` s and the device ``cost`` s;
    ``synchronize`` waits for the queue, then costs ``sync`` s. Energy: 100 W always plus
    200 W per second of device work (the meter is only read with the queue empty)."""

    def __init__(self, cost=0.005, launch=0.002, sync=0.0005):
        self.cost, self.launch, self.sync = cost, launch, sync
        self.t = self.busy_until = self.work = 0.0
        self.runs = self.syncs = 0

    # clock
    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds

    # workload
    def run(self):
        start = max(self.t, self.busy_until)
        self.busy_until = start + self.cost
        self.work += self.cost
        self.t += self.launch
        self.runs += 1

    def synchronize(self):
        self.syncs += 1
        self.t = max(self.t, self.busy_until) + self.sync

    def energy_j(self):
        assert self.t >= self.busy_until, "meter read while device work was still queued"
        return 100.0 * self.t + 200.0 * self.work


class FakeCounter(Meter):
    """Reads the fake device's energy; sets the next window's cost; logs runs/syncs per window."""

    name = "fake"

    def __init__(self, device, costs=()):
        super().__init__(clock=device.now)
        self.device, self.costs, self.log = device, list(costs), []

    def _on_begin(self):
        if self.costs:
            self.device.cost = self.costs.pop(0)
        self.log.append(("begin", self.device.runs, self.device.syncs))

    def _snapshot(self):
        return {"j": self.device.energy_j()}

    def _energy(self, window, t1):
        self.log.append(("end", self.device.runs, self.device.syncs))
        return self.device.energy_j() - window.snapshot["j"], {}, 2


def fake_bench(costs=(0.005, 0.020, 0.010), **config):
    dev = FakeDevice()
    meter = FakeCounter(dev, [None] + list(costs))   # the idle window takes the first entry
    meter.costs[0] = dev.cost
    work = CallableWorkload(dev.run, batch=4, tile=(256, 256), synchronize=dev.synchronize)
    cfg = BenchConfig(**{**dict(window_s=1.0, repetitions=3, warmup_s=0.0, warmup_calls=2,
                                idle_s=0.5, latency_s=0.2, latency_calls=5), **config})
    result = run_bench(work, meter, cfg, target="cuda", scene=ew_scene(), clock=dev)
    return result, meter, dev


def test_queued_windows_give_throughput_and_energy_with_one_sync_each():
    result, meter, dev = fake_bench()
    validate_result(result, new=True)
    assert result["timing"] == {"throughput": "queued", "latency": "synchronised"}
    windows = result["windows"]
    # per window, between the meter's reads: `calls` runs and exactly one synchronisation
    edges = meter.log[2:]                  # after the idle window
    for w, (b, e) in zip(windows, zip(edges[0::2], edges[1::2]), strict=True):
        assert b[0] == "begin" and e[0] == "end"
        assert e[1] - b[1] == w["calls"] and e[2] - b[2] == 1
    costs = (0.005, 0.020, 0.010)
    for w, c in zip(windows, costs, strict=True):
        # host launches are 2 ms, so the host queues ~500 calls per 1 s window...
        assert w["calls"] == pytest.approx(1.0 / 0.002, abs=1)
        # ...and the window lasts until the device has done them all, plus one sync
        assert w["elapsed_s"] == pytest.approx(w["calls"] * c + 0.0005)
        assert w["energy_mj"] == pytest.approx(
            (100 * w["elapsed_s"] + 200 * w["calls"] * c) * 1e3)
    rates = [4 * w["calls"] / w["elapsed_s"] for w in windows]
    assert result["tiles_per_s"] == pytest.approx(sorted(rates)[1])     # the 10 ms window
    assert result["tiles_per_s"] == pytest.approx(4 / 0.010, rel=1e-3)
    e = result["energy_mj"]
    per_tile = sorted(w["energy_mj"] / w["tiles"] for w in windows)
    assert e["per_tile_gross"] == pytest.approx(per_tile[1])
    assert result["power_w"]["idle"] == pytest.approx(100.0)
    # above idle: only the 200 W x device work, per tile: 200 W x 10 ms / 4 tiles = 500 mJ
    assert e["per_tile_above_idle"] == pytest.approx(200 * 0.010 / 4 * 1e3, rel=1e-6)


def test_latency_comes_from_synchronised_calls_outside_the_meter_window():
    result, meter, dev = fake_bench(costs=(0.010, 0.010, 0.010))
    # each synchronised call: device 10 ms + sync 0.5 ms (the 2 ms launch overlaps the work)
    assert result["latency_ms"]["p50"] == pytest.approx(10.5)
    assert result["latency_ms"]["p99"] == pytest.approx(10.5)
    for w in result["windows"]:
        assert w["latency_calls"] == math.ceil(0.2 / 0.0105)         # 0.2 s, >= 5 calls
        assert w["latency_elapsed_s"] == pytest.approx(w["latency_calls"] * 0.0105)
    assert result["latency_ms"]["calls"] == 3 * math.ceil(0.2 / 0.0105)
    # the synchronised definition's throughput is kept, labelled, and lower than queued
    assert result["synchronised_tiles_per_s"] == pytest.approx(4 / 0.0105)
    assert result["tiles_per_s"] == pytest.approx(4 / 0.010, rel=1e-3)
    # every device run is accounted for: warm-up + queued windows + latency calls
    assert dev.runs == 2 + sum(w["calls"] + w["latency_calls"] for w in result["windows"])


def test_latency_calls_has_a_floor_of_calls():
    result, _, _ = fake_bench(costs=(0.010,) * 3, latency_s=0.0, latency_calls=7)
    assert [w["latency_calls"] for w in result["windows"]] == [7, 7, 7]
    with pytest.raises(ConfigError, match="latency calls"):
        BenchConfig(latency_calls=0).check()
    assert BenchConfig(window_s=10).latency_window_s == 2.0
    assert BenchConfig(window_s=1).latency_window_s == pytest.approx(0.2)


def test_new_records_need_timing_old_ones_still_load():
    result, _, _ = fake_bench(costs=(0.010,) * 3, repetitions=1)
    old = {k: v for k, v in result.items() if k != "timing"}
    assert validate_result(old) is old                       # a record from before the field
    with pytest.raises(ResultError, match="timing"):
        validate_result(old, new=True)
    with pytest.raises(ResultError, match="must be one of"):
        validate_result({**result, "timing": {"throughput": "guessed", "latency": "synchronised"}})

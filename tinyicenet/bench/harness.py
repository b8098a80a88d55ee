"""The measurement method, one for every target, with two named timing figures.

1. idle: a quiet window with the model loaded and nothing running gives idle power;
2. warm-up: run until ``warmup_s`` and ``warmup_calls`` have both passed (compilation,
   autotuning, allocation, clocks ramping up);
3. ``repetitions`` times:

   a. a **queued** window of at least ``window_s``: calls back to back, the device
      synchronised once before and once after the window (never between calls), the meter's
      window around it. Throughput (tiles/s) and energy come from these windows only;
   b. a short **synchronised** sub-window (``latency_s``, at least ``latency_calls`` calls),
      outside the meter's window: each call followed by a device synchronisation and timed on
      its own. Latency p50/p99 come from these calls only;

4. the reported figures are medians over the windows (latency: percentiles over all
   synchronised calls); every window is kept in the result, and ``timing`` names the two
   definitions (``{"throughput": "queued", "latency": "synchronised"}``).

Energy per tile is the queued window's energy over the tiles it processed; above idle
subtracts idle power x window time. Per scene multiplies by the scene unit's tile count. The
throughput of the synchronised calls is kept as ``synchronised_tiles_per_s`` for comparison
with records that used that definition; it is never the headline figure.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyicenet.bench.meters.base import Measurement, Meter
from tinyicenet.bench.schema import TIMING, blank_result, validate_result
from tinyicenet.bench.sysinfo import commit, host_info, now_iso
from tinyicenet.bench.units import SceneUnit
from tinyicenet.bench.workload import Workload
from tinyicenet.errors import ConfigError
from tinyicenet.progress import make_progress


class Clock:
    """Host time and sleeping; tests pass a fake one to check the harness's arithmetic."""

    def now(self) -> float:
        return time.perf_counter()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = Clock()


@dataclass
class BenchConfig:
    """How long and how often to measure."""

    window_s: float = 10.0
    repetitions: int = 5
    warmup_s: float = 3.0
    warmup_calls: int = 3
    idle_s: float | None = None          # None: as long as one window
    measure_idle: bool = True
    latency_s: float | None = None       # synchronised calls per repetition; None: see below
    latency_calls: int = 20              # at least this many synchronised calls per repetition
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        if not self.window_s > 0:
            raise ConfigError(f"window {self.window_s} s: must be > 0")
        if self.repetitions < 1:
            raise ConfigError(f"repetitions {self.repetitions}: must be >= 1")
        if self.warmup_s < 0 or self.warmup_calls < 0:
            raise ConfigError("warm-up must be >= 0")
        if self.idle_s is not None and self.idle_s <= 0:
            raise ConfigError(f"idle window {self.idle_s} s: must be > 0")
        if self.latency_s is not None and self.latency_s < 0:
            raise ConfigError(f"latency sub-window {self.latency_s} s: must be >= 0")
        if self.latency_calls < 1:
            raise ConfigError(f"latency calls {self.latency_calls}: must be >= 1")

    @property
    def latency_window_s(self) -> float:
        """Seconds of synchronised calls per repetition (default: a fifth of a window, <= 2 s)."""
        return self.latency_s if self.latency_s is not None else min(2.0, self.window_s / 5)


def measure_idle(meter: Meter, seconds: float, synchronize: Callable[[], None] = lambda: None,
                 clock: Clock = SYSTEM_CLOCK) -> Measurement:
    """A quiet window: nothing runs for ``seconds``."""
    synchronize()
    meter.begin_window("idle")
    clock.sleep(seconds)
    return meter.end_window("idle")


def run_bench(workload: Workload, meter: Meter, config: BenchConfig, *, target: str,
              scene: SceneUnit, idle: Measurement | None = None,
              quiet: bool = True, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Measure ``workload`` with ``meter`` and return a schema-v1 result dict.

    ``idle`` lets several workloads in one process share one idle measurement.
    """
    config.check()
    if tuple(workload.tile) != tuple(scene.tile):
        raise ConfigError(f"workload tile {workload.tile} differs from the scene unit's tile "
                          f"{scene.tile}")
    load_before = _load_average()
    with make_progress(quiet) as progress:
        if idle is None and config.measure_idle:
            task = progress.add_task("idle power", total=1)
            idle = measure_idle(meter, config.idle_s or config.window_s, workload.synchronize,
                                clock)
            progress.advance(task)
        task = progress.add_task("warm-up", total=1)
        warmup = _warm_up(workload, config, clock)
        progress.advance(task)
        task = progress.add_task(f"{config.repetitions} x {config.window_s:g} s windows",
                                 total=config.repetitions)
        windows, latencies = [], []
        for rep in range(config.repetitions):
            window = queued_window(workload, meter, config.window_s, f"rep{rep}", clock)
            lat = synchronised_calls(workload, config.latency_window_s, config.latency_calls,
                                     clock)
            window.update(latency_calls=len(lat), latency_elapsed_s=float(sum(lat)),
                          latency_p50_ms=float(np.percentile(lat, 50)) * 1e3)
            windows.append(window)
            latencies.extend(lat)
            progress.advance(task)

    result = blank_result(target=target, backend=workload.backend, device=workload.device,
                          model=workload.model, precision=workload.precision,
                          tile=workload.tile, batch=workload.batch, scene=scene.to_dict(),
                          variant=workload.variant, timing=TIMING)
    lat = np.asarray(latencies) * 1e3
    result["latency_ms"] = {"p50": float(np.percentile(lat, 50)),
                            "p99": float(np.percentile(lat, 99)), "calls": int(lat.size)}
    result["windows"] = windows
    result["idle"] = _idle_entry(idle)
    result["method"].update({
        "meter": meter.name,
        "meter_detail": meter.describe(),
        "rails": meter.rails or None,
        "warmup_s": round(warmup, 3),
        "idle_s": None if idle is None else round(idle.elapsed_s, 3),
        "window_min_s": config.window_s,
        "latency_window_s": config.latency_window_s,
        "statistic": (f"median of {config.repetitions} queued windows (throughput, energy); "
                      f"p50/p99 of {int(lat.size)} synchronised calls (latency)"),
        "notes": list(config.notes) + list(getattr(workload, "notes", [])),
    })
    result.update(commit=commit(), date=now_iso(),
                  host=host_info(device=workload.device, load_1m=load_before))
    summarise(result)
    return validate_result(result, f"bench result of {workload.backend}", new=True)


def _load_average() -> float | None:
    """1-minute load average before the run (a busy machine disturbs CPU timings)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _warm_up(workload: Workload, config: BenchConfig, clock: Clock) -> float:
    t0 = clock.now()
    calls = 0
    while calls < config.warmup_calls or clock.now() - t0 < config.warmup_s:
        workload.run()
        calls += 1
    workload.synchronize()
    return clock.now() - t0


def queued_window(workload: Workload, meter: Meter, seconds: float, name: str,
                  clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """Calls back to back for at least ``seconds``, one device synchronisation at the end.

    The device is idle when the window opens (synchronised before the meter's first read) and
    has finished every queued call when it closes, so elapsed time, tiles and energy cover
    exactly the same work.
    """
    workload.synchronize()
    meter.begin_window(name)
    t0 = clock.now()
    calls = 0
    while True:
        workload.run()
        calls += 1
        if clock.now() - t0 >= seconds:
            break
    workload.synchronize()
    elapsed = clock.now() - t0
    m = meter.end_window(name)
    return {
        "elapsed_s": elapsed,
        "calls": calls,
        "tiles": calls * workload.batch,
        "energy_mj": m.energy_mj,
        "meter_elapsed_s": m.elapsed_s,
        "average_power_w": m.average_power_w,
        "rails_mj": {k: v * 1e3 for k, v in m.rails_j.items()} or None,
        "reason": m.reason,
        "t_begin": m.t_begin,
        "t_end": m.t_end,
    }


def synchronised_calls(workload: Workload, seconds: float, min_calls: int,
                       clock: Clock = SYSTEM_CLOCK) -> list[float]:
    """Seconds of single calls, each followed by a device synchronisation (latency)."""
    workload.synchronize()
    latencies: list[float] = []
    t0 = now = clock.now()
    while len(latencies) < min_calls or now - t0 < seconds:
        start = now
        workload.run()
        workload.synchronize()
        now = clock.now()
        latencies.append(now - start)
    return latencies


def _idle_entry(idle: Measurement | None) -> dict[str, Any] | None:
    if idle is None:
        return None
    return {"elapsed_s": idle.elapsed_s, "energy_mj": idle.energy_mj,
            "average_power_w": idle.average_power_w, "reason": idle.reason,
            "t_begin": idle.t_begin, "t_end": idle.t_end}


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """(Re)compute the headline figures of ``result`` from its ``windows`` and ``idle``.

    Medians over windows; energy only from windows whose meter read. Used by the harness and
    again when energies are filled in afterwards (:func:`apply_power_csv`).
    """
    windows = result["windows"]
    tiles_per_scene = result["scene"]["tiles"]
    rates = [w["tiles"] / w["elapsed_s"] for w in windows if w["elapsed_s"] > 0 and w["tiles"]]
    result["repetitions"] = len(windows)
    result["window_s"] = statistics.median(w["elapsed_s"] for w in windows) if windows else None
    if rates:
        result["tiles_per_s"] = statistics.median(rates)
        result["scenes_per_s"] = result["tiles_per_s"] / tiles_per_scene
    sync_rates = [w["latency_calls"] * result["batch"] / w["latency_elapsed_s"]
                  for w in windows if w.get("latency_calls") and w.get("latency_elapsed_s")]
    if sync_rates:   # the other definition, kept for comparison only
        result["synchronised_tiles_per_s"] = statistics.median(sync_rates)
    idle = result.get("idle") or {}
    idle_w = idle.get("average_power_w")
    result["power_w"] = {"average": None, "idle": idle_w}
    result["energy_mj"] = {k: None for k in result["energy_mj"]}
    good = [w for w in windows if w["energy_mj"] is not None and w["tiles"] > 0]
    lost = [w for w in windows if w["energy_mj"] is None]
    prov = result["provenance"]
    if not good:
        reasons = sorted({w.get("reason") or "no energy reading" for w in lost})
        prov["energy"] = "unavailable"
        prov["energy_reason"] = "; ".join(reasons) if reasons else "no windows"
        return result
    per_tile = [w["energy_mj"] / w["tiles"] for w in good]
    power = [w["energy_mj"] / 1e3 / _meter_time(w) for w in good]
    e = result["energy_mj"]
    e["per_tile_gross"] = statistics.median(per_tile)
    e["per_scene_gross"] = e["per_tile_gross"] * tiles_per_scene
    if idle_w is not None:
        above = [(w["energy_mj"] - idle_w * _meter_time(w) * 1e3) / w["tiles"] for w in good]
        e["per_tile_above_idle"] = statistics.median(above)
        e["per_scene_above_idle"] = e["per_tile_above_idle"] * tiles_per_scene
    result["power_w"]["average"] = statistics.median(power)
    prov["energy"] = "measured"
    reasons = []
    if lost:
        why = sorted({w.get("reason") or "no energy reading" for w in lost})
        reasons.append(f"{len(lost)} of {len(windows)} windows without energy ({'; '.join(why)}); "
                       "medians over the others")
    if idle_w is None:
        reasons.append("idle power not measured"
                       + (f" ({idle['reason']})" if idle.get("reason") else "")
                       + ": no above-idle figures")
    prov["energy_reason"] = "; ".join(reasons) or None
    return result


def _meter_time(window: dict[str, Any]) -> float:
    return window.get("meter_elapsed_s") or window["elapsed_s"]


def apply_power_csv(result: dict[str, Any], csv_path: str, **csv_options: Any) -> dict[str, Any]:
    """Fill a finished result's energies from an external power meter's CSV.

    Each window (and the idle window) must carry its Unix ``t_begin``/``t_end``, which the
    harness records; the CSV is integrated over exactly those times.
    """
    from tinyicenet.bench.meters.base import MeterFault
    from tinyicenet.bench.meters.csv_import import energy_between, read_power_csv

    trace = read_power_csv(csv_path, **csv_options)
    out = {**result, "windows": [dict(w) for w in result["windows"]]}
    entries = out["windows"] + ([dict(out["idle"])] if out.get("idle") else [])
    if out.get("idle"):
        out["idle"] = entries[-1]
    for entry in entries:
        if entry.get("t_begin") is None or entry.get("t_end") is None:
            raise ConfigError("result windows carry no Unix begin/end times: cannot apply a CSV")
        try:
            joules, _, _ = energy_between(trace, entry["t_begin"], entry["t_end"])
            entry["energy_mj"], entry["reason"] = joules * 1e3, None
            span = entry["t_end"] - entry["t_begin"]
            entry["meter_elapsed_s"] = span
            entry["average_power_w"] = joules / span if span > 0 else None
        except MeterFault as exc:
            entry["energy_mj"], entry["reason"], entry["average_power_w"] = None, str(exc), None
    out["method"] = {**out["method"], "meter": "csv",
                     "meter_detail": f"external power meter CSV {trace.source.rsplit('/', 1)[-1]}",
                     "rails": None}
    out["provenance"] = dict(out["provenance"])
    summarise(out)
    return validate_result(out, "result with CSV energies")

"""Run whole scenes on the board, time them, log rail power, and write a bench result.

The result follows the host's bench schema (tinyicenet/bench/result_schema.json, version 1)
with ``target: fpga``, ``backend: zcu102-pynq`` and ``method.meter: zcu102-ina226``. Throughput
is end to end on the board: quantise, pack, DMA through the network IP, unpack and stitch, the
same work a satellite would do per scene. Energy counts the PL and PS rails of board.json.

Only a run on the board is a measurement. Against the emulated accelerator (emulate.py: no PL,
the IP's work done on the host) throughput and energy are labelled ``emulated``; rails read
from files other than the kernel's hwmon tree name a test meter (power.meter_name), never
``zcu102-ina226``.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import tempfile
import time

import numpy as np

from tinyicenet_io.fixedpoint import quantize
from tinyicenet_io.iospec import IOSpec
from tinyicenet_io.tiling import TilePlan, extract_tiles, stitch

from .errors import BoardError
from .power import BOARD_METER, PowerLogger, energy_domains, meter_name

BACKEND = "zcu102-pynq"
METER = BOARD_METER


def check_image(image: np.ndarray, spec: IOSpec, source: str = "scene") -> np.ndarray:
    """A float image ``[C, H, W]`` with the io spec's channel count."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != len(spec.channels):
        raise BoardError(f"{source}: image of shape {tuple(image.shape)}, expected "
                         f"[{len(spec.channels)}, H, W] ({', '.join(spec.channels)})")
    if not np.issubdtype(image.dtype, np.floating):
        raise BoardError(f"{source}: image dtype {image.dtype}, expected float32 (z-scored)")
    if image.size == 0 or np.isnan(image).all():
        raise BoardError(f"{source}: image holds no valid pixel")
    return image.astype(np.float32, copy=False)


def scene_logits(image: np.ndarray, spec: IOSpec, accel,
                 plan: TilePlan | None = None) -> np.ndarray:
    """One scene through the accelerator: integer logits ``[K, H, W]`` (LSB 2**e_out)."""
    plan = plan or TilePlan(image.shape[1:], spec.tile, spec.halo, spec.align)
    q = quantize(extract_tiles(image, plan), spec.in_exponent, spec.in_bits)
    return stitch(accel.run(q), plan)


def _median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _window(run_once, seconds: float, clock) -> tuple:
    """Call ``run_once`` until ``seconds`` have passed (at least once): (calls, elapsed)."""
    t0 = clock()
    calls = 0
    while True:
        run_once()
        calls += 1
        elapsed = clock() - t0
        if elapsed >= seconds:
            return calls, elapsed


def benchmark(image: np.ndarray, spec: IOSpec, accel, *, board: dict, power_source=None,
              window_s: float = 10.0, repetitions: int = 3, warmup_s: float = 2.0,
              idle_s: float = 5.0, interval_s: float = 0.02, latency_calls: int = 20,
              device: str = "ZCU102 XCZU9EG", scene_name: str | None = None,
              pixel_spacing_m: float | None = None, commit: str | None = None,
              power_unavailable_reason: str | None = None,
              clock=time.perf_counter, sleep=time.sleep):
    """Measure one scene repeatedly; return ``(result, logits, trace_of_last_window)``."""
    if repetitions < 1 or window_s < 0 or warmup_s < 0 or idle_s < 0:
        raise BoardError("repetitions must be >= 1 and the window, warm-up and idle times >= 0")
    image = check_image(image, spec)
    plan = TilePlan(image.shape[1:], spec.tile, spec.halo, spec.align)
    tiles = len(plan)
    domains = energy_domains(board)
    counted = [r for rails in domains.values() for r in rails]
    if power_source is not None:
        missing = [r for r in counted if r not in power_source.rails]
        if missing:
            raise BoardError(f"rail source ({power_source.meter}) lacks counted rails "
                             f"{', '.join(missing)}; energy would be partial")

    logits = scene_logits(image, spec, accel, plan)  # first call also allocates and warms caches
    def one_scene():
        return scene_logits(image, spec, accel, plan)

    warm_calls, warm_elapsed = _window(one_scene, warmup_s, clock)

    idle_w, idle_trace = None, None
    if power_source is not None and idle_s > 0:
        logger = PowerLogger(power_source, interval_s, clock)
        logger.start()
        sleep(idle_s)
        idle_trace = logger.stop()
        idle_w = idle_trace.mean_w(counted)

    windows, traces = [], []
    for _ in range(repetitions):
        logger = PowerLogger(power_source, interval_s, clock) if power_source is not None else None
        if logger:
            logger.start()
        scenes, elapsed = _window(one_scene, window_s, clock)
        entry = {"elapsed_s": elapsed, "tiles": scenes * tiles, "scenes": scenes,
                 "energy_mj": None, "reason": None}
        if logger:
            trace = logger.stop()
            traces.append(trace)
            mean_w = trace.mean_w(counted)
            entry.update(energy_mj=mean_w * elapsed * 1e3, power_w=mean_w)
        else:
            entry["reason"] = power_unavailable_reason or "no rail source"
        windows.append(entry)

    # the IP alone (DMA + network, no host-side work), pipelined over one buffer of tiles
    n_acc = min(tiles, accel.max_tiles)
    accel_s = accel.run_words(n_acc)
    latencies_ms = [1e3 * t for t in accel.latencies(latency_calls)] if latency_calls else []

    emulated = bool(getattr(accel, "emulated", False))
    meter = meter_name(power_source) if power_source is not None else None
    energy_emulated = emulated or (meter is not None and meter != METER)
    per_scene = [w["elapsed_s"] / w["scenes"] for w in windows]
    scenes_per_s = 1.0 / _median(per_scene)
    result = {
        "schema": "tinyicenet-bench",
        "schema_version": 1,
        "target": "fpga",
        "backend": BACKEND,
        "variant": "pynq-dma",
        "device": device,
        "model": spec.model or "tinyicenet",
        "precision": spec.precision or f"int{spec.in_bits}",
        "tile": [spec.tile, spec.tile],
        "batch": 1,
        "scene": {"pixels": [int(image.shape[1]), int(image.shape[2])],
                  "pixel_spacing_m": pixel_spacing_m, "tiles": tiles, "halo": spec.halo,
                  "name": scene_name},
        "tiles_per_s": scenes_per_s * tiles,
        "scenes_per_s": scenes_per_s,
        "latency_ms": {"p50": float(np.percentile(latencies_ms, 50)) if latencies_ms else None,
                       "p99": float(np.percentile(latencies_ms, 99)) if latencies_ms else None},
        "energy_mj": {"per_tile_gross": None, "per_tile_above_idle": None,
                      "per_scene_gross": None, "per_scene_above_idle": None},
        "power_w": {"average": None, "idle": idle_w},
        "window_s": _median([w["elapsed_s"] for w in windows]),
        "repetitions": repetitions,
        "windows": [{k: v for k, v in w.items() if k != "power_w"} for w in windows],
        "method": {
            "meter": meter,
            "warmup_s": warm_elapsed,
            "idle_s": idle_s if power_source is not None and idle_s > 0 else None,
            "statistic": f"median of {repetitions} windows",
            "rails": counted if power_source is not None else None,
            "notes": [
                "scene = quantise + pack + AXI DMA through the network IP + unpack + stitch on "
                "the A53 (end to end); latency = one tile, send and receive, not pipelined",
                f"accelerator alone (DMA + IP, {n_acc} tiles pipelined): "
                f"{n_acc / accel_s:.3f} tiles/s" if accel_s > 0 else "accelerator alone: n/a",
                f"warm-up {warm_calls} scenes",
            ],
        },
        "provenance": {"throughput": "emulated" if emulated else "measured",
                       "energy": "unavailable",
                       "energy_reason": power_unavailable_reason or "no rail source",
                       "assumptions": [], "verification": None},
        "accelerator_tiles_per_s": n_acc / accel_s if accel_s > 0 else None,
        "commit": commit,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {"name": platform.node(), "machine": platform.machine(),
                 "python": platform.python_version(), "numpy": np.__version__},
    }
    if power_source is not None:
        energy = _median([w["energy_mj"] / w["scenes"] for w in windows])
        above = None if idle_w is None else _median(
            [(w["energy_mj"] - idle_w * w["elapsed_s"] * 1e3) / w["scenes"] for w in windows])
        result["energy_mj"] = {"per_tile_gross": energy / tiles,
                               "per_tile_above_idle": None if above is None else above / tiles,
                               "per_scene_gross": energy, "per_scene_above_idle": above}
        result["power_w"]["average"] = _median([w["power_w"] for w in windows])
        result["provenance"].update(energy="emulated" if energy_emulated else "measured",
                                    energy_reason=None)
        if energy_emulated:
            result["provenance"]["energy_reason"] = (
                "emulated: " + ("no PL ran (emulated accelerator); " if emulated else "")
                + f"rails from {meter}, not the board's INA226s read live")
        result["method"]["notes"].append(
            f"rails read through {power_source.meter} ({meter}) every {interval_s} s in a "
            "thread; energy = time-weighted mean of the summed PL+PS rails x window; transceiver and FMC rails "
            "are not counted (unused by the design)")
        last = traces[-1]
        result["power_breakdown_w"] = {
            "domains": {d: last.mean_w([r for r in rails if r in last.rails])
                        for d, rails in domains.items()},
            "rails": last.rail_means(),
        }
        if idle_trace is not None:
            result["power_breakdown_w"]["idle_domains"] = {
                d: idle_trace.mean_w([r for r in rails if r in idle_trace.rails])
                for d, rails in domains.items()}
        else:
            reason = result["provenance"]["energy_reason"]
            result["provenance"]["energy_reason"] = "; ".join(
                r for r in (reason, "idle power not measured (--idle 0)") if r)
    if emulated:
        result["method"]["notes"].insert(0, (
            "EMULATED: no PL ran; the accelerator is the host-side stand-in "
            "(tinyicenet_zcu102.emulate), so throughput, latency and energy are of the "
            "stand-in, not of the ZCU102"))
        result["provenance"]["assumptions"].append("emulated accelerator (no FPGA)")
    return result, logits, (traces[-1] if traces else None)


def write_atomic(path: str, data, mode: str = "w") -> None:
    """Write text/bytes (or an array with np.save when ``data`` is an ndarray) via rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", suffix=".part" + suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb" if (mode == "wb" or isinstance(data, np.ndarray)) else "w") as fh:
            if isinstance(data, np.ndarray):
                np.save(fh, data)
            else:
                fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

"""Results that come from a model of the hardware, not from a meter: labelled 'modelled'.

Used where a platform cannot be measured here (the FPGA off the board: the HLS design is
verified in C simulation, its throughput comes from the HLS schedule and its power from a
power estimate). Every such result lists its assumptions; the report never shows it as measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tinyicenet.bench.schema import TIMING, blank_result, validate_result
from tinyicenet.bench.sysinfo import commit, host_info, now_iso
from tinyicenet.bench.units import SceneUnit
from tinyicenet.errors import ConfigError


def modelled_result(*, target: str, backend: str, device: str, model: str, precision: str,
                    scene: SceneUnit, tiles_per_s: float, power_w: float | None,
                    assumptions: Sequence[str], method: str, batch: int = 1,
                    idle_power_w: float | None = None, latency_ms: float | None = None,
                    verification: str | None = None, variant: str | None = None,
                    notes: Sequence[str] = (),
                    power_range_w: tuple[float, float] | None = None,
                    energy_model: str | None = None) -> dict[str, Any]:
    """A schema-v1 result whose throughput (and energy, if ``power_w``) are modelled.

    ``power_w`` is the modelled power while running (a power model's nominal value); energy per
    tile = power / tiles_per_s. ``power_range_w`` = (low, high) of that model gives
    ``energy_mj_range`` and ``power_w.low/high``; ``energy_model`` names the model.
    """
    if not assumptions:
        raise ConfigError("a modelled result needs its assumptions")
    if not tiles_per_s > 0:
        raise ConfigError(f"modelled throughput {tiles_per_s} tiles/s: must be > 0")
    result = blank_result(target=target, backend=backend, device=device, model=model,
                          precision=precision, tile=scene.tile, batch=batch,
                          scene=scene.to_dict(), variant=variant,
                          timing=TIMING)   # a streaming design fed back to back
    result["tiles_per_s"] = float(tiles_per_s)
    result["scenes_per_s"] = tiles_per_s / scene.tiles
    if latency_ms is not None:
        result["latency_ms"] = {"p50": latency_ms, "p99": latency_ms}
    result["repetitions"] = 0
    result["method"].update(meter=method, statistic="model, no repetitions",
                            notes=list(notes))
    prov = result["provenance"]
    prov.update(throughput="modelled", assumptions=list(assumptions),
                verification=verification)
    if power_w is not None:
        per_tile = power_w / tiles_per_s * 1e3
        result["energy_mj"]["per_tile_gross"] = per_tile
        result["energy_mj"]["per_scene_gross"] = per_tile * scene.tiles
        if idle_power_w is not None:
            above = (power_w - idle_power_w) / tiles_per_s * 1e3
            result["energy_mj"]["per_tile_above_idle"] = above
            result["energy_mj"]["per_scene_above_idle"] = above * scene.tiles
        result["power_w"] = {"average": power_w, "idle": idle_power_w}
        if power_range_w is not None:
            low, high = (float(v) for v in power_range_w)
            if not 0 <= low <= power_w <= high:
                raise ConfigError(f"modelled power range ({low:g}, {high:g}) W does not "
                                  f"bracket the nominal {power_w:g} W")
            result["power_w"].update(low=low, high=high)
            result["energy_mj_range"] = {
                "per_tile": {"low": low / tiles_per_s * 1e3, "high": high / tiles_per_s * 1e3},
                "per_scene": {"low": low / tiles_per_s * 1e3 * scene.tiles,
                              "high": high / tiles_per_s * 1e3 * scene.tiles}}
        prov.update(energy="modelled", energy_reason=None)
        if energy_model:
            prov["energy_model"] = energy_model
    else:
        prov.update(energy="unavailable", energy_reason="no power model")
    result.update(commit=commit(), date=now_iso(), host=host_info())
    return validate_result(result, f"modelled {target} result", new=True)

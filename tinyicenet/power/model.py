"""Power of a Zynq UltraScale+ design from its resources and clock (modelled, with a range).

P = P_static,PL(part) + sum_r n_r * c_r * f_MHz * (activity / reference toggle rate) + P_PS

with every coefficient a (low, nominal, high) triple read from ``zynq_ultrascale_plus.json``
(sources beside each value). ``low`` sums the low ends and the lowest activity, ``high`` the high
ends and the highest: a bound of the stated uncertainties, not a confidence interval.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyicenet.errors import ConfigError

COEFFICIENTS_PATH = Path(__file__).with_name("zynq_ultrascale_plus.json")
#: Resource keys the model prices; ``bram18`` counts as half a ``bram36``.
RESOURCES = ("lut", "ff", "bram36", "uram", "dsp")
#: Keys of FINN's resource estimates that are not resource counts (skipped, not refused).
NOT_COUNTS = ("bram_efficiency", "uram_efficiency")
LEVELS = ("low", "nominal", "high")


@functools.lru_cache(maxsize=4)
def load_coefficients(path: str | None = None) -> dict[str, Any]:
    """The coefficient table (with its sources)."""
    p = Path(path) if path else COEFFICIENTS_PATH
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{p}: unreadable power coefficients ({exc})") from None
    return data


def model_name(coefficients: Mapping[str, Any] | None = None) -> str:
    """``name vVERSION`` of the power model (``provenance.energy_model``)."""
    c = coefficients or load_coefficients()
    return f"{c['model']} v{c['version']}"


@dataclass(frozen=True)
class Triple:
    low: float
    nominal: float
    high: float

    def __add__(self, other: "Triple") -> "Triple":
        return Triple(self.low + other.low, self.nominal + other.nominal,
                      self.high + other.high)

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "nominal": self.nominal, "high": self.high}


ZERO = Triple(0.0, 0.0, 0.0)


@dataclass
class PowerEstimate:
    """Modelled power in W: total (PL, plus PS when included), its parts and assumptions."""

    low: float
    nominal: float
    high: float
    model: str
    pl: Triple
    ps: Triple
    static_pl: Triple
    dynamic_pl: Triple
    include_ps: bool
    part: str
    clock_mhz: float
    activity: Triple
    dynamic_by_resource: dict[str, Triple] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    @property
    def idle(self) -> Triple:
        """Power with the PL clock stopped: PL static (+ PS when included)."""
        return self.static_pl + (self.ps if self.include_ps else ZERO)

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "nominal": self.nominal, "high": self.high,
                "model": self.model, "part": self.part, "clock_mhz": self.clock_mhz,
                "include_ps": self.include_ps, "pl": self.pl.to_dict(),
                "ps": self.ps.to_dict(), "static_pl": self.static_pl.to_dict(),
                "dynamic_pl": self.dynamic_pl.to_dict(), "idle": self.idle.to_dict(),
                "activity": self.activity.to_dict(),
                "dynamic_by_resource": {k: v.to_dict()
                                        for k, v in self.dynamic_by_resource.items()},
                "assumptions": list(self.assumptions)}


def _triple(entry: Mapping[str, Any], what: str) -> Triple:
    try:
        t = Triple(float(entry["low"]), float(entry["nominal"]), float(entry["high"]))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"power coefficients: {what} needs numeric low/nominal/high") from None
    if not 0 <= t.low <= t.nominal <= t.high:
        raise ConfigError(f"power coefficients: {what} must satisfy 0 <= low <= nominal <= high")
    return t


def _normalise(resources: Mapping[str, float]) -> dict[str, float]:
    """Lower-case keys; ``bram18``/``bram_18k`` folded into ``bram36``; unknown keys refused."""
    out = dict.fromkeys(RESOURCES, 0.0)
    for key, value in resources.items():
        k = key.lower()
        if k in NOT_COUNTS:
            continue
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"power model: resource {key!r} = {value!r} is not a number") \
                from None
        if v < 0:
            raise ConfigError(f"power model: resource {key!r} = {v:g} is negative")
        if k in ("bram18", "bram_18k"):
            out["bram36"] += v / 2
        elif k in ("bram", "bram36"):
            out["bram36"] += v
        elif k in out:
            out[k] += v
        else:
            raise ConfigError(f"power model: unknown resource {key!r} "
                              f"(known: {', '.join(RESOURCES)}, bram18)")
    return out


def _unsourced_note(c: Mapping[str, Any]) -> str:
    """One line naming the coefficients that have no public source (from the table)."""
    names = list(c.get("unsourced", {}).get("coefficients", []))
    where = "coefficients and sources: tinyicenet/power/zynq_ultrascale_plus.json"
    if not names:
        return f"every coefficient cites a public source ({where})"
    return (f"coefficients without a public source (engineering estimates with wide ranges): "
            f"{', '.join(names)}; static PL power scaled with device capacity from an AMD "
            f"figure ({where})")


def estimate(resources: Mapping[str, float], clock_mhz: float, *, part: str = "xczu9eg",
             activity: float | None = None, include_ps: bool = True,
             ff_per_lut: float | tuple[float, float, float] | None = None,
             coefficients: Mapping[str, Any] | None = None) -> PowerEstimate:
    """Modelled power of a design using ``resources`` (lut, ff, bram36|bram18, uram, dsp) at
    ``clock_mhz`` on ``part``.

    ``activity`` is the average toggle rate (0..1); None uses the table's range around the XPE
    default of 12.5 %. ``include_ps`` adds the processing system (the ZCU102 board flow runs
    the driver and DMA on it); the PL-only figure is always in ``.pl``. Estimators that give no
    flip-flop count (FINN) pass ``ff_per_lut`` (one ratio or low/nominal/high) so that
    FF = ratio x LUT; without it a missing FF count is priced as zero and the assumptions say so.
    """
    c = coefficients or load_coefficients()
    if not clock_mhz >= 0:
        raise ConfigError(f"power model: clock {clock_mhz!r} MHz must be >= 0")
    parts = c["parts"]
    if part.lower() not in parts:
        raise ConfigError(f"power model: unknown part {part!r} (known: {', '.join(parts)})")
    spec = parts[part.lower()]
    counts = _normalise(resources)
    has_ff = any(k.lower() == "ff" for k in resources)
    if ff_per_lut is None or has_ff:
        ff_ratio = None
    else:
        r = (ff_per_lut,) * 3 if isinstance(ff_per_lut, (int, float)) else tuple(ff_per_lut)
        if len(r) != 3 or not 0 <= r[0] <= r[1] <= r[2]:
            raise ConfigError(f"power model: ff_per_lut {ff_per_lut!r} must be a ratio >= 0 "
                              "or (low, nominal, high) in order")
        ff_ratio = Triple(*(float(v) for v in r))
    for k, n in counts.items():
        cap = spec.get(k)
        if cap is not None and n > cap:
            raise ConfigError(f"power model: {n:g} {k} exceed {part}'s {cap:g}")
    ref = float(c["reference_toggle_rate"]["value"])
    if activity is None:
        act = _triple(c["activity_range"], "activity_range")
    else:
        if not 0 <= activity <= 1:
            raise ConfigError(f"power model: activity {activity!r} must be in 0..1")
        act = Triple(activity, activity, activity)
    scale = Triple(act.low / ref, act.nominal / ref, act.high / ref)

    per_lut = _triple(c["static_pl"]["w_per_lut_capacity"], "static_pl")
    lut_cap = float(spec["lut"])
    static = Triple(per_lut.low * lut_cap, per_lut.nominal * lut_cap, per_lut.high * lut_cap)

    by_res: dict[str, Triple] = {}
    dynamic = ZERO
    for k in RESOURCES:
        coef = _triple(c["dynamic_uw_per_mhz"][k], f"dynamic {k}")
        n = {lv: counts[k] for lv in LEVELS}
        if k == "ff" and ff_ratio is not None:
            n = {lv: getattr(ff_ratio, lv) * counts["lut"] for lv in LEVELS}
        t = Triple(*(1e-6 * n[lv] * getattr(coef, lv) * clock_mhz * getattr(scale, lv)
                     for lv in LEVELS))
        by_res[k] = t
        dynamic = dynamic + t
    pl = static + dynamic
    ps = _triple(c["ps"]["w"], "ps") if include_ps else ZERO
    total = pl + ps
    name = model_name(c)
    assumptions = [
        f"power model {name}: PL static ({part}, {static.nominal:.2f} W nominal, "
        f"{static.low:.2f}-{static.high:.2f} W) + PL dynamic from the design's modelled "
        f"resources at {clock_mhz:g} MHz, toggle rate {act.nominal:.3g} "
        f"({act.low:.3g}-{act.high:.3g})"
        + (f" + PS {ps.nominal:.1f} W ({ps.low:.1f}-{ps.high:.1f} W)" if include_ps else
           ", PS not included"),
        ("FF count not given: FF = "
         f"{ff_ratio.nominal:g} x LUT ({ff_ratio.low:g}-{ff_ratio.high:g})" if ff_ratio else
         "FF count as given" if has_ff else "FF count not given: FF power counted as zero"),
        _unsourced_note(c),
    ]
    return PowerEstimate(low=total.low, nominal=total.nominal, high=total.high, model=name,
                         pl=pl, ps=ps, static_pl=static, dynamic_pl=dynamic,
                         include_ps=include_ps, part=part.lower(), clock_mhz=float(clock_mhz),
                         activity=act, dynamic_by_resource=by_res, assumptions=assumptions)

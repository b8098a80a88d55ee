"""Check the FPGA power model (tinyicenet.power) against published Zynq UltraScale+ designs.

Reads the checked-in table ``bench/fpga_power_designs.json`` (each design: citation, part, clocks,
published resources, what its published power covers), predicts each design's power with the
model (low / nominal / high; PS included when the published figure covers it) and writes
``bench/results/fpga_power_validation.json`` with the error of the nominal, whether the published
figure falls inside [low, high], the model's name, machine, date and commit.

The model's coefficients were fixed before this was first run and are not tuned to it. Run::

    python bench/validate_fpga_power.py
    python bench/validate_fpga_power.py --table other.json --out /tmp/check.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TABLE = HERE / "fpga_power_designs.json"
OUT = HERE / "results" / "fpga_power_validation.json"
LEVELS = ("low", "nominal", "high")


def predict(design: dict[str, Any]) -> dict[str, Any]:
    """The model's (low, nominal, high) power for one published design."""
    from tinyicenet.errors import ConfigError
    from tinyicenet.power import estimate

    try:
        res = dict(design["resources"])
        clock = float(design["clock_mhz"])
        part = design["part"]
        include_ps = "PS" in design["power_covers"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{design.get('name', '?')}: incomplete design entry ({exc})") from None
    fast = float(design.get("dsp_on_fast_clock", 0))
    fast_clock = float(design.get("dsp_fast_clock_mhz", clock))
    ratio = design.get("ff_per_lut")
    ff_per_lut = tuple(float(ratio[lv]) for lv in LEVELS) if ratio else None
    res["dsp"] = float(res.get("dsp", 0)) - fast
    base = estimate(res, clock, part=part, include_ps=include_ps, ff_per_lut=ff_per_lut)
    extra = estimate({"dsp": fast}, fast_clock, part=part, include_ps=False).dynamic_pl
    out = {lv: getattr(base, lv) + getattr(extra, lv) for lv in LEVELS}
    model, assumptions = base.model, base.assumptions
    return {"low": out["low"], "nominal": out["nominal"], "high": out["high"],
            "model": model, "include_ps": include_ps, "assumptions": assumptions}


def validate(table: dict[str, Any]) -> dict[str, Any]:
    """The validation record for every design of ``table``."""
    from tinyicenet.errors import ConfigError

    designs = table.get("designs")
    if not isinstance(designs, list) or not designs:
        raise ConfigError("power validation table: no 'designs' list")
    rows = []
    for d in designs:
        p = predict(d)
        published = float(d["published_w"])
        rows.append({
            "name": d["name"], "source": d["source"], "part": d["part"],
            "clock_mhz": d["clock_mhz"], "dsp_fast_clock_mhz": d.get("dsp_fast_clock_mhz"),
            "resources": d["resources"], "imputed": d.get("imputed"),
            "power_covers": d["power_covers"], "published_w": published,
            "predicted_w": {k: p[k] for k in LEVELS}, "includes_ps": p["include_ps"],
            "error_pct": 100.0 * (p["nominal"] - published) / published,
            "published_within_range": p["low"] <= published <= p["high"],
        })
    errors = [abs(r["error_pct"]) for r in rows]
    return {"model": p["model"], "designs": rows,
            "summary": {"designs": len(rows),
                        "mean_abs_error_pct": statistics.fmean(errors),
                        "max_abs_error_pct": max(errors),
                        "published_within_range": sum(r["published_within_range"]
                                                      for r in rows),
                        "tuned_on": "none: coefficients fixed before this validation"},
            "about_the_references": table.get("about", "")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--quiet", "-q", action="store_true")
    args = ap.parse_args(argv)

    from tinyicenet.atomic import write_text
    from tinyicenet.bench.sysinfo import commit, host_info, now_iso
    from tinyicenet.errors import ConfigError, TinyIceNetError

    try:
        try:
            table = json.loads(args.table.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.table}: unreadable design table ({exc})") from None
        record = {"schema": "tinyicenet-fpga-power-validation", "schema_version": 1,
                  "provenance": "modelled power vs published figures",
                  "table": args.table.name, **validate(table),
                  "commit": commit(), "date": now_iso(), "host": host_info()}
    except TinyIceNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    write_text(args.out, json.dumps(record, indent=1) + "\n")
    if not args.quiet:
        for r in record["designs"]:
            p = r["predicted_w"]
            print(f"{r['name']}: published {r['published_w']:.2f} W, predicted "
                  f"{p['nominal']:.2f} W ({p['low']:.2f}-{p['high']:.2f}), "
                  f"error {r['error_pct']:+.0f} %")
        print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check the FPGA power model (tinyicenet.power) against published Zynq UltraScale+ designs.

Reads the checked-in table ``bench/fpga_power_designs.json`` (each design: citation, part, clocks,
published resources, what its published power covers), predicts each design's power with the
model (low / nominal / high; PS included when the published figure covers it) and writes
``bench/results/fpga_power_validation.json`` with the error of the nominal, whether the published
figure falls inside [low, high], the model's name, machine, date and commit.

Each design says whether its published power is ``measured`` or an ``estimate`` and whether any
coefficient was ``fit`` to it; the summary reports the error on measured designs that were not fit
(held out) apart from the rest, and whether the three held-out measured designs the validation
needs are there (a warning says when they are not). Run::

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
KINDS = ("measured", "estimate")
#: Held-out measured designs the validation needs (issue: "at least three published designs").
NEEDED_MEASURED = 3


def predict(design: dict[str, Any]) -> dict[str, Any]:
    """The model's (low, nominal, high) power for one published design."""
    from tinyicenet.errors import ConfigError
    from tinyicenet.power import estimate

    try:
        res = dict(design["resources"])
        clock = float(design["clock_mhz"])
        part = design["part"]
        # an explicit flag wins; older tables said so in the prose of power_covers
        include_ps = bool(design.get("includes_ps", "PS" in design["power_covers"]))
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


def _errors(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Count, mean and max |error| and how many fall inside the range, for ``rows``."""
    errors = [abs(r["error_pct"]) for r in rows]
    return {"designs": len(rows),
            "mean_abs_error_pct": statistics.fmean(errors) if errors else None,
            "max_abs_error_pct": max(errors) if errors else None,
            "published_within_range": sum(r["published_within_range"] for r in rows)}


def validate(table: dict[str, Any]) -> dict[str, Any]:
    """The validation record for every design of ``table``."""
    from tinyicenet.errors import ConfigError

    designs = table.get("designs")
    if not isinstance(designs, list) or not designs:
        raise ConfigError("power validation table: no 'designs' list")
    rows = []
    for d in designs:
        kind = d.get("reference_kind")
        if kind not in KINDS:
            raise ConfigError(f"{d.get('name', '?')}: reference_kind must be one of "
                              f"{', '.join(KINDS)} (got {kind!r})")
        p = predict(d)
        published = float(d["published_w"])
        rows.append({
            "name": d["name"], "source": d["source"], "part": d["part"],
            "clock_mhz": d["clock_mhz"], "dsp_fast_clock_mhz": d.get("dsp_fast_clock_mhz"),
            "resources": d["resources"], "imputed": d.get("imputed"),
            "power_covers": d["power_covers"], "reference_kind": kind,
            "fit": bool(d.get("fit", False)), "published_w": published,
            "predicted_w": {k: p[k] for k in LEVELS}, "includes_ps": p["include_ps"],
            "error_pct": 100.0 * (p["nominal"] - published) / published,
            "published_within_range": p["low"] <= published <= p["high"],
        })
    held_out = [r for r in rows if r["reference_kind"] == "measured" and not r["fit"]]
    fit = [r["name"] for r in rows if r["fit"]]
    return {"model": p["model"], "designs": rows,
            "summary": {**_errors(rows),
                        "measured_held_out": _errors(held_out),
                        "measured_fit": sum(r["reference_kind"] == "measured" and r["fit"]
                                            for r in rows),
                        "estimates": _errors([r for r in rows
                                              if r["reference_kind"] == "estimate"]),
                        "measured_held_out_needed": NEEDED_MEASURED,
                        "validation_complete": len(held_out) >= NEEDED_MEASURED,
                        "fit_on": fit,
                        "tuned_on": ", ".join(fit) if fit else
                        "none: coefficients fixed before this validation"},
            "about_the_references": table.get("about", ""),
            "candidates_not_used": table.get("candidates_not_used", [])}


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
    summary = record["summary"]
    if not summary["validation_complete"]:
        print(f"warning: {summary['measured_held_out']['designs']} held-out measured design(s) "
              f"in {args.table.name}, {NEEDED_MEASURED} needed: the power model is not yet "
              "validated against measurements", file=sys.stderr)
    if not args.quiet:
        for r in record["designs"]:
            p = r["predicted_w"]
            print(f"{r['name']} ({r['reference_kind']}{', fit' if r['fit'] else ''}): "
                  f"published {r['published_w']:.2f} W, predicted "
                  f"{p['nominal']:.2f} W ({p['low']:.2f}-{p['high']:.2f}), "
                  f"error {r['error_pct']:+.0f} %")
        print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check the FPGA power model (tinyicenet.power) against published Zynq UltraScale+ designs.

Reads the checked-in table ``bench/fpga_power_designs.json`` (each design: citation, part, clocks,
published resources, what its published power covers), predicts each design's power with the
model (low / nominal / high; PS included when the published figure covers it) and writes
``bench/results/fpga_power_validation.json`` with the error of the nominal, whether the published
figure falls inside [low, high], the model's name, machine, date and commit.

Each design says whether its published power is ``measured`` or an ``estimate`` and whether any
coefficient was ``fit`` to it; the summary reports the error on measured designs that were not fit
(held out) apart from the rest, and whether the three held-out measured designs the validation
needs are there (a warning says when they are not).

It also reads ``bench/fpga_power_vendor_reports.json`` (AMD Vivado report_power outputs from public
repositories): ``derive_coefficients`` gives the coefficient table's values from the reports
marked ``fit_for``, and the record's ``vendor_reports`` section compares the model with every
report per category (LUT + signals, FF + clocks, BRAM, DSP, PL static, PS), the categories not
fitted on a report being its held-out check. Run::

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
REPORTS = HERE / "fpga_power_vendor_reports.json"
OUT = HERE / "results" / "fpga_power_validation.json"
LEVELS = ("low", "nominal", "high")
KINDS = ("measured", "estimate")
#: Held-out measured designs the validation needs (issue: "at least three published designs").
NEEDED_MEASURED = 3
#: Report rows that are LUT power (a LUT's share of routing, "Signals", included) and FF power
#: (the clock tree, "Clocks", included): the model has no separate signal or clock term.
LUT_ROWS = ("lut_logic", "lut_srl", "lut_dram", "carry", "signals")
FF_ROWS = ("register", "clocks")
LUT_COUNTS = ("lut_logic", "lut_srl", "lut_dram")
#: A DSP/BRAM row is used for a coefficient only when the design has at least this many of them
#: (one DSP at "<0.001 W" bounds nothing).
MIN_COUNT = 10
#: Ranges around the mean of the fitted reports' values. Dynamic: the lowest to the highest value
#: when two or more reports were fitted (their spread), x0.5 / x2 of the one value otherwise.
#: Static: x0.8 of the lowest (cool, typical part) to x2 of the highest (hot junction; every
#: report is at 28-32 C). PS: x0.5 of the lowest (APU mostly idle, below Vivado's default PS
#: activity) to x1.25 of the highest.
SPREAD = {"dynamic": (1.0, 1.0), "single": (0.5, 2.0), "static_pl": (0.8, 2.0), "ps": (0.5, 1.25)}


def report_values(report: dict[str, Any]) -> dict[str, list[float]]:
    """Per-unit values one vendor report gives: uW per (unit x MHz) for lut/ff/bram36/dsp at the
    report's clock(s), W per LUT of capacity for PL static, W for the PS (PS8 row + PS static)."""
    rows, used = report["rows_w"], report["used"]
    clocks = [float(report["clock_mhz"])] + ([float(report["clock_mhz_alt"])]
                                             if "clock_mhz_alt" in report else [])
    per = lambda w, n: [1e6 * w / n / f for f in clocks]  # noqa: E731
    out: dict[str, list[float]] = {}
    luts = sum(used[k] for k in LUT_COUNTS)
    if luts:
        out["lut"] = per(sum(rows[k] for k in LUT_ROWS), luts)
    if used["register"]:
        out["ff"] = per(sum(rows[k] for k in FF_ROWS), used["register"])
    for key, row in (("bram36", "bram"), ("dsp", "dsp"), ("uram", "uram")):
        if used.get(key, 0) >= MIN_COUNT:
            out[key] = per(rows[row], used[key])
    out["static_pl"] = [rows["pl_static"] / float(report["lut_capacity"])]
    out["ps"] = [rows["ps8"] + rows["ps_static"]]
    return out


def derive_coefficients(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """(low, nominal, high) per coefficient from the reports whose ``fit_for`` names it."""
    pooled: dict[str, list[float]] = {}
    sources: dict[str, list[str]] = {}
    for r in reports:
        values = report_values(r)
        for key in r.get("fit_for", []):
            if key in values:
                pooled.setdefault(key, []).extend(values[key])
                sources.setdefault(key, []).append(f"{r['repo']}:{r['path']}@{r['commit'][:12]}")
    out = {}
    for key, vals in pooled.items():
        single = SPREAD["single"] if len(sources[key]) < 2 else SPREAD["dynamic"]
        lo, hi = SPREAD.get(key, single)
        out[key] = {"low": lo * min(vals), "nominal": statistics.fmean(vals),
                    "high": hi * max(vals), "values": vals, "reports": sources[key]}
    return out


def check_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The model (nominal, at the reports' 12.5 % default toggle rate) against each vendor
    report, per priced category, with fit and held-out errors apart."""
    from tinyicenet.power import estimate

    rows_out = []
    for r in reports:
        used, rows = r["used"], r["rows_w"]
        res = {"lut": sum(used[k] for k in LUT_COUNTS), "ff": used["register"],
               "bram36": used.get("bram36", 0), "uram": used.get("uram", 0),
               "dsp": used.get("dsp", 0)}
        e = estimate(res, float(r["clock_mhz"]), part=r["part"], activity=0.125,
                     include_ps=True)
        d = e.dynamic_by_resource
        pairs = {"lut": (d["lut"].nominal, sum(rows[k] for k in LUT_ROWS)),
                 "ff": (d["ff"].nominal, sum(rows[k] for k in FF_ROWS)),
                 "bram36": (d["bram36"].nominal, rows["bram"]),
                 "dsp": (d["dsp"].nominal, rows["dsp"]),
                 "static_pl": (e.static_pl.nominal, rows["pl_static"]),
                 "ps": (e.ps.nominal, rows["ps8"] + rows["ps_static"])}
        priced = sum(v[1] for v in pairs.values())
        model = sum(v[0] for v in pairs.values())
        fit_for = set(r.get("fit_for", []))
        held = [k for k in pairs if k not in fit_for and pairs[k][1] > 0.001]
        rows_out.append({
            "name": r["name"], "repo": r["repo"], "path": r["path"], "commit": r["commit"],
            "part": r["part"], "clock_mhz": r["clock_mhz"], "confidence": r["confidence"],
            "fit_for": sorted(fit_for), "held_out_for": held,
            "categories_w": {k: {"model": m, "report": v,
                                 "error_pct": 100.0 * (m - v) / v if v > 0.001 else None}
                             for k, (m, v) in pairs.items()},
            "priced_total_w": {"model": model, "report": priced,
                               "error_pct": 100.0 * (model - priced) / priced},
            "not_priced_w": rows["io_other"], "report_total_w": rows["total"],
            "held_out_total_w": {"model": sum(pairs[k][0] for k in held),
                                 "report": sum(pairs[k][1] for k in held)},
        })
    for row in rows_out:
        h = row["held_out_total_w"]
        h["error_pct"] = 100.0 * (h["model"] - h["report"]) / h["report"] if h["report"] else None
    fit_err = [abs(c["error_pct"]) for row in rows_out for k, c in row["categories_w"].items()
               if k in row["fit_for"] and c["error_pct"] is not None]
    held_err = [abs(row["categories_w"][k]["error_pct"]) for row in rows_out
                for k in row["held_out_for"]]
    return {"reports": rows_out, "summary": {
        "reports": len(rows_out),
        "fit_categories_mean_abs_error_pct": statistics.fmean(fit_err) if fit_err else None,
        "held_out_categories": sum(len(r["held_out_for"]) for r in rows_out),
        "held_out_categories_mean_abs_error_pct": statistics.fmean(held_err) if held_err
        else None,
        "held_out_categories_max_abs_error_pct": max(held_err) if held_err else None}}


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
                        "none of these designs: the coefficients come from the vendor reports "
                        "(section vendor_reports), fixed before this check"},
            "about_the_references": table.get("about", ""),
            "candidates_not_used": table.get("candidates_not_used", [])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--reports", type=Path, default=REPORTS)
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
        try:
            vendor = json.loads(args.reports.read_text())["reports"]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{args.reports}: unreadable vendor power reports ({exc})") from None
        try:
            vendor_check = {"about": "AMD Vivado report_power estimates (not measurements); "
                            "coefficients derived from them, and each report's categories "
                            "not used for a coefficient kept as a held-out check",
                            "table": args.reports.name,
                            "derived_coefficients": derive_coefficients(vendor),
                            **check_reports(vendor)}
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise ConfigError(f"{args.reports}: incomplete report entry ({exc})") from None
        record = {"schema": "tinyicenet-fpga-power-validation", "schema_version": 1,
                  "provenance": "modelled power vs published figures",
                  "table": args.table.name, **validate(table),
                  "vendor_reports": vendor_check,
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
        vs = record["vendor_reports"]["summary"]
        print(f"vendor reports: {vs['reports']}, fit categories mean |error| "
              f"{vs['fit_categories_mean_abs_error_pct']:.0f} %, held-out categories "
              f"{vs['held_out_categories']} mean |error| "
              f"{vs['held_out_categories_mean_abs_error_pct']:.0f} %")
        print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

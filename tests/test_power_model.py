"""Mechanics of the FPGA power model (tinyicenet.power) on hand-computed cases.

No test here asserts that the model predicts any published design's power: the coefficients are
modelled, and the validation against published designs lives in bench/results.
"""

from __future__ import annotations

import copy

import pytest

from tinyicenet.errors import ConfigError
from tinyicenet.power import estimate, load_coefficients


def _table(**dyn: tuple[float, float, float]) -> dict:
    """A small coefficient table: static 1 uW per LUT of capacity (x1/x2), PS 1/2/3 W."""
    zero = {"low": 0.0, "nominal": 0.0, "high": 0.0}
    table = {
        "model": "test-power", "version": 7,
        "reference_toggle_rate": {"value": 0.125},
        "activity_range": {"low": 0.0625, "nominal": 0.125, "high": 0.25},
        "static_pl": {"w_per_lut_capacity": {"low": 1e-6, "nominal": 1e-6, "high": 2e-6}},
        "dynamic_uw_per_mhz": {k: dict(zero) for k in ("lut", "ff", "bram36", "uram", "dsp")},
        "ps": {"w": {"low": 1.0, "nominal": 2.0, "high": 3.0}},
        "parts": {"tiny": {"lut": 100_000, "ff": 200_000, "bram36": 100, "dsp": 100}},
    }
    for k, (lo, nom, hi) in dyn.items():
        table["dynamic_uw_per_mhz"][k] = {"low": lo, "nominal": nom, "high": hi}
    return table


def test_1000_luts_at_100_mhz_by_hand():
    table = _table(lut=(0.02, 0.04, 0.08))
    e = estimate({"lut": 1000}, 100.0, part="tiny", activity=0.125, include_ps=False,
                 coefficients=table)
    static = 100_000 * 1e-6                                   # 0.1 W
    dyn = 1000 * 0.04e-6 * 100 * (0.125 / 0.125)             # 4 mW
    assert e.static_pl.nominal == pytest.approx(static)
    assert e.dynamic_pl.nominal == pytest.approx(dyn)
    assert e.nominal == pytest.approx(static + dyn)
    assert e.low == pytest.approx(static + 1000 * 0.02e-6 * 100)
    assert e.high == pytest.approx(2 * static + 1000 * 0.08e-6 * 100)
    assert e.model == "test-power v7"


def test_activity_scales_dynamic_linearly_and_default_range_widens_it():
    table = _table(dsp=(1.0, 1.0, 1.0))
    at = {a: estimate({"dsp": 10}, 200.0, part="tiny", activity=a, include_ps=False,
                      coefficients=table).dynamic_pl.nominal for a in (0.125, 0.25)}
    assert at[0.25] == pytest.approx(2 * at[0.125]) and at[0.125] == pytest.approx(2e-3)
    default = estimate({"dsp": 10}, 200.0, part="tiny", include_ps=False, coefficients=table)
    assert default.dynamic_pl.low == pytest.approx(at[0.125] / 2)
    assert default.dynamic_pl.high == pytest.approx(at[0.25])


def test_zero_resources_give_the_static_power_and_ps_adds_its_own():
    table = _table(lut=(1.0, 1.0, 1.0))
    pl = estimate({}, 300.0, part="tiny", include_ps=False, coefficients=table)
    assert (pl.low, pl.nominal, pl.high) == pytest.approx((0.1, 0.1, 0.2))
    both = estimate({}, 300.0, part="tiny", include_ps=True, coefficients=table)
    assert (both.low, both.nominal, both.high) == pytest.approx((1.1, 2.1, 3.2))
    assert both.pl == pl.pl and both.idle.nominal == pytest.approx(2.1)


def test_doubling_the_clock_doubles_only_the_dynamic_part():
    res = {"lut": 50_000, "ff": 80_000, "bram36": 40, "dsp": 30}
    one = estimate(res, 100.0)
    two = estimate(res, 200.0)
    assert two.static_pl == one.static_pl and two.ps == one.ps
    for lv in ("low", "nominal", "high"):
        assert getattr(two.dynamic_pl, lv) == pytest.approx(2 * getattr(one.dynamic_pl, lv))


def test_range_is_ordered_and_pl_only_is_below_pl_plus_ps():
    res = {"lut": 160_000, "ff": 90_000, "bram18": 70, "dsp": 0}
    both = estimate(res, 200.0, include_ps=True)
    pl = estimate(res, 200.0, include_ps=False)
    assert both.low <= both.nominal <= both.high
    assert pl.low <= pl.nominal <= pl.high
    assert pl.nominal < both.nominal and pl.nominal == pytest.approx(both.pl.nominal)
    assert both.nominal == pytest.approx(both.pl.nominal + both.ps.nominal)
    # bram18 counts as half a bram36
    half = estimate({"bram36": 35}, 200.0, include_ps=False)
    assert estimate({"bram18": 70}, 200.0, include_ps=False).nominal == pytest.approx(
        half.nominal)
    assert both.model == f"{load_coefficients()['model']} v{load_coefficients()['version']}"


def test_every_coefficient_entry_states_its_basis_or_source():
    c = load_coefficients()
    for entry in [c["reference_toggle_rate"], c["activity_range"], c["static_pl"], c["ps"],
                  *c["dynamic_uw_per_mhz"].values()]:
        assert entry.get("source") or entry.get("basis")
    for name, part in c["parts"].items():
        assert part.get("source") and part["lut"] > 0, name


@pytest.mark.parametrize("resources, kwargs, words", [
    ({"lut": -1}, {}, "negative"),
    ({"lutz": 5}, {}, "unknown resource"),
    ({"lut": "many"}, {}, "not a number"),
    ({"lut": 10**7}, {}, "exceed"),
    ({}, {"part": "xc7z020"}, "unknown part"),
    ({}, {"activity": 1.5}, "activity"),
])
def test_bad_inputs_raise_one_line_config_errors(resources, kwargs, words):
    with pytest.raises(ConfigError, match=words) as info:
        estimate(resources, 100.0, **kwargs)
    assert "\n" not in str(info.value)


def test_a_coefficient_table_out_of_order_is_refused():
    table = copy.deepcopy(_table(lut=(1.0, 1.0, 1.0)))
    table["dynamic_uw_per_mhz"]["lut"] = {"low": 2.0, "nominal": 1.0, "high": 3.0}
    with pytest.raises(ConfigError, match="low <= nominal <= high"):
        estimate({"lut": 1}, 1.0, part="tiny", coefficients=table)


def _validator():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "validate_fpga_power.py"
    spec = importlib.util.spec_from_file_location("validate_fpga_power", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_validation_script_runs_on_its_checked_in_table(tmp_path):
    import json

    v = _validator()
    out = tmp_path / "val.json"
    assert v.main(["--out", str(out), "-q"]) == 0
    rec = json.loads(out.read_text())
    table = json.loads(v.TABLE.read_text())
    assert rec["schema"] == "tinyicenet-fpga-power-validation" and rec["model"]
    assert rec["commit"] and rec["date"] and rec["host"]
    assert len(rec["designs"]) == len(table["designs"]) >= 3
    for row, src in zip(rec["designs"], table["designs"]):
        assert row["reference_kind"] == src["reference_kind"] in ("measured", "estimate")
        p = row["predicted_w"]
        assert row["source"] == src["source"] and row["published_w"] == src["published_w"]
        assert p["low"] <= p["nominal"] <= p["high"] and row["power_covers"]
        assert row["error_pct"] == pytest.approx(
            100 * (p["nominal"] - row["published_w"]) / row["published_w"])
        assert row["published_within_range"] == (p["low"] <= row["published_w"] <= p["high"])
    assert rec["summary"]["designs"] == len(rec["designs"])


def test_validation_prices_a_fast_dsp_clock_and_leaves_the_ps_out_of_pl_only_figures(tmp_path):
    v = _validator()
    pl_only = {"name": "x", "part": "xczu9eg", "clock_mhz": 100.0, "power_covers": "PL rails",
               "resources": {"lut": 1000, "ff": 1000, "dsp": 10}, "published_w": 1.0}
    fast = dict(pl_only, dsp_on_fast_clock=10, dsp_fast_clock_mhz=200.0)
    a, b = v.predict(pl_only), v.predict(fast)
    dsp_100 = estimate({"dsp": 10}, 100.0, include_ps=False).dynamic_pl.nominal
    assert not a["include_ps"] and b["nominal"] - a["nominal"] == pytest.approx(dsp_100)
    assert a["nominal"] == pytest.approx(
        estimate(pl_only["resources"], 100.0, include_ps=False).nominal)
    with_ps = v.predict(dict(pl_only, power_covers="chip, PS + PL"))
    assert with_ps["include_ps"] and with_ps["nominal"] > a["nominal"]
    # an explicit includes_ps wins over the words of power_covers
    told = v.predict(dict(pl_only, power_covers="VCCINT; no PS on this part", includes_ps=False))
    assert not told["include_ps"] and told["nominal"] == pytest.approx(a["nominal"])


def test_validation_refuses_a_broken_table_with_one_error_line(tmp_path, capsys):
    v = _validator()
    bad = tmp_path / "bad.json"
    bad.write_text('{"designs": []}')
    out = tmp_path / "o.json"
    assert v.main(["--table", str(bad), "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and not out.exists()


def test_fpga_target_writes_the_power_model_range_from_a_planner_energy_record():
    from tinyicenet.bench.targets.fpga import from_hls_plan
    from tinyicenet.hls.planner import energy_record

    power = estimate({"lut": 100_000, "ff": 80_000, "bram18": 40}, 200.0)
    plan = {"provenance": "modelled", "tile": [256, 256], "clock_mhz": 200.0,
            "cycles_per_tile": 500_000, "tiles_per_s": 400.0, "latency_ms": 2.5, "fits": True,
            "assumptions": ["a schedule"], "energy": energy_record(power, 400.0, 400.0)}
    r = from_hls_plan(plan, model="tinyicenet_w4a4", halo=16)
    tiles = r["scene"]["tiles"]
    assert r["energy_mj"]["per_tile_gross"] == pytest.approx(1e3 * power.nominal / 400.0)
    assert r["energy_mj"]["per_scene_gross"] == pytest.approx(
        1e3 * power.nominal / 400.0 * tiles)
    rng = r["energy_mj_range"]
    assert rng["per_tile"]["low"] == pytest.approx(1e3 * power.low / 400.0)
    assert rng["per_scene"]["high"] == pytest.approx(1e3 * power.high / 400.0 * tiles)
    assert r["power_w"]["low"] <= r["power_w"]["average"] <= r["power_w"]["high"]
    assert r["power_w"]["idle"] == pytest.approx(power.idle.nominal)
    assert r["provenance"]["energy"] == "modelled"
    assert r["provenance"]["energy_model"] == power.model


def test_finn_style_estimates_skip_efficiency_keys_and_impute_ff_from_luts():
    table = _table(lut=(1.0, 1.0, 1.0), ff=(0.5, 0.5, 0.5))
    finn = {"LUT": 1000, "BRAM_18K": 4, "BRAM_efficiency": 0.4, "URAM": 0,
            "URAM_efficiency": 1, "DSP": 0}
    bare = estimate(finn, 100.0, part="tiny", activity=0.125, include_ps=False,
                    coefficients=table)
    assert bare.dynamic_by_resource["ff"].nominal == 0.0
    assert any("FF power counted as zero" in a for a in bare.assumptions)
    imp = estimate(finn, 100.0, part="tiny", activity=0.125, include_ps=False,
                   ff_per_lut=(1.0, 2.0, 3.0), coefficients=table)
    ff = imp.dynamic_by_resource["ff"]
    # FF = ratio x 1000 LUT, 0.5 uW/MHz, 100 MHz
    assert (ff.low, ff.nominal, ff.high) == pytest.approx((0.05, 0.1, 0.15))
    given = estimate(dict(finn, FF=10), 100.0, part="tiny", activity=0.125,
                     include_ps=False, ff_per_lut=2.0, coefficients=table)
    assert given.dynamic_by_resource["ff"].nominal == pytest.approx(10 * 0.5e-6 * 100)
    with pytest.raises(ConfigError, match="ff_per_lut"):
        estimate(finn, 100.0, part="tiny", ff_per_lut=(3.0, 2.0, 1.0), coefficients=table)


def _design(name: str, kind: str, published: float, fit: bool = False) -> dict:
    return {"name": name, "source": "s", "part": "xczu9eg", "clock_mhz": 100.0,
            "power_covers": "PL rails", "reference_kind": kind, "fit": fit,
            "resources": {"lut": 1000}, "published_w": published}


def test_validation_separates_held_out_measurements_from_fits_and_estimates(tmp_path, capsys):
    import json

    v = _validator()
    # the same design three times: predicted nominal P, published P, 2P and P/2
    p = v.predict(_design("x", "measured", 1.0))["nominal"]
    table = {"designs": [_design("held", "measured", p), _design("fitted", "measured", 2 * p, True),
                         _design("vendor", "estimate", p / 2)]}
    path, out = tmp_path / "t.json", tmp_path / "o.json"
    path.write_text(json.dumps(table))
    assert v.main(["--table", str(path), "--out", str(out), "-q"]) == 0
    s = json.loads(out.read_text())["summary"]
    assert s["measured_held_out"]["designs"] == 1
    assert s["measured_held_out"]["mean_abs_error_pct"] == pytest.approx(0.0, abs=1e-9)
    assert s["measured_fit"] == 1 and s["fit_on"] == ["fitted"]
    assert s["estimates"]["designs"] == 1
    assert s["estimates"]["mean_abs_error_pct"] == pytest.approx(100.0)   # P vs P/2
    assert s["mean_abs_error_pct"] == pytest.approx((0 + 50 + 100) / 3)
    assert s["validation_complete"] is False
    err = capsys.readouterr().err
    assert err.startswith("warning: 1 held-out measured design") and "3 needed" in err
    table["designs"] += [_design("held2", "measured", p), _design("held3", "measured", p)]
    path.write_text(json.dumps(table))
    assert v.main(["--table", str(path), "--out", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["summary"]["validation_complete"] is True
    assert "warning" not in capsys.readouterr().err


def test_validation_refuses_a_design_without_a_reference_kind(tmp_path, capsys):
    import json

    v = _validator()
    bad = dict(_design("x", "measured", 1.0))
    del bad["reference_kind"]
    path, out = tmp_path / "t.json", tmp_path / "o.json"
    path.write_text(json.dumps({"designs": [bad]}))
    assert v.main(["--table", str(path), "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: x: reference_kind") and "\n" not in err and not out.exists()


def test_assumptions_name_the_unsourced_coefficients_from_the_table():
    table = _table(lut=(1.0, 1.0, 1.0))
    e = estimate({"lut": 1}, 1.0, part="tiny", coefficients=table)
    assert e.assumptions[-1].startswith("every coefficient cites a public source")
    table["unsourced"] = {"coefficients": ["ps.w", "dynamic_uw_per_mhz.lut"]}
    e = estimate({"lut": 1}, 1.0, part="tiny", coefficients=table)
    assert "without a public source" in e.assumptions[-1]
    assert "ps.w, dynamic_uw_per_mhz.lut" in e.assumptions[-1]


def _report(**over) -> dict:
    """A hand-made vendor report: 10,000 LUTs, 8,000 FFs, 20 BRAM36, 40 DSPs at 200 MHz."""
    rows = {"clocks": 0.02, "lut_logic": 0.03, "lut_srl": 0.0, "lut_dram": 0.0, "carry": 0.0,
            "register": 0.012, "signals": 0.01, "bram": 0.04, "uram": 0.0, "dsp": 0.016,
            "io_other": 0.5, "ps8": 2.0, "pl_static": 0.2, "ps_static": 0.1, "total": 3.0}
    rep = {"name": "hand", "repo": "o/r", "path": "p.rpt", "commit": "0" * 40, "part": "tiny",
           "lut_capacity": 100_000, "confidence": "Low", "clock_mhz": 200.0,
           "role": "fit", "fit_for": ["lut", "ff", "bram36", "dsp", "ps", "static_pl"],
           "rows_w": rows, "used": {"lut_logic": 10_000, "lut_srl": 0, "lut_dram": 0,
                                    "register": 8_000, "bram36": 20, "uram": 0, "dsp": 40}}
    rep.update(over)
    return rep


def test_report_values_charge_signals_to_luts_and_clocks_to_ffs_by_hand():
    v = _validator().report_values(_report())
    assert v["lut"] == pytest.approx([1e6 * 0.04 / 10_000 / 200])     # 0.02 uW/MHz
    assert v["ff"] == pytest.approx([1e6 * 0.032 / 8_000 / 200])      # 0.02 uW/MHz
    assert v["bram36"] == pytest.approx([1e6 * 0.04 / 20 / 200])      # 10 uW/MHz
    assert v["dsp"] == pytest.approx([1e6 * 0.016 / 40 / 200])        # 2 uW/MHz
    assert v["static_pl"] == pytest.approx([2e-6]) and v["ps"] == pytest.approx([2.1])
    few = _report(used={**_report()["used"], "dsp": 1})
    assert "dsp" not in _validator().report_values(few)       # one DSP bounds nothing


def test_derived_ranges_span_the_fitted_reports_or_widen_a_single_one():
    mod = _validator()
    a = _report()
    b = _report(clock_mhz=100.0, fit_for=["lut"])                      # lut value doubles
    d = mod.derive_coefficients([a, b, _report(fit_for=[])])
    assert d["lut"]["values"] == pytest.approx([0.02, 0.04])
    assert (d["lut"]["low"], d["lut"]["nominal"], d["lut"]["high"]) == \
        pytest.approx((0.02, 0.03, 0.04))                             # two reports: their spread
    assert (d["dsp"]["low"], d["dsp"]["nominal"], d["dsp"]["high"]) == \
        pytest.approx((0.5 * 2.0, 2.0, 2 * 2.0))                      # one report: x0.5 .. x2
    assert (d["ps"]["low"], d["ps"]["high"]) == pytest.approx((0.5 * 2.1, 1.25 * 2.1))
    assert (d["static_pl"]["low"], d["static_pl"]["high"]) == pytest.approx((0.8 * 2e-6, 4e-6))
    assert len(d["ps"]["reports"]) == 1                               # only a fitted report counts


def test_checked_in_coefficients_are_what_their_cited_reports_give():
    import json
    from pathlib import Path

    mod = _validator()
    path = Path(__file__).resolve().parents[1] / "bench" / "fpga_power_vendor_reports.json"
    derived = mod.derive_coefficients(json.loads(path.read_text())["reports"])
    table = load_coefficients()
    where = {"static_pl": table["static_pl"]["w_per_lut_capacity"], "ps": table["ps"]["w"],
             **{k: table["dynamic_uw_per_mhz"][k] for k in ("lut", "ff", "bram36", "dsp")}}
    assert set(derived) == set(where)
    for key, entry in where.items():
        for lv in ("low", "nominal", "high"):
            assert entry[lv] == pytest.approx(derived[key][lv], rel=1e-3), (key, lv)
    assert table["unsourced"]["coefficients"] == ["dynamic_uw_per_mhz.uram"]


def test_vendor_check_keeps_categories_not_fitted_as_held_out(monkeypatch):
    import tinyicenet.power.model as model

    table = _table(lut=(0.01, 0.02, 0.04))
    monkeypatch.setattr(model, "load_coefficients", lambda path=None: table)
    out = _validator().check_reports([_report(fit_for=["lut"])])
    row = out["reports"][0]
    assert row["fit_for"] == ["lut"]
    assert set(row["held_out_for"]) == {"ff", "bram36", "dsp", "static_pl", "ps"}
    assert row["categories_w"]["lut"]["model"] == pytest.approx(10_000 * 0.02e-6 * 200)
    assert row["categories_w"]["lut"]["error_pct"] == pytest.approx(0.0)
    assert out["summary"]["held_out_categories"] == 5

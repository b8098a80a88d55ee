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

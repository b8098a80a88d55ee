"""Parsers of Vitis/Vivado HLS csynth reports and Vivado utilisation reports (real hls4ml
test reports and synthetic samples: tests/data/hls_reports/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyicenet.errors import ResultError
from tinyicenet.hls.reports import find_reports, parse_csynth, parse_utilization

DATA = Path(__file__).parent / "data" / "hls_reports"


def test_synthetic_vitis_hls_2023_csynth_layout():
    """Vitis HLS 2023.2 layout with synthetic numbers (see the README beside the file)."""
    r = parse_csynth(DATA / "synthetic_vitis_hls_2023_2_csynth.rpt")
    assert r.tool == "Vitis HLS" and r.version == "2023.2"
    assert r.part == "xczu9eg-ffvb1156-2-e"
    assert (r.clock_target_ns, r.clock_estimated_ns) == (5.0, 3.333)
    assert r.latency_cycles == (1111, 1111)
    assert r.interval_cycles == (1000, 1000)
    # the Total row, not the FIFO/Instance rows; "Available SLR" is not "Available"
    assert r.used == {"bram18": 2, "dsp": 7, "ff": 23456, "lut": 12345, "uram": 0}
    assert r.available["lut"] == 274080 and r.available["bram18"] == 1824
    assert r.bram36 == 1
    assert r.tiles_per_s() == pytest.approx(200e6 / 1000)
    assert r.tiles_per_s(100.0) == pytest.approx(100e6 / 1000)


def test_hls4ml_vivado_hls_2020_csynth_dsp48e_column():
    """A real report from hls4ml's test data (Vivado HLS 2020.1, xc7z020)."""
    r = parse_csynth(DATA / "hls4ml_vivado_hls_2020_1_csynth.rpt")
    assert r.tool == "Vivado HLS" and r.version == "2020.1"
    assert r.part == "xc7z020-clg400-1"
    assert (r.clock_target_ns, r.clock_estimated_ns) == (5.0, 4.049)
    assert r.latency_cycles == (10, 10) and r.interval_cycles == (8, 8)
    assert r.used == {"bram18": 0, "dsp": 73, "ff": 7969, "lut": 2532, "uram": 0}
    assert r.available == {"bram18": 280, "dsp": 220, "ff": 106400, "lut": 53200, "uram": 0}
    d = r.to_dict()
    assert d["provenance"].startswith("reported by Vivado HLS 2020.1")


def test_hls4ml_vivado_utilization_report():
    """A real report from hls4ml's test data (Vivado 2020.1, 7-series 'Slice LUTs' names)."""
    r = parse_utilization(DATA / "hls4ml_vivado_2020_1_utilization_synth.rpt")
    assert r.version == "2020.1" and r.device == "7z020clg400-1"
    assert r.state == "Synthesized"
    assert r.used == {"lut": 1526, "lutram": 0, "srl": 48, "ff": 2428, "bram36": 0, "dsp": 66}
    assert r.available == {"lut": 53200, "ff": 106400, "bram36": 140, "dsp": 220}


def test_ultrascale_utilization_names(tmp_path):
    """UltraScale+ names ('CLB LUTs', 'CLB Registers', a 'Prohibited' column); synthetic
    numbers."""
    rpt = tmp_path / "u.rpt"
    rpt.write_text(
        "| Tool Version : Vivado v.2023.2 (lin64) Build 1\n| Device       : xczu9eg-ffvb1156-2-e\n"
        "| Design State : Routed\n\nUtilization Design Information\n\n"
        "+-------------+------+-------+------------+-----------+-------+\n"
        "|  Site Type  | Used | Fixed | Prohibited | Available | Util% |\n"
        "+-------------+------+-------+------------+-----------+-------+\n"
        "| CLB LUTs*   | 1000 |     0 |          0 |    274080 |  0.36 |\n"
        "| CLB Registers | 2000 |   0 |          0 |    548160 |  0.36 |\n"
        "+-------------+------+-------+------------+-----------+-------+\n\n"
        "+----------------+------+-------+------------+-----------+-------+\n"
        "|    Site Type   | Used | Fixed | Prohibited | Available | Util% |\n"
        "+----------------+------+-------+------------+-----------+-------+\n"
        "| Block RAM Tile |  3.5 |     0 |          0 |       912 |  0.38 |\n"
        "| DSPs           |    4 |     0 |          0 |      2520 |  0.16 |\n"
        "+----------------+------+-------+------------+-----------+-------+\n")
    r = parse_utilization(rpt)
    assert r.used == {"lut": 1000, "ff": 2000, "bram36": 3.5, "dsp": 4}
    assert r.available == {"lut": 274080, "ff": 548160, "bram36": 912, "dsp": 2520}
    assert (r.version, r.device, r.state) == ("2023.2", "xczu9eg-ffvb1156-2-e", "Routed")


@pytest.mark.parametrize("parser", [parse_csynth, parse_utilization])
def test_wrong_or_missing_file_is_a_result_error(tmp_path, parser):
    with pytest.raises(ResultError, match="cannot read"):
        parser(tmp_path / "missing.rpt")
    junk = tmp_path / "junk.rpt"
    junk.write_text("this is not a report\n")
    with pytest.raises(ResultError, match="not a"):
        parser(junk)


def test_truncated_csynth_without_utilisation_is_refused(tmp_path):
    text = (DATA / "synthetic_vitis_hls_2023_2_csynth.rpt").read_text()
    cut = tmp_path / "cut.rpt"
    cut.write_text(text[: text.index("== Utilization Estimates")])
    with pytest.raises(ResultError, match="no utilisation 'Total' row"):
        parse_csynth(cut)


def test_find_reports_where_the_tools_write_them(tmp_path):
    report_dir = tmp_path / "tinyicenet_prj" / "solution1" / "syn" / "report"
    report_dir.mkdir(parents=True)
    (report_dir / "tinyicenet_csynth.rpt").write_text(
        (DATA / "synthetic_vitis_hls_2023_2_csynth.rpt").read_text())
    (tmp_path / "vivado_synth.rpt").write_text(
        (DATA / "hls4ml_vivado_2020_1_utilization_synth.rpt").read_text())
    found = find_reports(tmp_path, "tinyicenet")
    assert found["csynth"].name == "tinyicenet_csynth.rpt"
    assert found["utilization"].name == "vivado_synth.rpt"
    assert parse_csynth(found["csynth"]).used["lut"] == 12345

"""Parsers of Vitis/Vivado HLS csynth reports and Vivado utilisation reports (samples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyicenet.errors import ResultError
from tinyicenet.hls.reports import find_reports, parse_csynth, parse_utilization

DATA = Path(__file__).parent / "data" / "hls_reports"


def test_vitis_hls_2023_csynth():
    r = parse_csynth(DATA / "vitis_hls_2023_2_csynth.rpt")
    assert r.tool == "Vitis HLS" and r.version == "2023.2"
    assert r.part == "xczu9eg-ffvb1156-2-e"
    assert (r.clock_target_ns, r.clock_estimated_ns) == (5.0, 4.372)
    assert r.latency_cycles == (495873, 495873)
    assert r.interval_cycles == (467217, 467217)
    # the Total row, not the FIFO/Instance rows; "Available SLR" is not "Available"
    assert r.used == {"bram18": 72, "dsp": 0, "ff": 94969, "lut": 177262, "uram": 0}
    assert r.available["lut"] == 274080 and r.available["bram18"] == 1824
    assert r.bram36 == 36
    assert r.tiles_per_s() == pytest.approx(200e6 / 467217)
    assert r.tiles_per_s(100.0) == pytest.approx(100e6 / 467217)


def test_vivado_hls_2020_csynth_dsp48e_column():
    r = parse_csynth(DATA / "vivado_hls_2020_1_csynth.rpt")
    assert r.tool == "Vivado HLS" and r.version == "2020.1"
    assert r.clock_estimated_ns == 4.65
    assert r.latency_cycles == (37920, 37920) and r.interval_cycles == (29193, 29193)
    assert r.used["dsp"] == 48 and r.used["lut"] == 144361 and r.used["bram18"] == 18
    d = r.to_dict()
    assert d["provenance"].startswith("reported by Vivado HLS 2020.1")


def test_vivado_utilization_report():
    r = parse_utilization(DATA / "vivado_2023_2_utilization_synth.rpt")
    assert r.version == "2023.2" and r.device == "xczu9eg-ffvb1156-2-e"
    assert r.state == "Synthesized"
    assert r.used == {"lut": 149218, "lutram": 2310, "srl": 4975, "ff": 82207, "bram36": 31.5,
                      "dsp": 0}
    assert r.available == {"lut": 274080, "ff": 548160, "bram36": 912, "dsp": 2520}


@pytest.mark.parametrize("parser", [parse_csynth, parse_utilization])
def test_wrong_or_missing_file_is_a_result_error(tmp_path, parser):
    with pytest.raises(ResultError, match="cannot read"):
        parser(tmp_path / "missing.rpt")
    junk = tmp_path / "junk.rpt"
    junk.write_text("this is not a report\n")
    with pytest.raises(ResultError, match="not a"):
        parser(junk)


def test_truncated_csynth_without_utilisation_is_refused(tmp_path):
    text = (DATA / "vitis_hls_2023_2_csynth.rpt").read_text()
    cut = tmp_path / "cut.rpt"
    cut.write_text(text[: text.index("== Utilization Estimates")])
    with pytest.raises(ResultError, match="no utilisation 'Total' row"):
        parse_csynth(cut)


def test_find_reports_where_the_tools_write_them(tmp_path):
    report_dir = tmp_path / "tinyicenet_prj" / "solution1" / "syn" / "report"
    report_dir.mkdir(parents=True)
    (report_dir / "tinyicenet_csynth.rpt").write_text(
        (DATA / "vitis_hls_2023_2_csynth.rpt").read_text())
    (tmp_path / "vivado_synth.rpt").write_text(
        (DATA / "vivado_2023_2_utilization_synth.rpt").read_text())
    found = find_reports(tmp_path, "tinyicenet")
    assert found["csynth"].name == "tinyicenet_csynth.rpt"
    assert found["utilization"].name == "vivado_synth.rpt"
    assert parse_csynth(found["csynth"]).used["lut"] == 177262

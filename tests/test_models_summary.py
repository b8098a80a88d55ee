"""Model summary figures and the ``tinyicenet model`` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tinyicenet.errors import ConfigError
from tinyicenet.models import count_parameters, create_model
from tinyicenet.models.summary import summarize


def test_summary_counts_match_the_model():
    model = create_model("tinyicenet_w4a4", charts=("SOD", "SIC"))
    s = summarize(model, 64)
    rows = {r.name: r for r in s.layers}
    assert s.totals["params"] == count_parameters(model)
    # dec1: 3x3 conv 96 -> 32 at 32x32 pixels
    assert rows["dec1"].macs == 96 * 32 * 9 * 32 * 32
    assert rows["dec1"].weight_bits == 96 * 32 * 9 * 4 + 32 * 32
    assert rows["head"].shape == (17, 64, 64) and rows["head"].bits == 8
    assert rows["input"].bits == 8 and rows["enc0"].bits == 4
    # skip buffers: encoder outputs at 4 bits
    assert rows["enc0"].skip_bits == 16 * 64 * 64 * 4
    assert rows["enc1"].skip_bits == 32 * 32 * 32 * 4
    assert s.totals["skip_bits"] == 16 * 64 * 64 * 4 + 32 * 32 * 32 * 4
    assert s.totals["peak_act_bits"] >= rows["cat0"].act_bits
    # MACs scale with the tile area
    assert summarize(model, 128).totals["macs"] == 4 * s.totals["macs"]


def test_precision_and_skips_change_memory():
    w8 = summarize(create_model("tinyicenet_w8a8"), 64).totals
    w2 = summarize(create_model("tinyicenet_w2a2"), 64).totals
    fl = summarize(create_model("tinyicenet_float_noskip"), 64).totals
    assert w8["act_bits"] > w2["act_bits"] and w8["weight_bits"] > w2["weight_bits"]
    assert fl["skip_bits"] == 0 and fl["macs"] < w8["macs"]


def test_bad_tile():
    with pytest.raises(ConfigError, match="multiple of the model stride 4"):
        summarize(create_model("tinyicenet_float"), 30)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tinyicenet", "model", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_summary_json_and_table():
    res = _cli("summary", "tinyicenet_w4a4_noskip", "--widths", "8,16,32", "--tile", "64",
               "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["model"] == "tinyicenet_w4a4_noskip" and data["tile"] == [64, 64]
    assert data["totals"]["params"] == count_parameters(
        create_model("tinyicenet_w4a4_noskip", widths=(8, 16, 32)))
    table = _cli("summary", "tinyicenet_float", "--tile", "64")
    assert table.returncode == 0 and "bottleneck" in table.stdout and "total" in table.stdout


@pytest.mark.parametrize("args, message", [
    (("summary", "tinyicenet_w9a4"), "weight bit width 9"),
    (("summary", "tinyicenet_w4a4", "--widths", "16,a"), "--widths"),
    (("summary", "tinyicenet_w4a4", "--tile", "30"), "stride"),
    (("summary", "tinyicenet_w4a4", "--charts", "SOD,XX"), "charts"),
])
def test_cli_bad_input_is_one_error_line(capsys, args, message):
    """Through cli.main in this process (test_cli_summary_json_and_table runs the real
    ``python -m tinyicenet`` entry point)."""
    from tinyicenet.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["model", *args])
    err = capsys.readouterr().err
    assert exc.value.code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in err

"""bench/kernel_resources.py: every kernel of a design compiled for sm_90 without a GPU, its
registers, spills and shared memory read from the cubin (skipped where Triton is missing: the
CPU build of PyTorch in CI does not bring it)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("triton")

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "kernel_resources.py"


def _script():
    spec = importlib.util.spec_from_file_location("kernel_resources", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_every_kernel_of_a_design_is_compiled_and_measured(tmp_path):
    out = tmp_path / "resources.json"
    assert _script().main(["--design", "gen5", "--shape", "1x64x64", "--json", str(out)]) == 0
    kernels = json.loads(out.read_text())["kernels"]
    assert [k["stage"] for k in kernels] == ["quantize", "encoder0", "encoder1", "bottleneck",
                                             "decoder1", "decoder0"]
    for k in kernels:
        assert 0 < k["registers"] <= 255 and k["programs_per_sm"] >= 1
        if k["stage"] != "quantize":   # wgmma reads its operands from shared memory
            assert k["shared_bytes"] > 0
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_the_cuda_cpp_halo_convs_are_compiled_with_nvcc(tmp_path):
    import shutil
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH")
    out = tmp_path / "resources.json"
    assert _script().main(["--design", "gen6", "--shape", "16x256x256", "--sms", "132",
                           "--json", str(out)]) == 0
    kernels = {k["stage"]: k for k in json.loads(out.read_text())["kernels"]}
    for stage in ("encoder1", "bottleneck", "decoder1", "decoder0"):
        k = kernels[stage]
        assert 0 < k["registers"] <= 255 and k["stack_bytes"] == 0 and k["programs_per_sm"] >= 1
        # persistent: at most what fits on 132 SMs at once
        assert k["grid"] <= 132 * k["programs_per_sm"]


@pytest.mark.parametrize("args, message", [(["--shape", "64x64"], "is not N x H x W"),
                                           (["--shape", "1x62x64"], "multiple of the model"),
                                           (["--model", "w9"], "neither an .npz"),
                                           (["--design", "gen9"], "unknown kernel design")])
def test_bad_arguments_give_one_error_line(args, message, capsys):
    assert _script().main([*args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and err.count("\n") == 1

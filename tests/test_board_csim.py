"""The driver against the C simulation of the real IP: hls4ml network + AXI-stream shell (g++).

``tinyicenet.hls.build_project`` generates and verifies the hls4ml project of a quantized
TinyIceNet (w4a4) at 32 x 32 (io_stream, the ZCU102 part; conftest.py's session project, which
tests/test_hls_project.py checks too); ``tinyicenet board iospec --project`` writes
its io spec; ``tinyicenet board csim`` (boards/zcu102/build.py) compiles
boards/zcu102/hls/tinyicenet_axis*.cpp with the network into a shared library; the emulated
overlay feeds it the exact bytes the AXI DMA would. The driver's stitched logits must equal the
host's integer reference on the same tiles: 0 differing values.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyicenet.resources import resource_dir

BOARD_DIR = resource_dir("boards/zcu102")
from tinyicenet_io import iospec
from tinyicenet_zcu102 import __main__ as driver_cli
from tinyicenet_zcu102 import emulate
from tinyicenet_zcu102.errors import BoardError

HWMON = Path(__file__).parent / "data" / "zcu102" / "hwmon"
TILE, HALO = 32, 8

pytestmark = pytest.mark.slow


def board_cli(*args) -> int:
    from tinyicenet.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["board", *map(str, args)])
    return exc.value.code


@pytest.fixture(scope="module")
def built(tmp_path_factory, w4a4_hls_project):
    """(intmodel, io spec dict, folder, csim library) of the session's verified w4a4 project.

    The network is conftest.py's hls4ml project (generated, compiled and verified against the
    integer reference once per session); this module compiles the IP's shell around it."""
    from tinyicenet.export.intref import load_intref

    root = tmp_path_factory.mktemp("csim").resolve()
    prj = w4a4_hls_project.project_dir
    assert w4a4_hls_project.manifest["tile"] == TILE
    im = load_intref(prj / "intref.npz")
    assert board_cli("iospec", "--project", prj, "--halo", HALO, "--channels", "hh,hv",
                     "--out", root / "io_spec.json") == 0
    spec = json.loads((root / "io_spec.json").read_text())
    assert (spec["input"]["exponent"], spec["output"]["exponent"]) == (im.input_exp,
                                                                       im.output_exp)
    assert board_cli("csim", "--project", prj, "--io-spec", root / "io_spec.json",
                     "--out", root / "csim", "--quiet") == 0
    return im, spec, prj, root / "csim" / "libtinyicenet_axis_csim.so"


def test_driver_on_the_ip_c_simulation_equals_integer_reference(built, tmp_path, monkeypatch):
    from tinyicenet.bench.schema import validate_result
    from tinyicenet.data.tiling import extract_tiles, plan_tiles, stitch

    im, spec, _, lib = built
    kernel = emulate.CSimKernel(str(lib), iospec.from_dict(spec))
    monkeypatch.setitem(sys.modules, "pynq", emulate.pynq_module(kernel))
    rng = np.random.default_rng(21)  # fresh inputs, not the calibration ones
    image = (rng.standard_normal((2, 50, 45)) * rng.uniform(1, 3)).astype(np.float32)
    image[:, 40:, 30:] = -25.0  # saturating block
    np.save(tmp_path / "scene.npy", image)
    (tmp_path / "io_spec.json").write_text(json.dumps(spec))
    (tmp_path / "tinyicenet.bit").write_bytes(b"\0")
    plan = plan_tiles(image.shape[1:], TILE, HALO, im.stride)
    ref = stitch(im.run_int(im.quantize_input(extract_tiles(image, plan))), plan)
    np.save(tmp_path / "golden.npy", ref)
    code = driver_cli.main([
        "run", "--bitfile", str(tmp_path / "tinyicenet.bit"), "--io-spec",
        str(tmp_path / "io_spec.json"), "--scene", str(tmp_path / "scene.npy"), "--out",
        str(tmp_path / "result.json"), "--logits", str(tmp_path / "logits.npy"), "--expect",
        str(tmp_path / "golden.npy"), "--hwmon", str(HWMON), "--window", "0", "--repetitions",
        "1", "--warmup", "0", "--idle", "0.02", "--latency-calls", "2", "--max-tiles", "4"])
    assert code == 0
    logits = np.load(tmp_path / "logits.npy")
    assert np.array_equal(logits.astype(np.int64), ref)
    assert len(np.unique(logits)) > 10
    result = validate_result(json.loads((tmp_path / "result.json").read_text()))
    assert result["provenance"]["verification"].endswith(f": 0 differing values of {ref.size}")


def test_c_simulation_words_match_the_io_spec(built):
    _, spec, _, lib = built
    kernel = emulate.CSimKernel(str(lib))
    assert (kernel.in_word_bytes, kernel.out_word_bytes, kernel.pixels) == (2, 8, TILE * TILE)
    with pytest.raises(BoardError, match="differ from the io spec"):
        emulate.CSimKernel(str(lib), iospec.from_dict({**spec, "tile": 16, "halo": 4}))


def test_csim_build_refuses_a_precision_mismatch(built, tmp_path):
    _, spec, prj, _ = built
    wrong = {**spec, "input": {**spec["input"], "exponent": spec["input"]["exponent"] + 1}}
    (tmp_path / "io_spec.json").write_text(json.dumps(wrong))
    proc = subprocess.run([sys.executable, str(BOARD_DIR / "build.py"), "csim", "--hls-project",
                           str(prj), "--io-spec", str(tmp_path / "io_spec.json"),
                           "--out", str(tmp_path / "csim")], capture_output=True, text=True)
    assert proc.returncode == 2 and "precision mismatch on the input" in proc.stderr
    assert not (tmp_path / "csim").exists()

"""``tinyicenet board ...``: io spec from a checkpoint, build/check through build.py, the board
package (which must run on its own, without the host package), bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

HWMON = Path(__file__).parent / "data" / "zcu102" / "hwmon"


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys):
    """``tinyicenet board ARGS`` through cli.main in this process (real exit code and stderr,
    without paying torch's import for every call)."""
    from tinyicenet.cli import main

    def run(*args):
        with pytest.raises(SystemExit) as exc:
            main(["board", *map(str, args)])
        out = capsys.readouterr()
        return Result(exc.value.code, out.out, out.err)
    return run


def cli_subprocess(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tinyicenet", "board", *map(str, args)],
                          capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from tinyicenet.models import calibrate, create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4", widths=(4, 8, 8), charts=("SOD", "FLOE"))
    calibrate(model, [torch.randn(2, 2, 32, 32, generator=torch.Generator().manual_seed(1))])
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, model, variables=["nersc_sar_primary", "nersc_sar_secondary"])
    return path, model


def test_iospec_from_checkpoint(tmp_path, checkpoint, cli):
    from tinyicenet.export.intref import from_brevitas

    path, model = checkpoint
    proc = cli("iospec", path, "--out", tmp_path / "io_spec.json", "--tile", 64, "--halo", 8)
    assert proc.returncode == 0, proc.stderr
    spec = json.loads((tmp_path / "io_spec.json").read_text())
    im = from_brevitas(model)
    assert spec["input"]["exponent"] == im.input_exp and spec["input"]["bits"] == 8
    assert spec["output"]["exponent"] == im.output_exp and spec["output"]["bits"] == 8
    assert spec["charts"] == {"SOD": 6, "FLOE": 7} and spec["classes"] == 13
    assert spec["channels"] == ["nersc_sar_primary", "nersc_sar_secondary"]
    assert (spec["tile"], spec["halo"], spec["align"]) == (64, 8, 4)
    assert spec["precision"] == "w4a4"
    assert spec["stream"]["input_word_bits"] == 16 and spec["stream"]["output_word_bits"] == 128


def test_iospec_bad_inputs(tmp_path, checkpoint, cli):
    from tinyicenet.models import create_model, save_checkpoint

    path, _ = checkpoint
    proc = cli("iospec", path, "--out", tmp_path / "x.json", "--tile", 30)
    assert proc.returncode == 2 and "multiples of the model stride 4" in proc.stderr
    proc = cli("iospec", tmp_path / "missing.pt", "--out", tmp_path / "x.json")
    assert proc.returncode != 0 and proc.stderr.startswith("error: ")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    proc = cli("iospec", tmp_path / "corrupt.pt", "--out", tmp_path / "x.json")
    assert proc.returncode != 0 and proc.stderr.startswith("error: ")
    float_ckpt = tmp_path / "float.pt"
    save_checkpoint(float_ckpt, create_model("tinyicenet_float", widths=(4, 8, 8)))
    proc = cli("iospec", float_ckpt, "--out", tmp_path / "x.json")
    assert proc.returncode != 0 and "float model" in proc.stderr
    for p in (proc,):
        assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()


def test_build_names_the_missing_tools(tmp_path, checkpoint, cli):
    path, _ = checkpoint
    made = cli("iospec", path, "--out", tmp_path / "io.json", "--tile", 32, "--halo", 8)
    assert made.returncode == 0
    env = dict(os.environ, PATH=str(tmp_path))  # no vitis-run, vitis_hls, vivado_hls, vivado
    proc = cli_subprocess("build", "--project", tmp_path / "prj", "--io-spec",
                          tmp_path / "io.json", "--out", tmp_path / "out", env=env)
    assert proc.returncode == 4
    line = proc.stderr.strip()
    assert line.startswith("error: missing on PATH:") and "vitis-run" in line and "vivado (" in line
    assert not (tmp_path / "out").exists()


def test_check_reports_a_bad_project(tmp_path, checkpoint, cli):
    path, _ = checkpoint
    assert cli("iospec", path, "--out", tmp_path / "io.json").returncode == 0
    proc = cli("check", "--project", tmp_path, "--io-spec", tmp_path / "io.json")
    assert proc.returncode == 2 and "not an hls4ml project" in proc.stderr


def test_package_runs_on_its_own(tmp_path, checkpoint, cli):
    """The package folder holds everything the board needs; its driver imports no tinyicenet."""
    path, _ = checkpoint
    made = cli("iospec", path, "--out", tmp_path / "io.json", "--tile", 32, "--halo", 8)
    assert made.returncode == 0
    bits = tmp_path / "bits"
    bits.mkdir()
    (bits / "tinyicenet.bit").write_bytes(b"bit")
    (bits / "tinyicenet.hwh").write_text("<hwh/>")
    out = tmp_path / "deploy"
    proc = cli("package", "--io-spec", tmp_path / "io.json", "--out", out, "--bitstream", bits,
               "--quiet")
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    assert {"tinyicenet_zcu102", "board.json", "io_spec.json", "RUN.md", "tinyicenet.bit",
            "tinyicenet.hwh"} <= names
    # the shared package travels with the driver, schema included
    assert (out / "tinyicenet_io" / "io_spec.schema.json").is_file()
    assert not list(out.rglob("__pycache__"))
    # run the packaged driver in a fresh interpreter that cannot see the host package
    script = ("import sys, builtins\n"
              "real = builtins.__import__\n"
              "def guard(name, *a, **k):\n"
              "    if name.split('.')[0] == 'tinyicenet': raise ImportError('host package')\n"
              "    return real(name, *a, **k)\n"
              "builtins.__import__ = guard\n"
              "from tinyicenet_zcu102.__main__ import main\n"
              f"sys.exit(main(['rails', '--hwmon', {str(HWMON)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=out, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(out)))
    assert proc.returncode == 0, proc.stderr
    assert "VCCINT" in proc.stdout


def test_package_bad_inputs(tmp_path, checkpoint, cli):
    path, _ = checkpoint
    assert cli("iospec", path, "--out", tmp_path / "io.json").returncode == 0
    proc = cli("package", "--io-spec", tmp_path / "io.json", "--out", tmp_path / "d",
               "--bitstream", tmp_path)
    assert proc.returncode == 2 and "no tinyicenet.bit or tinyicenet.hwh" in proc.stderr
    proc = cli("package", "--io-spec", tmp_path / "io.json", "--out", tmp_path / "d",
               "--scene", tmp_path / "s.nc")
    assert proc.returncode == 2 and "go together" in proc.stderr
    (tmp_path / "bad.json").write_text(json.dumps({"format": "tinyicenet-io-spec", "version": 9}))
    proc = cli("package", "--io-spec", tmp_path / "bad.json", "--out", tmp_path / "d")
    assert proc.returncode == 2 and "version 9" in proc.stderr
    assert not (tmp_path / "d").exists()


def test_package_with_a_scene_and_expected_logits(tmp_path, checkpoint, sample_scene_files,
                                                   cli):
    """Scene + expected logits from the checkpoint; the driver reproduces them on an emulated
    accelerator that computes with the integer reference."""
    from tinyicenet.export.intref import from_brevitas

    path, model = checkpoint
    made = cli("iospec", path, "--out", tmp_path / "io.json", "--tile", 32, "--halo", 8)
    assert made.returncode == 0
    out = tmp_path / "deploy"
    proc = cli("package", "--io-spec", tmp_path / "io.json", "--out", out, "--scene",
               sample_scene_files[0], "--checkpoint", path, "--quiet")
    assert proc.returncode == 0, proc.stderr
    with np.load(out / "scene.npz") as scene:
        image = scene["image"]
        assert image.shape[0] == 2 and image.dtype == np.float32
        assert float(scene["pixel_spacing_m"]) > 0
    expected = np.load(out / "expected_logits.npy")
    assert expected.shape == (13, *image.shape[1:])

    from tinyicenet_io import iospec
    from tinyicenet_zcu102 import accelerator, bench, emulate

    spec = iospec.load(out / "io_spec.json")
    im = from_brevitas(model)
    kernel = emulate.FunctionKernel(lambda q: im.run_int(q.astype(np.int16)), spec)
    acc = accelerator.DmaAccelerator(emulate.EmulatedOverlay(kernel), spec, emulate.allocate)
    logits = bench.scene_logits(image, spec, acc)
    assert np.array_equal(logits.astype(np.int64), expected.astype(np.int64))


def test_iospec_from_an_hls_project_manifest(tmp_path, cli):
    manifest = {
        "format": "tinyicenet-hls-project", "version": 1, "project_name": "tinyicenet",
        "tile": 64, "layout": "NHWC",
        "input": {"channels": 2, "format": {"bits": 8, "exponent": -4, "signed": True}},
        "output": {"channels": 6, "format": {"bits": 8, "exponent": -7, "signed": True}},
        "model": {"name": "tinyicenet_w4a4", "charts": ["SOD"], "num_classes": [6], "stride": 4,
                  "bit_widths": {"input": 8, "weight": 4, "activation": 4, "output": 8}},
    }
    (tmp_path / "prj").mkdir()
    (tmp_path / "prj" / "tinyicenet_project.json").write_text(json.dumps(manifest))
    proc = cli("iospec", "--project", tmp_path / "prj", "--halo", 8, "--out", tmp_path / "io.json")
    assert proc.returncode == 0, proc.stderr
    spec = json.loads((tmp_path / "io.json").read_text())
    assert (spec["tile"], spec["halo"], spec["align"], spec["classes"]) == (64, 8, 4, 6)
    assert spec["input"]["exponent"] == -4 and spec["output"]["exponent"] == -7
    assert spec["precision"] == "w4a4"
    assert spec["channels"] == ["nersc_sar_primary", "nersc_sar_secondary"]
    proc = cli("iospec", "--project", tmp_path / "prj", "--halo", 32, "--out", tmp_path / "x.json")
    assert proc.returncode == 2 and "leave a core" in proc.stderr
    manifest["output"]["format"]["signed"] = False
    (tmp_path / "prj" / "tinyicenet_project.json").write_text(json.dumps(manifest))
    proc = cli("iospec", "--project", tmp_path / "prj", "--out", tmp_path / "x.json")
    assert proc.returncode != 0 and "unsigned" in proc.stderr
    proc = cli("iospec", "--out", tmp_path / "x.json")
    assert proc.returncode == 2 and "either a checkpoint or --project" in proc.stderr
    assert not (tmp_path / "x.json").exists()

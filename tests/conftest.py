"""Shared fixtures: generated AI4Arctic scenes in the real file layout (no network needed)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def gxx_object_cache(tmp_path_factory: pytest.TempPathFactory):
    """The session's g++ reuses objects of identical preprocessed sources (tests/gxx_cache.py).

    Every compiler call of the tests, in this process and in the tools it starts (hls4ml's C
    simulation, the board build, FINN+'s cppsim), finds this ``g++`` first on PATH. The cache
    is empty at the start of every session."""
    real = shutil.which("g++")
    if real is None:  # the tests that need g++ say so themselves
        yield None
        return
    bin_dir = tmp_path_factory.mktemp("gxx_bin")
    wrapper = bin_dir / "g++"
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} "
                       f"{shlex.quote(str(HERE / 'gxx_cache.py'))} \"$@\"\n")
    wrapper.chmod(0o755)
    cache = tmp_path_factory.mktemp("gxx_objects")
    patch = pytest.MonkeyPatch()
    patch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    patch.setenv("TINYICENET_TEST_REAL_GXX", real)
    patch.setenv("TINYICENET_TEST_GXX_CACHE", str(cache))
    yield cache
    patch.undo()


@pytest.fixture(scope="session")
def sample_scene_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 ready-to-train scenes (``*_prep.nc``), 600 x 600 pixels at 80 m, seed 0."""
    from tinyicenet.data.synth import write_scenes

    out = tmp_path_factory.mktemp("ai4arctic_rtt")
    write_scenes(out, 3, size=(600, 600), seed=0)
    return out


@pytest.fixture(scope="session")
def raw_scene_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 raw-style scenes (``polygon_icechart`` + ``polygon_codes``), 600 x 600 at 40 m, seed 1."""
    from tinyicenet.data.synth import write_scenes

    out = tmp_path_factory.mktemp("ai4arctic_raw")
    write_scenes(out, 2, size=(600, 600), seed=1, raw=True)
    return out


@pytest.fixture(scope="session")
def sample_scene_files(sample_scene_dir: Path) -> list[Path]:
    """The three files of ``sample_scene_dir``, sorted by name."""
    return sorted(sample_scene_dir.glob("*_prep.nc"))


@pytest.fixture(scope="session")
def hls_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Calibrated w4a4 and w4a4_noskip checkpoints (seed 7) for the HLS flow's tests."""
    from helpers import calibrated_model

    from tinyicenet.models import save_checkpoint

    folder = tmp_path_factory.mktemp("hls_ckpt")
    paths = {}
    for name in ("tinyicenet_w4a4", "tinyicenet_w4a4_noskip"):
        paths[name] = folder / f"{name}.pt"
        save_checkpoint(paths[name], calibrated_model(name, seed=7))
    return paths


@pytest.fixture(scope="session")
def w4a4_hls_project(tmp_path_factory: pytest.TempPathFactory, sample_scene_dir):
    """One generated, g++-compiled and verified hls4ml project, shared read-only by every test
    that reads a project (tests/test_hls_project.py, tests/test_board_csim.py): a small w4a4
    TinyIceNet (widths 4, 8, 8; its C simulation runs a tile in milliseconds) at 32 x 32, verified
    on 2 fresh random and 2 generated-scene tiles."""
    import torch

    from helpers import fresh_seed
    from tinyicenet.hls import build_project
    from tinyicenet.models import calibrate, create_model, save_checkpoint

    root = tmp_path_factory.mktemp("hls")
    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4", widths=(4, 8, 8))
    g = torch.Generator().manual_seed(1)
    calibrate(model, [torch.randn(2, 2, 32, 32, generator=g) * 2])
    ckpt = save_checkpoint(root / "w4a4_small.pt", model.eval())
    return build_project(ckpt, root / "w4a4", tile=32, n_random=2, scene=sample_scene_dir,
                         n_scene=2, seed=fresh_seed("w4a4 project csim"))

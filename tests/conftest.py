"""Shared fixtures: generated AI4Arctic scenes in the real file layout (no network needed)."""

from __future__ import annotations

from pathlib import Path

import pytest


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

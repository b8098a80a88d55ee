"""``tinyicenet data synth`` and ``tinyicenet data info``, including every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tinyicenet.data import layout as L
from tinyicenet.data.synth import generate_scene, write_scene


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TINYICENET_DEBUG"}
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "tinyicenet", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_synth_writes_scenes_and_info_summarises_them(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    res = run("data", "synth", "--out", str(out), "--scenes", "2", "--size", "120", "160",
              "--seed", "4", "--quiet")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # --quiet: no progress
    files = sorted(out.glob("*_prep.nc"))
    assert len(files) == 2 and sorted(res.stdout.split()) == [str(f) for f in files]
    with xr.open_dataset(files[0]) as ds:
        assert ds.sizes["sar_lines"] == 120 and ds.sizes["sar_samples"] == 160
    res = run("data", "info", str(out))
    assert res.returncode == 0, res.stderr
    for f in files:
        assert f.name[:15] in res.stdout  # acquisition time of each scene
    assert "80 m" in res.stdout and "120 x 160" in res.stdout
    res = run("data", "info", "--json", str(files[0]))
    item = json.loads(res.stdout.splitlines()[0])
    assert item["lines"] == 120 and item["pixel_spacing_m"] == 80
    assert 0.3 < item["valid_fraction"] <= 1.0
    assert set(item["sod_histogram"]) == {"open water", "new ice", "young ice",
                                          "thin first-year ice", "thick first-year ice",
                                          "old ice", "ignore"}
    assert sum(item["sod_histogram"].values()) == 120 * 160


def test_synth_raw_and_bad_size(tmp_path: Path) -> None:
    res = run("data", "synth", "--out", str(tmp_path / "raw"), "--scenes", "1", "--size", "64",
              "64", "--raw")
    assert res.returncode == 0, res.stderr
    files = list((tmp_path / "raw").glob("*.nc"))
    assert len(files) == 1 and not files[0].name.endswith("_prep.nc")
    res = run("data", "synth", "--out", str(tmp_path / "x"), "--size", "4", "64")
    assert res.returncode != 0 and res.stderr.startswith("error:")
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").iterdir())


@pytest.mark.parametrize("command", [
    ["data", "synth", "--scenes", "1", "--size", "64", "64", "--out"],
    ["train", "--config", "demo", "--out"],
    ["sweep", "--budget", "300", "--quiet", "--out", "{tmp}/s.json", "--workdir"],
])
def test_an_output_under_a_file_is_one_error_line(command, tmp_path: Path, capsys) -> None:
    """A regular file where a folder must go: the user's file stays, no internal error."""
    from helpers import run_main

    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    args = [a.replace("{tmp}", str(tmp_path)) for a in command] + [str(blocker / "sub")]
    res = run_main(capsys, *args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "internal" not in lines[0]
    assert "notes.txt is a file, not a folder" in lines[0], lines
    assert blocker.read_text() == "keep me" and sorted(tmp_path.iterdir()) == [blocker]


def _bad_files(root: Path) -> dict[str, tuple[Path, str]]:
    """Each bad input -> (file, text its error line must contain)."""
    ds = generate_scene((64, 64), seed=2)
    good = write_scene(ds, root / "good_prep.nc")
    files: dict[str, tuple[Path, str]] = {"missing path": (root / "absent_prep.nc", "no such file")}
    text = root / "notes_prep.nc"
    text.write_text("this is not a NetCDF file\n")
    files["not NetCDF"] = (text, "not a NetCDF file")
    data = good.read_bytes()
    trunc = root / "trunc_prep.nc"
    trunc.write_bytes(data[: len(data) // 2])
    files["truncated"] = (trunc, "truncated")
    write_scene(ds.drop_vars(L.HV), root / "nohv_prep.nc")
    files["missing variable"] = (root / "nohv_prep.nc", f"missing variable {L.HV}")
    swapped = ds.copy()
    swapped[L.HH] = ((L.SAR_DIMS[1], L.SAR_DIMS[0]), ds[L.HH].values.T)
    write_scene(swapped, root / "dims_prep.nc")
    files["wrong dimensions"] = (root / "dims_prep.nc", "has dimensions (sar_samples, sar_lines)")
    nan = ds.copy()
    nan[L.HH] = (L.SAR_DIMS, np.full((64, 64), np.nan, np.float32))
    write_scene(nan, root / "nan_prep.nc")
    files["all-NaN SAR"] = (root / "nan_prep.nc", f"{L.HH} has no valid pixel")
    bad = ds.copy()
    sod = ds["SOD"].values.copy()
    sod[:3, :3] = 9
    bad["SOD"] = (L.SAR_DIMS, sod, ds["SOD"].attrs)
    write_scene(bad, root / "labels_prep.nc")
    files["label out of table"] = (root / "labels_prep.nc",
                                   "SOD has values outside the class table")
    return files


@pytest.mark.parametrize("problem", ["missing path", "not NetCDF", "truncated", "missing variable",
                                     "wrong dimensions", "all-NaN SAR", "label out of table"])
def test_bad_input_gives_one_error_line(problem: str, tmp_path: Path, capsys) -> None:
    """Through cli.main in this process (test_good_and_bad_files_together runs the real
    ``python -m tinyicenet`` on the same files)."""
    from helpers import run_main

    path, expected = _bad_files(tmp_path)[problem]
    res = run_main(capsys, "data", "info", str(path))
    assert res.returncode != 0
    assert "Traceback" not in res.stderr + res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and str(path) in lines[0] and expected in lines[0], lines


def test_good_and_bad_files_together(tmp_path: Path) -> None:
    files = _bad_files(tmp_path)
    res = run("data", "info", str(tmp_path / "good_prep.nc"), str(files["truncated"][0]),
              str(files["missing path"][0]))
    assert res.returncode != 0
    stamp = generate_scene((64, 64), seed=2).attrs["scene_id"][:15]
    assert stamp in res.stdout  # the good file is still summarised
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 2 and "Traceback" not in res.stderr

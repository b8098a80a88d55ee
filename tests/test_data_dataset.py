"""AI4ArcticDataset (TorchGeo style) and plot()."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from tinyicenet.data import AI4ArcticDataset, DatasetNotFoundError, plot
from tinyicenet.data import layout as L


def test_scenes_as_samples(sample_scene_dir: Path) -> None:
    ds = AI4ArcticDataset(sample_scene_dir, charts=("SOD", "FLOE"))
    assert len(ds) == 3 and "scenes=3" in repr(ds)
    sample = ds[0]
    assert sample["image"].shape == (2, 120, 120) and sample["image"].dtype == torch.float32
    assert sample["SOD"].dtype == torch.int64 and sample["FLOE"].shape == (120, 120)
    assert sample["meta"]["pixel_spacing"] == 400
    assert ds.scene(0) is ds.scene(0)  # cached
    assert ds[-1]["meta"]["path"] == str(ds.files[-1])
    with pytest.raises(IndexError):
        ds[3]


def test_reference_labels_beside_test_inputs(sample_scene_dir: Path, tmp_path: Path) -> None:
    """Test inputs have no labels; a *_prep_reference.nc beside them provides them."""
    import xarray as xr

    src = sorted(sample_scene_dir.glob("*_prep.nc"))[0]
    with xr.open_dataset(src, mask_and_scale=False) as full:
        inputs = full.drop_vars(list(L.CHARTS)).load()
        reference = full[list(L.CHARTS)].load()
    inputs.to_netcdf(tmp_path / src.name)
    reference.to_netcdf(tmp_path / src.name.replace("_prep.nc", "_prep_reference.nc"))
    ds = AI4ArcticDataset(tmp_path)
    assert len(ds) == 1  # the reference file is not a scene of its own
    expected = AI4ArcticDataset(sample_scene_dir)[0]["SOD"]
    assert torch.equal(ds[0]["SOD"], expected)
    (tmp_path / "unlabelled").mkdir()
    inputs.to_netcdf(tmp_path / "unlabelled" / src.name)
    unlabelled = AI4ArcticDataset(tmp_path / "unlabelled", charts=())
    assert set(unlabelled[0]) == {"image", "valid", "meta"}


def test_raw_folder_and_patches(raw_scene_dir: Path) -> None:
    ds = AI4ArcticDataset(raw_scene_dir, downsample=2)
    assert ds[0]["meta"]["kind"] == "raw" and ds[0]["meta"]["pixel_spacing"] == 80
    patches = ds.patches(patch_size=64, length=4, seed=1)
    s = patches[2]
    assert s["image"].shape == (2, 64, 64) and (s["SOD"] != 255).sum() >= 2
    lazy = ds.patches(patch_size=64, length=4, seed=1, lazy=True)
    assert torch.equal(lazy[2]["SOD"], s["SOD"])


def test_missing_data_says_what_to_do(tmp_path: Path, sample_scene_dir: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="tinyicenet data synth"):
        AI4ArcticDataset(tmp_path / "nowhere")
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no AI4Arctic scene files"):
        AI4ArcticDataset(tmp_path, split="train")
    shutil.copy(sorted(sample_scene_dir.glob("*.nc"))[0], tmp_path / "train")
    assert len(AI4ArcticDataset(tmp_path, split="train")) == 1


def test_plot_returns_a_figure(sample_scene_dir: Path) -> None:
    ds = AI4ArcticDataset(sample_scene_dir, charts=("SOD",))
    sample = ds[1]
    fig = ds.plot(sample)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3  # HH, HV, SOD
    sample["prediction"] = torch.zeros((6, 120, 120)).index_fill_(0, torch.tensor([2]), 1.0)
    fig2 = plot(sample)
    assert len(fig2.axes) == 4
    shown = fig2.axes[3].images[0].get_array()
    assert np.all(np.asarray(shown) == 2)


def test_torchgeo_image_mask_keys(sample_scene_dir: Path) -> None:
    """TorchGeo's segmentation samples are {"image": float [C, H, W], "mask": long [H, W]}."""
    from torch.utils.data import default_collate

    ds = AI4ArcticDataset(sample_scene_dir, charts=("FLOE", "SOD"))
    sample = ds[0]
    assert sample["mask"] is sample["FLOE"]  # the first chart, not a copy
    assert sample["mask"].dtype == torch.long and sample["mask"].shape == sample["image"].shape[1:]
    batch = default_collate([{k: s[k] for k in ("image", "mask")} for s in (ds[0], ds[1])])
    assert batch["mask"].shape == (2, 120, 120) and torch.equal(batch["mask"][1], ds[1]["FLOE"])
    assert "mask" not in AI4ArcticDataset(sample_scene_dir, charts=())[0]

"""Random training patches: shapes, rejection of unlabelled windows, reproducibility, lazy reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tinyicenet.data.patches import LazyScene, MemoryScene, PatchSampler, RandomPatches
from tinyicenet.data.scene import DataWarning, load_scene
from tinyicenet.errors import DataError


def _scene(h: int = 100, w: int = 100, labelled: tuple[slice, slice] | None = None) -> dict:
    """A hand-made loaded scene whose SOD labels exist only inside ``labelled``."""
    rng = np.random.default_rng(0)
    sod = np.full((h, w), 255, np.uint8)
    if labelled is not None:
        sod[labelled] = 3
    return {"image": rng.standard_normal((2, h, w)).astype(np.float32),
            "valid": np.ones((h, w), bool), "SOD": sod, "meta": {"scene_id": "hand-made"}}


def test_patches_without_labels_are_rejected() -> None:
    scene = _scene(labelled=(slice(40, 52), slice(30, 42)))  # labels only in a 12 x 12 square
    patches = RandomPatches([scene], patch_size=16, length=30, seed=3)
    for i in range(len(patches)):
        s = patches.sample(i)
        assert int((s["SOD"] != 255).sum()) >= 2
        assert 40 - 16 < s["row"] < 52 and 30 - 16 < s["col"] < 42
    # a single labelled pixel is not enough (starter kit: reject <= 1)
    one = _scene(labelled=(slice(50, 51), slice(50, 51)))
    with pytest.raises(DataError, match="labelled"):
        RandomPatches([one], patch_size=16, length=1)
    # two labelled pixels too far apart for one window: no patch, and an error, not a loop
    apart = _scene()
    apart["SOD"][0, 0] = apart["SOD"][99, 99] = 3
    with pytest.raises(DataError, match="no 16 x 16 patch"):
        RandomPatches([MemoryScene(apart)], patch_size=16, length=1).sample(0)


def test_samples_are_dicts_of_tensors_and_reproducible(sample_scene_files: list[Path]) -> None:
    scenes = [load_scene(p, charts=["SOD", "SIC"]) for p in sample_scene_files]
    a = RandomPatches(scenes, patch_size=64, length=8, charts=("SOD", "SIC"), seed=5)
    b = RandomPatches(scenes, patch_size=64, length=8, charts=("SOD", "SIC"), seed=5)
    s = a[3]
    assert s["image"].dtype == torch.float32 and s["image"].shape == (2, 64, 64)
    assert s["SOD"].dtype == torch.int64 and s["SOD"].shape == (64, 64)
    assert s["SIC"].dtype == torch.int64 and s["valid"].dtype == torch.bool
    assert torch.equal(a[3]["image"], b[3]["image"])
    assert torch.equal(a[3]["SOD"], b[3]["SOD"])
    a.set_epoch(1)
    assert not all(torch.equal(a[i]["image"], b[i]["image"]) for i in range(8))
    batch = torch.utils.data.default_collate([a[i] for i in range(4)])
    assert batch["image"].shape == (4, 2, 64, 64)
    # patches larger than the scene are padded (image 0, labels 255), with a warning
    with pytest.warns(DataWarning, match=r"smaller than the 160 px patch.* 120x120"):
        big = RandomPatches(scenes[:1], patch_size=160, length=1, seed=0)[0]
    assert big["image"].shape == (2, 160, 160)
    assert (big["SOD"][120:, :] == 255).all() and (big["image"][:, 120:, :] == 0).all()


def test_transforms_run_last() -> None:
    scene = _scene(labelled=(slice(0, 100), slice(0, 100)))

    def flip(sample: dict) -> dict:
        return {k: torch.flip(v, dims=[-1]) for k, v in sample.items()}

    plain = RandomPatches([scene], 32, 2, seed=1)[0]
    flipped = RandomPatches([scene], 32, 2, seed=1, transforms=flip)[0]
    assert torch.equal(flipped["image"], torch.flip(plain["image"], dims=[-1]))


def test_lazy_windows_equal_in_memory_windows(sample_scene_files: list[Path]) -> None:
    path = sample_scene_files[0]
    memory = MemoryScene(load_scene(path, charts=["SOD"]))
    lazy = LazyScene(path, charts=["SOD"])
    assert lazy.shape == memory.shape == (120, 120)
    for row, col, size in ((0, 0, 32), (40, 64, 48), (100, 100, 20)):
        a = memory.window(row, col, size, size, ("SOD",))
        b = lazy.window(row, col, size, size, ("SOD",))
        np.testing.assert_array_equal(a["valid"], b["valid"])
        np.testing.assert_array_equal(a["SOD"], b["SOD"])
        np.testing.assert_allclose(a["image"], b["image"], atol=1e-5)
    patches = RandomPatches([lazy], patch_size=48, length=3, seed=2)
    assert patches[0]["image"].shape == (2, 48, 48)


def test_one_sampler_draws_the_same_patches_from_memory_and_from_the_file(
        sample_scene_files: list[Path]) -> None:
    path = sample_scene_files[0]
    scene = load_scene(path, charts=["SOD"])
    memory = PatchSampler([scene], ["SOD"], 40, min_labelled=0.2, keep_valid=True)
    lazy = PatchSampler([LazyScene(path, charts=["SOD"])], ["SOD"], 40, min_labelled=0.2,
                        keep_valid=True)
    np.testing.assert_array_equal(memory.scenes[0].labelled_sum, lazy.scenes[0].labelled_sum)
    a_img, a_lab, _ = memory.batch(seed=4, epoch=0, step=3, batch=5)
    b_img, b_lab, _ = lazy.batch(seed=4, epoch=0, step=3, batch=5)
    assert torch.equal(a_lab["SOD"], b_lab["SOD"]) and torch.equal(a_lab["valid"], b_lab["valid"])
    torch.testing.assert_close(a_img, b_img, atol=1e-5, rtol=0)
    (s, r, c), = memory.windows(1, torch.Generator().manual_seed(0))
    _, lab = memory.crop([(s, r, c)])
    np.testing.assert_array_equal(lab["valid"][0].numpy(), scene["valid"][r:r + 40, c:c + 40])
    assert (lab["SOD"][0] != 255).float().mean() >= 0.2

"""Training pieces (augmentation, seeded patches, class weights) and a tiny float -> QAT run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from tinyicenet.data.scene import DataWarning
from tinyicenet.train import load_config, run_training
from tinyicenet.train.augment import apply_codes, augment_batch, draw_codes
from tinyicenet.train.patches import PatchSampler, class_histogram
from tinyicenet.train.trainer import _class_weights

TINY = ["model.widths=[4, 8]", "data.patch=16", "train.batch=4", "train.steps_per_epoch=3",
        "train.float_epochs=1", "train.qat_epochs=1", "train.threads=1", "train.device=cpu",
        "data.val_count=1", "eval.tile=64", "eval.halo=8"]


def tiny_config(scene_dir, *extra: str):
    return load_config("default", [f"data.train={scene_dir}", *TINY, *extra])


# ---- augmentation ---------------------------------------------------------------------------

def _batch(n: int = 32, p: int = 8):
    g = torch.Generator().manual_seed(0)
    image = torch.randn((n, 2, p, p), generator=g)
    labels = {"SOD": torch.randint(0, 6, (n, p, p), generator=g)}
    return image, labels


def test_augmentation_is_a_dihedral_transform_shared_by_image_and_labels() -> None:
    image, labels = _batch()
    # the label is a function of the pixel value, so image and label must move together
    labels["SOD"] = (image[:, 0] * 1000).round().long()
    out_img, out_lab = augment_batch(image, labels, torch.Generator().manual_seed(1))
    codes = draw_codes(32, torch.Generator().manual_seed(1))
    assert len(set(codes)) > 4  # several transforms drawn
    for i, code in enumerate(codes):
        candidates = []
        for k in range(4):
            for flip in (None, (-1,), (-2,), (-1, -2)):
                x = image[i] if flip is None else torch.flip(image[i], flip)
                candidates.append(torch.rot90(x, k, dims=(-2, -1)))
        assert any(torch.equal(out_img[i], c) for c in candidates)
        assert torch.equal(out_lab["SOD"][i], (out_img[i, 0] * 1000).round().long())
        if code == 0:
            assert torch.equal(out_img[i], image[i])


def test_augmentation_options() -> None:
    image, labels = _batch()
    same_img, same_lab = augment_batch(image, labels, torch.Generator(), flips=False, rot90=False)
    assert same_img is image and same_lab is labels
    codes = draw_codes(64, torch.Generator().manual_seed(3), flips=False, rot90=True)
    assert all(c < 4 for c in codes) and len(set(codes)) == 4
    codes = draw_codes(64, torch.Generator().manual_seed(3), flips=True, rot90=False)
    assert all(c % 4 == 0 for c in codes)
    with pytest.raises(ValueError):
        apply_codes(image, labels, [0, 1])


# ---- patches --------------------------------------------------------------------------------

def _scenes():
    rng = np.random.default_rng(0)
    scenes = []
    for h, w in ((40, 50), (30, 30)):
        lab = rng.integers(0, 6, (h, w)).astype(np.uint8)
        lab[: h // 2] = 255  # the top half is unlabelled
        scenes.append({"image": rng.standard_normal((2, h, w)).astype(np.float32), "SOD": lab,
                       "meta": {"scene_id": f"s{h}"}})
    return scenes


def test_patches_are_seeded_windows_of_the_scenes() -> None:
    scenes = _scenes()
    sampler = PatchSampler(scenes, ["SOD"], 16, min_labelled=0.3)
    a_img, a_lab, _ = sampler.batch(seed=5, epoch=2, step=7, batch=6)
    b_img, b_lab, _ = sampler.batch(seed=5, epoch=2, step=7, batch=6)
    c_img, _, _ = sampler.batch(seed=5, epoch=2, step=8, batch=6)
    assert torch.equal(a_img, b_img) and torch.equal(a_lab["SOD"], b_lab["SOD"])
    assert not torch.equal(a_img, c_img)
    assert a_img.shape == (6, 2, 16, 16) and a_lab["SOD"].dtype == torch.int64
    windows = sampler.windows(6, torch.Generator().manual_seed(0))
    img, lab = sampler.crop(windows)
    for i, (s, r, c) in enumerate(windows):
        np.testing.assert_array_equal(img[i].numpy(), scenes[s]["image"][:, r:r + 16, c:c + 16])
        np.testing.assert_array_equal(lab["SOD"][i].numpy(), scenes[s]["SOD"][r:r + 16, c:c + 16])
        assert (lab["SOD"][i] != 255).float().mean() >= 0.3


def test_ranks_partition_the_global_batch() -> None:
    sampler = PatchSampler(_scenes(), ["SOD"], 8)
    whole, whole_lab, _ = sampler.batch(1, 0, 0, batch=6, rank=0, world_size=1)
    r0, _, _ = sampler.batch(1, 0, 0, batch=3, rank=0, world_size=2)
    r1, _, _ = sampler.batch(1, 0, 0, batch=3, rank=1, world_size=2)
    assert torch.equal(r0, whole[0::2]) and torch.equal(r1, whole[1::2])


def test_small_scene_is_padded_to_the_patch() -> None:
    scene = {"image": np.ones((2, 5, 6), np.float32), "SOD": np.full((5, 6), 3, np.uint8)}
    with pytest.warns(DataWarning, match=r"1 scene\(s\) smaller than the 8 px patch.*scene 5x6"):
        sampler = PatchSampler([scene], ["SOD"], 8, min_labelled=0.0)
    img, lab, _ = sampler.batch(0, 0, 0, 2)
    assert img.shape == (2, 2, 8, 8)
    assert int((lab["SOD"] == 3).sum()) == 2 * 30 and int((lab["SOD"] == 255).sum()) == 2 * 34


def test_class_histogram_and_weights() -> None:
    scenes = _scenes()
    hist = class_histogram(scenes, "SOD", 6)
    labelled = sum(int((s["SOD"] != 255).sum()) for s in scenes)
    assert hist.sum() == labelled
    assert _class_weights(hist, "none", torch.device("cpu")) is None
    w = _class_weights(np.array([300, 100, 0, 600]), "balanced", torch.device("cpu"))
    # N / (K n_c) over the 3 present classes; an absent class gets 0
    np.testing.assert_allclose(w.numpy(), [1000 / 900, 1000 / 300, 0, 1000 / 1800], rtol=1e-6)
    s = _class_weights(np.array([300, 100, 0, 600]), "sqrt", torch.device("cpu"))
    np.testing.assert_allclose(s.numpy(), np.sqrt(w.numpy()), rtol=1e-6)


# ---- a tiny run -----------------------------------------------------------------------------

def test_tiny_run_writes_checkpoints_and_metrics(sample_scene_dir, tmp_path) -> None:
    from tinyicenet.models import load_checkpoint

    cfg = tiny_config(sample_scene_dir, "train.class_weights=balanced")
    result = run_training(cfg, tmp_path / "run", quiet=True)
    run = tmp_path / "run"
    assert result.complete and result.final == run / "final.pt"
    assert {"config.yaml", "last.pt", "float.pt", "final.pt", "metrics.csv",
            "metrics.json"} <= {p.name for p in run.iterdir()}
    assert not [p for p in run.iterdir() if ".part" in p.name]  # no temporaries left

    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [r["phase"] for r in rows] == ["float", "qat"]
    assert [r["model"] for r in rows] == ["tinyicenet_float", "tinyicenet_w4a4"]
    for r in rows:
        assert float(r["loss"]) > 0 and float(r["samples_per_s"]) > 0 and float(r["lr"]) > 0
        assert 0.0 <= float(r["val_sod_f1"]) <= 100.0
    assert json.loads((run / "metrics.json").read_text())["epochs"][1]["phase"] == "qat"

    model, ckpt = load_checkpoint(run / "final.pt")
    assert model.name == "tinyicenet_w4a4" and model.quantized
    assert ckpt["phase"] == "qat" and ckpt["epoch"] == 2
    assert ckpt["config"]["model"]["widths"] == [4, 8]
    stats = ckpt["data_stats"]
    assert len(stats["train_scenes"]) == 2 and len(stats["val_scenes"]) == 1
    assert sum(stats["class_histogram"]["SOD"]) > 0
    twin, twin_ckpt = load_checkpoint(run / "float.pt")
    assert twin.name == "tinyicenet_float" and twin_ckpt["phase"] == "float"
    last = torch.load(run / "last.pt", weights_only=True)
    assert {"optimizer", "scheduler", "rng", "history"} <= set(last)
    with torch.no_grad():
        x = torch.zeros((1, 2, 16, 16))
        assert model(x).shape == (1, 6, 16, 16)


def test_float_model_has_one_phase(sample_scene_dir, tmp_path) -> None:
    cfg = tiny_config(sample_scene_dir, "model.name=tinyicenet_float_noskip",
                      "train.qat_epochs=0", "augment.rot90=false")
    result = run_training(cfg, tmp_path / "run", quiet=True)
    assert result.float_twin is None and not (tmp_path / "run" / "float.pt").exists()
    assert [r["phase"] for r in result.history] == ["float"]

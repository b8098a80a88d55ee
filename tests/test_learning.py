"""Learning, tested: a short training on generated scenes beats the majority-class baseline on
held-out scenes by a stated margin (SOD weighted F1, AutoICE scoring on the 80 m chart grid).

The baseline is the strongest constant prediction: the held-out reference's own most frequent
class everywhere (it sees the test labels, so it is an upper bound for any constant model)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import f1_score

#: The model must beat predicting the training set's most frequent SOD class everywhere by at
#: least this many points of weighted F1 on held-out scenes.
MARGIN_POINTS = 10.0


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    from tinyicenet.data.synth import write_scenes
    return write_scenes(tmp_path_factory.mktemp("heldout"), 2, size=(400, 400), seed=77)


@pytest.mark.slow  # ~30 s of training on 2 quiet cores (160 Adam steps of 16 x 32 x 32 patches)
def test_training_beats_the_majority_class_baseline(sample_scene_dir, held_out, tmp_path) -> None:
    import xarray as xr

    from tinyicenet.evaluate import evaluate
    from tinyicenet.train import load_config, run_training

    cfg = load_config("default", [
        f"data.train={sample_scene_dir}", "data.val_count=0", "data.patch=32",
        "model.name=tinyicenet_float", "model.widths=[8, 16, 32]", "model.charts=[SOD]",
        "train.batch=16", "train.steps_per_epoch=40", "train.float_epochs=4",
        "train.qat_epochs=0", "train.threads=2", "train.device=cpu", "optim.lr=3e-3",
        "seed=0"])
    result = run_training(cfg, tmp_path / "run", quiet=True)
    scores = evaluate(result.final, held_out, tile=128, device="cpu")
    model_f1 = scores["scores"]["SOD"]

    refs = []
    for path in held_out:
        with xr.open_dataset(path) as ds:
            sod = ds["SOD"].values
        refs.append(sod[sod != 255])
    ref = np.concatenate(refs)
    majority = int(np.bincount(ref, minlength=6).argmax())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = 100 * f1_score(ref, np.full_like(ref, majority), average="weighted")
    assert scores["pixels"]["SOD"] == ref.size
    print(f"held-out SOD weighted F1: model {model_f1:.1f}, majority class {baseline:.1f}")
    assert model_f1 >= baseline + MARGIN_POINTS, (model_f1, baseline)

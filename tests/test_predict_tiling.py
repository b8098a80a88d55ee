"""Whole-scene inference with halo tiles: seams must not change the result.

The reference is one forward pass over the whole scene (zero-padded to a multiple of the model
stride). The integer model must match it to the last bit; the float model in class ids.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyicenet.models import calibrate, create_model
from tinyicenet.data.tiling import fitted_tile, model_halo, receptive_radius, run_tiled
from tinyicenet.errors import ConfigError
from tinyicenet.predict.runner import DEFAULT_HALO, ModelInfo, logits_to_classes


def _float_run(model: torch.nn.Module):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    return run


@pytest.fixture(scope="module")
def int_model():
    """A calibrated, randomly initialised w4a4 TinyIceNet as the integer reference model."""
    from tinyicenet.export.intref import from_brevitas

    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4").eval()
    calibrate(model, [torch.randn(2, 2, 64, 64) for _ in range(3)])
    return from_brevitas(model)


def _whole(run, image: np.ndarray, stride: int = 4) -> np.ndarray:
    """One pass over the whole scene (zero-padded to a multiple of the stride), cropped back."""
    h, w = image.shape[1:]
    padded = np.pad(image, ((0, 0), (0, -h % stride), (0, -w % stride)))
    return run(padded[None])[0][:, :h, :w]


def _scene(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.normal(size=(2, h, w)).astype(np.float32)
    img[:, : h // 7, : w // 5] = 0.0  # a no-data corner, as the loader leaves it
    return img


def test_receptive_radius_of_the_default_network_fits_the_halo():
    """Measure the reach: with positive weights every ReLU passes, so one perturbed input pixel
    changes exactly the outputs inside its receptive field."""
    torch.manual_seed(1)
    model = create_model("tinyicenet_float").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand_like(p) * 0.1 + 0.01)
    run = _float_run(model)
    phases = [(dy, dx) for dy in range(4) for dx in range(4)]  # both pooling levels' phases
    x = np.zeros((len(phases) + 1, 2, 64, 64), np.float32)
    for k, (dy, dx) in enumerate(phases, start=1):
        x[k, 0, 28 + dy, 28 + dx] = 1.0
    y = run(x)
    reach = 0
    for k, (dy, dx) in enumerate(phases, start=1):
        changed = np.argwhere(np.abs(y[k] - y[0]).max(axis=0) > 0)
        reach = max(reach, int(np.abs(changed - [28 + dy, 28 + dx]).max()))
    assert reach == receptive_radius(2) == 13
    assert reach <= DEFAULT_HALO
    info = ModelInfo("m", ("SOD",), (6,), ("a", "b"), stride=4, radius=receptive_radius(2))
    assert info.halo == DEFAULT_HALO
    deeper = ModelInfo("m", ("SOD",), (6,), ("a", "b"), stride=8, radius=receptive_radius(3))
    assert deeper.halo == 32  # 29 rounded up to the stride: the halo grows with the network


def _reach(model: torch.nn.Module, size: int, stride: int) -> int:
    """Largest distance from a perturbed input pixel to an output it changes (positive
    weights: every ReLU passes), over all pooling phases."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand_like(p) * 0.1 + 0.01)
    run = _float_run(model)
    c = size // 2
    phases = [(dy, dx) for dy in range(stride) for dx in range(stride)]
    x = np.zeros((len(phases) + 1, 2, size, size), np.float32)
    for k, (dy, dx) in enumerate(phases, start=1):
        x[k, 0, c + dy, c + dx] = 1.0
    y = run(x)
    reach = 0
    for k, (dy, dx) in enumerate(phases, start=1):
        changed = np.argwhere(np.abs(y[k] - y[0]).max(axis=0) > 1e-7)
        reach = max(reach, int(np.abs(changed - [c + dy, c + dx]).max()))
    return reach


def test_four_level_model_radius_and_tiled_equals_untiled():
    """A 4-width (3-pool, radius 29) model: the halo comes from its receptive radius, and tiled
    inference equals one pass; a too-small requested halo is refused."""
    torch.manual_seed(7)
    deep = create_model("tinyicenet_float", widths=(8, 8, 8, 8)).eval()
    assert deep.stride == 8
    assert _reach(deep, 96, 8) == receptive_radius(3) == 29
    halo = model_halo(deep.stride)
    assert halo == 32
    with pytest.raises(ConfigError, match="receptive radius 29"):
        model_halo(deep.stride, 16)
    torch.manual_seed(8)
    deep = create_model("tinyicenet_float", widths=(8, 8, 8, 8)).eval()
    image = _scene(203, 261, seed=9)
    run = _float_run(deep)
    tiled = run_tiled(run, image, tile=128, halo=halo, align=8)
    whole = _whole(run, image, stride=8)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)
    seams = run_tiled(run, image, tile=128, halo=16, align=8)  # the old fixed halo
    assert np.abs(seams - whole).max() > 1e-4  # >10x the tolerance above: real seams


def test_tiled_equals_untiled_on_a_one_tile_scene(int_model):
    image = _scene(150, 190, seed=2)
    whole = _whole(int_model, image)
    np.testing.assert_array_equal(run_tiled(int_model, image, tile=256), whole)
    # the same scene cut into 2 x 3 tiles of 96 px (64 px cores)
    np.testing.assert_array_equal(run_tiled(int_model, image, tile=96), whole)


def test_tile_fitted_to_a_small_scene():
    assert fitted_tile((150, 600), 256, 16, 4) == 152  # no tile reaches beyond the scene
    assert fitted_tile((1000, 1000), 256, 16, 4) == 256
    assert fitted_tile((30, 500), 256, 16, 4) == 256  # too small for a core: pad to the tile


def test_tiled_equals_whole_scene_integer_across_many_seams(int_model):
    image = _scene(201, 283, seed=3)  # 4 x 5 tiles of 64 px cores, ragged last row/column
    calls = []
    tiled = run_tiled(lambda x: calls.append(x.shape) or int_model(x), image, tile=96,
                           halo=16, align=4, batch=6)
    assert sum(c[0] for c in calls) == 20 and calls[0][1:] == (2, 96, 96)  # really tiled
    whole = _whole(int_model, image)
    assert tiled.shape == (6, 201, 283)
    np.testing.assert_array_equal(tiled, whole)


def test_a_halo_below_the_receptive_field_shows_seams(int_model):
    """The equality above is not automatic: 4 px of context change the output at the seams."""
    image = _scene(200, 200, seed=4)
    thin = run_tiled(int_model, image, tile=48, halo=4, align=4)
    assert (thin != _whole(int_model, image)).any()


def test_tiled_equals_whole_scene_float_class_ids():
    torch.manual_seed(5)
    model = create_model("tinyicenet_float").eval()
    run = _float_run(model)
    image = _scene(230, 300, seed=6)
    valid = np.ones(image.shape[1:], bool)
    valid[:10] = False
    tiled = run_tiled(run, image, tile=128, halo=16, align=4)
    whole = _whole(run, image)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)
    a = logits_to_classes(tiled, ("SOD",), (6,), valid)["SOD"]
    b = logits_to_classes(whole, ("SOD",), (6,), valid)["SOD"]
    np.testing.assert_array_equal(a, b)
    assert (a[:10] == 255).all() and a[10:].max() < 6

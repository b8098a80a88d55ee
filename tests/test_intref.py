"""The integer reference equals the Brevitas model exactly, and the comparison has teeth."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch

from tinyicenet.errors import DataError, ExportError
from tinyicenet.export import intref
from tinyicenet.export.intref import from_brevitas, load_intref, save_intref
from tinyicenet.models import calibrate, create_model

CONFIGS = ["tinyicenet_w8a8", "tinyicenet_w4a4", "tinyicenet_w3a3", "tinyicenet_w2a2",
           "tinyicenet_w8a8_noskip", "tinyicenet_w4a4_noskip", "tinyicenet_w3a3_noskip",
           "tinyicenet_w2a2_noskip"]
_CACHE: dict[str, torch.nn.Module] = {}


def trained(name: str, widths=(16, 32, 64)) -> torch.nn.Module:
    """A calibrated model after a few Adam steps, so scales and weights are not at their init."""
    key = f"{name}{widths}"
    if key not in _CACHE:
        torch.manual_seed(0)
        model = create_model(name, widths=widths, charts=("SOD", "FLOE"))
        g = torch.Generator().manual_seed(1)
        calibrate(model, [torch.randn(4, 2, 32, 32, generator=g) for _ in range(2)])
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(5):
            x = torch.randn(4, 2, 32, 32, generator=g)
            target = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0.5).long()
            loss = torch.nn.functional.cross_entropy(model(x)[:, :6], target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        _CACHE[key] = model.eval()
    return _CACHE[key]


def brevitas_codes(model, x: np.ndarray, im) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy().astype(np.float64)
    codes = out * 2.0 ** -im.output_exp
    assert np.array_equal(codes, np.round(codes))  # Brevitas output is on the integer grid
    return codes.astype(np.int64)


@pytest.mark.parametrize("name", CONFIGS)
def test_equals_brevitas_on_fresh_random_inputs(name):
    model = trained(name)
    im = from_brevitas(model)
    assert im.float32_exact()  # Brevitas' float32 simulation is exact for these weights
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # not the training inputs; stable seed
    x = (rng.standard_normal((3, 2, 48, 64)) * rng.uniform(0.5, 4)).astype(np.float32)
    x[0, :, :8] = 50.0  # saturating input
    q = im.run_int(im.quantize_input(x))
    ref = brevitas_codes(model, x, im)
    assert q.shape == (3, 13, 48, 64)
    assert int((q != ref).sum()) == 0
    assert len(np.unique(q)) >= 4  # not a degenerate constant output
    np.testing.assert_array_equal(im(x), torch.from_numpy(ref * 2.0 ** im.output_exp).float())


def test_layer_structure_default_graph():
    im = from_brevitas(trained("tinyicenet_w4a4"))
    ops = [(lay.name, lay.op, lay.inputs) for lay in im.layers]
    assert ops == [
        ("input", "quantize", ["x"]), ("enc0", "conv", ["input"]), ("pool0", "maxpool", ["enc0"]),
        ("enc1", "conv", ["pool0"]), ("pool1", "maxpool", ["enc1"]),
        ("bottleneck", "conv", ["pool1"]), ("up1", "upsample", ["bottleneck"]),
        ("cat1", "concat", ["up1", "enc1"]), ("dec1", "conv", ["cat1"]),
        ("up0", "upsample", ["dec1"]), ("cat0", "concat", ["up0", "enc0"]),
        ("dec0", "conv", ["cat0"]), ("head", "conv", ["dec0"])]
    dec1 = im.layers[8]
    assert dec1.weight.dtype == np.int8 and dec1.weight.shape == (32, 96, 3, 3)
    assert dec1.bias.dtype == np.int32 and dec1.bias.shape == (32,)
    assert np.abs(dec1.weight).max() <= 7 and dec1.weight_bits == 4
    assert dec1.shift == dec1.out_exp - dec1.in_exp - dec1.weight_exp
    assert dec1.relu and not dec1.out_signed and dec1.out_range == (0, 15)
    head = im.layers[-1]
    assert not head.relu and head.out_signed and head.out_range == (-128, 127)
    assert head.kernel == 1 and head.padding == 0 and head.channels == 13
    assert im.tensors["up1"]["exp"] == im.tensors["enc1"]["exp"]  # shared quantizer
    assert im.input_bits == 8 and im.stride == 4
    assert np.abs(dec1.bias).max() > 0
    noskip = from_brevitas(trained("tinyicenet_w4a4_noskip"))
    assert "concat" not in [lay.op for lay in noskip.layers]


@pytest.mark.parametrize("name", ["tinyicenet_w8a8", "tinyicenet_w3a3"])
def test_float_shortcuts_equal_pure_integer_conv(name):
    im = from_brevitas(trained(name))
    x = np.random.default_rng(5).standard_normal((2, 2, 32, 32)).astype(np.float32) * 3
    q_in = im.quantize_input(x)
    ref = im.run_int(q_in, conv_impl="int64", keep=True)
    for impl in ("auto", "float64", "float32"):
        out = im.run_int(q_in, conv_impl=impl, keep=True)
        assert out.keys() == ref.keys()
        for k in ref:
            np.testing.assert_array_equal(out[k], ref[k], err_msg=f"{impl} {k}")


def test_float32_refuses_layers_beyond_its_exact_range():
    im = from_brevitas(trained("tinyicenet_w8a8"))
    im.conv_layers()[2].acc_bound = 2**24
    with pytest.raises(ExportError, match="not exact in float32"):
        im.run_int(np.zeros((1, 2, 16, 16), np.int16), conv_impl="float32")


def test_round_shift_is_half_even_and_exact():
    acc = np.array([-7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 5, 6, 7, 2**40 + 2], dtype=np.int64)
    np.testing.assert_array_equal(intref.round_shift(acc, 2),
                                  np.round(acc / 4.0).astype(np.int64))
    np.testing.assert_array_equal(intref.round_shift(acc, 1), np.round(acc / 2.0))
    np.testing.assert_array_equal(intref.round_shift(acc, -3), acc * 8)
    assert intref.round_shift(np.array([2**60 + 3]), 1)[0] == 2**59 + 2  # beyond float64


def test_teeth_wrong_exponent_or_rounding_is_detected(monkeypatch):
    model = trained("tinyicenet_w4a4")
    x = np.random.default_rng(9).standard_normal((2, 2, 32, 32)).astype(np.float32) * 2
    im = from_brevitas(model)
    ref = brevitas_codes(model, x, im)
    assert (im.run_int(im.quantize_input(x)) != ref).sum() == 0
    # a wrong exponent in one hidden layer
    dec0 = next(lay for lay in im.layers if lay.name == "dec0")
    dec0.shift += 1
    assert (im.run_int(im.quantize_input(x)) != ref).sum() > 100
    dec0.shift -= 1

    # round half away from zero (AP_RND_INF) instead of half to even (AP_RND_CONV)
    def half_away(acc, shift):
        if shift <= 0:
            return acc.astype(np.int64) << -shift
        mag = (np.abs(acc.astype(np.int64)) + (1 << (shift - 1))) >> shift
        return np.sign(acc) * mag

    monkeypatch.setattr(intref.arithmetic, "round_shift", half_away)
    assert (im.run_int(im.quantize_input(x)) != ref).sum() > 0


def test_teeth_wrong_input_rounding_is_detected():
    model = trained("tinyicenet_w8a8")
    im = from_brevitas(model)
    # inputs exactly on half-way points of the input grid
    e = im.input_exp
    rng = np.random.default_rng(3)
    x = ((rng.integers(-40, 40, (1, 2, 32, 32)) + 0.5) * 2.0 ** e).astype(np.float32)
    ref = brevitas_codes(model, x, im)
    good = im.run_int(im.quantize_input(x))
    assert (good != ref).sum() == 0
    away = np.clip(np.floor(x.astype(np.float64) * 2.0 ** -e + 0.5), -128, 127).astype(np.int16)
    assert (im.run_int(away) != ref).sum() > 0


def test_scene_equals_brevitas(sample_scene_files):
    from tinyicenet.data import load_scene

    scene = load_scene(sample_scene_files[0])
    image = scene["image"]
    h, w = (s // 4 * 4 for s in image.shape[1:])
    x = np.ascontiguousarray(image[None, :, :h, :w]).astype(np.float32)
    for name in ("tinyicenet_w4a4", "tinyicenet_w2a2_noskip"):
        model = trained(name)
        im = from_brevitas(model)
        q = im.run_int(im.quantize_input(x))
        ref = brevitas_codes(model, x, im)
        assert (q != ref).sum() == 0, name
        assert len(np.unique(q)) > 4


def test_save_load_round_trip(tmp_path):
    im = from_brevitas(trained("tinyicenet_w3a3", widths=(8, 16, 32)))
    path = save_intref(im, tmp_path / "m.npz")
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["format"] == "tinyicenet-intref" and meta["layers"][1]["op"] == "conv"
    assert meta["model"]["name"] == "tinyicenet_w3a3" and meta["output"]["bits"] == 8
    back = load_intref(path)
    x = np.random.default_rng(0).standard_normal((2, 2, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(back.run_int(back.quantize_input(x)),
                                  im.run_int(im.quantize_input(x)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.npz"]


def test_bad_files_and_inputs(tmp_path):
    im = from_brevitas(trained("tinyicenet_w3a3", widths=(8, 16, 32)))
    with pytest.raises(ExportError, match="not found"):
        load_intref(tmp_path / "none.npz")
    path = save_intref(im, tmp_path / "m.npz", sidecar=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError, match="corrupt or truncated"):
        load_intref(path)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ExportError, match="other.npz"):
        load_intref(tmp_path / "other.npz")
    with pytest.raises(ExportError, match=".npz"):
        save_intref(im, tmp_path / "m.bin")
    with pytest.raises(DataError, match="NaN"):
        im.quantize_input(np.full((1, 2, 8, 8), np.nan, np.float32))
    with pytest.raises(DataError, match=r"\[N, 2, H, W\]"):
        im.quantize_input(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(DataError, match="stride"):
        im.run_int(np.zeros((1, 2, 10, 8), np.int16))
    with pytest.raises(ExportError, match="float model"):
        from_brevitas(create_model("tinyicenet_float"))


def test_concat_of_different_exponents_is_refused():
    im = from_brevitas(trained("tinyicenet_w4a4", widths=(8, 16, 32)))
    layers = im.layers
    enc1 = next(lay for lay in layers if lay.name == "enc1")
    enc1.out_exp += 1
    with pytest.raises(ExportError, match="share one activation quantizer"):
        intref.IntModel(layers=layers, model=im.model)


def test_blas_results_are_checked_not_truncated(monkeypatch):
    """The float shortcut does not trust the CPU convolution algorithm: a result that is not an
    exact integer (what a Winograd/FFT path's rounding gives) raises, where astype(int64) used
    to truncate it silently; an out-of-bound sum raises too."""
    from tinyicenet.errors import VerificationError

    im = from_brevitas(trained("tinyicenet_w4a4"))
    q_in = im.quantize_input(np.random.default_rng(9).standard_normal((1, 2, 16, 16))
                             .astype(np.float32) * 3)
    exact = im.run_int(q_in, conv_impl="float32")
    real = torch.nn.functional.conv2d

    def transform_like(*args, **kwargs):  # exact result + a rounding error of 1e-3 in one sum
        out = real(*args, **kwargs)
        out.view(-1)[7] += 1e-3
        return out

    monkeypatch.setattr(torch.nn.functional, "conv2d", transform_like)
    for impl in ("float32", "float64", "auto"):
        with pytest.raises(VerificationError, match="not exact, use conv_impl='int64'"):
            im.run_int(q_in, conv_impl=impl)
    np.testing.assert_array_equal(im.run_int(q_in, conv_impl="int64"), exact)

    def too_big(*args, **kwargs):
        out = real(*args, **kwargs)
        out.view(-1)[0] = 2.0 ** 30
        return out

    monkeypatch.setattr(torch.nn.functional, "conv2d", too_big)
    with pytest.raises(VerificationError, match="out-of-bound"):
        im.run_int(q_in, conv_impl="float64")

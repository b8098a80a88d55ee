"""TinyIceNet float model, quantized twin, registry and QAT initialisation."""

from __future__ import annotations

import pytest
import torch

from tinyicenet.errors import ConfigError
from tinyicenet.models import (CHART_CLASSES, available_models, calibrate, count_parameters,
                               create_model, parse_name, quantize_from_float)


def _x(n=2, c=2, h=32, w=32, seed=0):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["tinyicenet_float", "tinyicenet_w4a4", "tinyicenet_w8a8_noskip",
                                  "tinyicenet_w2a2"])
def test_forward_shape_and_split(name):
    charts = ("SOD", "SIC", "FLOE")
    model = create_model(name, charts=charts).eval()
    out = model(_x())
    assert out.shape == (2, 6 + 11 + 7, 32, 32)
    parts = model.split(out)
    assert list(parts) == list(charts)
    assert [p.shape[1] for p in parts.values()] == [CHART_CLASSES[c] for c in charts]
    assert torch.equal(torch.cat(list(parts.values()), 1), out)


def test_stride_and_bad_shape_message():
    model = create_model("tinyicenet_float", widths=(8, 16, 32, 64))
    assert model.stride == 8
    with pytest.raises(ConfigError, match="multiple of the model stride 8: pad to 40x48"):
        model(torch.zeros(1, 2, 36, 44))


def test_skip_changes_architecture():
    with_skip = create_model("tinyicenet_float")
    no_skip = create_model("tinyicenet_float_noskip")
    assert with_skip.decoder[0].in_channels == 32 + 16
    assert no_skip.decoder[0].in_channels == 32
    assert not no_skip.skips and create_model("tinyicenet_float", skips=False).skips is False
    assert count_parameters(with_skip) > count_parameters(no_skip)


def test_skip_branches_share_one_quantizer():
    model = create_model("tinyicenet_w4a4", widths=(8, 16, 32))
    # the ReLU feeding the upsample into level i is the encoder's level-i ReLU
    assert model.bott_act is model.enc_act[1]
    assert model.dec_act[1] is model.enc_act[0]
    assert model.dec_act[0] is not model.enc_act[0]
    noskip = create_model("tinyicenet_w4a4_noskip", widths=(8, 16, 32))
    assert noskip.bott_act is not noskip.enc_act[1]


@pytest.mark.parametrize("bad", ["tinyicenet_w9a4", "tinyicenet_w4a1", "resnet", "tinyicenet_w4",
                                 "tinyicenet_float_skip"])
def test_unknown_names_are_config_errors(bad):
    with pytest.raises(ConfigError) as err:
        create_model(bad)
    msg = str(err.value)
    assert "\n" not in msg and bad in msg and ("2..8" in msg)


def test_bad_kwargs():
    with pytest.raises(ConfigError, match="charts"):
        create_model("tinyicenet_float", charts=("SOD", "XYZ"))
    with pytest.raises(ConfigError, match="widths"):
        create_model("tinyicenet_float", widths=(16,))
    with pytest.raises(ConfigError, match="no skips"):
        create_model("tinyicenet_w4a4_noskip", skips=True)


def test_registry_lists_all_names():
    names = available_models()
    assert "tinyicenet_w2a8_noskip" in names and "tinyicenet_float" in names
    assert len(names) == 2 * (1 + 7 * 7)
    assert parse_name("tinyicenet_w3a5_noskip") == (3, 5, False)



def test_quantized_twin_uses_power_of_two_scales_and_bit_widths():
    model = create_model("tinyicenet_w3a5", widths=(8, 16, 32))
    calibrate(model, [_x(seed=s) for s in range(2)])
    model.eval()
    qw = model.decoder[1].quant_weight()
    w_int = qw.int()
    assert int(qw.bit_width) == 3 and w_int.abs().max() <= 3  # narrow range
    assert float(torch.log2(qw.scale.detach())) == round(float(torch.log2(qw.scale.detach())))
    act = model.enc_act[0].act_quant
    assert int(act.bit_width()) == 5
    e_act = float(torch.log2(act.scale().detach()))
    assert e_act == round(e_act)
    # outputs are signed 8-bit codes times the head scale
    out = model(_x())
    s = model.head.output_quant.scale()
    codes = out / s
    assert torch.equal(codes, codes.round()) and codes.min() >= -128 and codes.max() <= 127


def test_quantize_from_float_copies_weights_and_tracks_float():
    torch.manual_seed(0)
    fmodel = create_model("tinyicenet_float", widths=(8, 16, 32)).eval()
    qmodel = quantize_from_float(fmodel, "tinyicenet_w8a8")
    assert torch.equal(qmodel.head.weight, fmodel.head.weight)
    x = _x()
    calibrate(qmodel, [x])
    qmodel.eval()
    with torch.no_grad():
        f, qo = fmodel(x), qmodel(x)
    # 8-bit twin approximates the float model; a 2-bit twin much worse
    err8 = (f - qo).abs().mean() / f.abs().mean()
    q2 = calibrate(quantize_from_float(fmodel, "tinyicenet_w2a2"), [x]).eval()
    with torch.no_grad():
        err2 = (f - q2(x)).abs().mean() / f.abs().mean()
    assert err8 < 0.2 and err2 > err8
    with pytest.raises(ConfigError, match="_noskip"):
        quantize_from_float(fmodel, "tinyicenet_w4a4_noskip")
    with pytest.raises(ConfigError):
        quantize_from_float(fmodel, "tinyicenet_float")


def test_quantized_model_trains():
    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4", widths=(8, 16, 32))
    x = _x(4, h=16, w=16)
    target = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    calibrate(model, [x])
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0]

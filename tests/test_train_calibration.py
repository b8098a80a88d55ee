"""QAT initialisation (issue 16, item 1): MSE activation calibration and shared-skip equalisation.

Oracles: a hand-computed quantization error; the float function itself (equalisation must
leave it unchanged, bit for bit, since it only multiplies by powers of two); a brute-force
search over power-of-two scales for the MSE calibration.
"""

from __future__ import annotations

import copy

import pytest
import torch

from tinyicenet.errors import ConfigError
from tinyicenet.models import calibrate, create_model, quantize_from_float
from tinyicenet.models.calibrate import (activation_sites, capture_inputs, equalize_shared_ranges,
                                         quant_relu_error)

pytest.importorskip("brevitas")


def _batches(n: int = 3, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 2, 32, 32, generator=g) * 1.5 for _ in range(n)]


def _skewed_float_model() -> torch.nn.Module:
    """A float model whose dec1 output is much wider than enc0 (function as before)."""
    torch.manual_seed(0)
    model = create_model("tinyicenet_float").eval()
    dec1, dec0 = model.decoder[1], model.decoder[0]
    dec1.weight.data.mul_(64.0)
    dec1.bias.data.mul_(64.0)
    dec0.weight.data[:, : dec1.out_channels].div_(64.0)  # cat order: [up(dec1), enc0]
    return model


def _relu_quantile(model, act, names, batches, q=0.999) -> dict[str, float]:
    seen = capture_inputs(model, act, batches)
    k = len(names)
    return {n: float(torch.quantile(torch.relu(torch.cat(seen[i::k])).flatten(), q))
            for i, n in enumerate(names)}


def test_quant_relu_error_hand_computed() -> None:
    pre = torch.tensor([-1.0, 0.3, 0.6, 1.0, 5.0])
    # 2 bits, scale 1: relu -> [0, .3, .6, 1, 5]; grid {0,1,2,3}: [0, 0, 1, 1, 3]
    expected = (0.3 ** 2 + 0.4 ** 2 + 0.0 + 2.0 ** 2) / (0.09 + 0.36 + 1.0 + 25.0)
    assert quant_relu_error(pre, 1.0, 2) == pytest.approx(expected)
    assert quant_relu_error(torch.tensor([-1.0, -2.0]), 1.0, 2) == 0.0  # all zero: no error


def test_equalisation_matches_shared_ranges_and_keeps_the_float_function() -> None:
    model = _skewed_float_model()
    batches = _batches()
    before = [model(x) for x in batches]
    shared = [(a, n) for a, n in activation_sites(model) if len(n) > 1]
    assert [n for _, n in shared] == [["enc0", "dec1"], ["enc1", "bottleneck"]]
    ranges = _relu_quantile(model, *shared[0], batches)
    assert ranges["dec1"] / ranges["enc0"] > 8  # the skew the fix has to remove

    records = equalize_shared_ranges(model, batches)
    assert any(r["node"] == "dec1" and r["consumer"] == "dec0" for r in records)
    for act, names in shared:
        r = _relu_quantile(model, act, names, batches)
        ratio = r[names[1]] / r[names[0]]
        assert 2 ** -0.5 <= ratio <= 2 ** 0.5, (names, ratio)  # nearest power of two
    after = [model(x) for x in batches]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_equalisation_leaves_a_model_without_skips_alone() -> None:
    torch.manual_seed(0)
    model = create_model("tinyicenet_float_noskip")
    state = copy.deepcopy(model.state_dict())
    assert equalize_shared_ranges(model, _batches(1)) == []
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


@pytest.mark.parametrize("name", ["tinyicenet_w2a2", "tinyicenet_w3a3_noskip"])
def test_mse_calibration_picks_the_least_error_power_of_two(name) -> None:
    torch.manual_seed(0)
    float_model = create_model("tinyicenet_float" + ("_noskip" if "noskip" in name else ""))
    batches = _batches()
    percentile = calibrate(quantize_from_float(float_model, name), batches).eval()
    mse = calibrate(quantize_from_float(float_model, name), batches, method="mse").eval()
    for (act, names), (pact, _) in zip(activation_sites(mse), activation_sites(percentile)):
        bits = int(act.act_quant.bit_width())
        scale = float(act.act_quant.scale().detach())
        inputs = capture_inputs(mse, act, batches)

        def err(s: float) -> float:  # the test's own grid: round half to even, saturate
            total = 0.0
            for x in inputs:
                r = torch.relu(x)
                q = torch.clamp(torch.round(r / s), 0, 2 ** bits - 1) * s
                total += float(((q - r) ** 2).sum() / (r * r).sum()) if r.any() else 0.0
            return total

        best = err(scale)
        for j in (-2, -1, 1, 2):
            assert best <= err(scale * 2.0 ** j) + 1e-12, (names, j)
        if names[0] == "enc0":  # the first layer sees the same input in both models
            assert best <= err(float(pact.act_quant.scale().detach()))


def test_unknown_calibration_method_is_refused() -> None:
    with pytest.raises(ConfigError, match="calibration method"):
        calibrate(create_model("tinyicenet_w2a2"), _batches(1), method="max")


def test_trainer_equalises_a_copy_and_calibrates_with_mse(sample_scene_dir, tmp_path) -> None:
    from tinyicenet.train import distributed, load_config
    from tinyicenet.train.trainer import _Trainer

    cfg = load_config("default", [f"data.train={sample_scene_dir}", "data.patch=32",
                                  "train.batch=4", "train.device=cpu", "data.val_count=0",
                                  "model.name=tinyicenet_w2a2", "train.calibration=mse",
                                  "train.equalize=true"])
    trainer = _Trainer(cfg, tmp_path, distributed.setup("cpu"), quiet=True)
    trainer._load_data()
    float_model = _skewed_float_model()
    state = copy.deepcopy(float_model.state_dict())
    qmodel = trainer._to_qat(float_model)
    # the float model handed in is untouched (float.pt keeps the trained weights) ...
    assert all(torch.equal(v, float_model.state_dict()[k]) for k, v in state.items())
    # ... and the quantized twin starts from the equalised copy
    rec = {r["node"]: r for r in trainer.equalized}
    assert "dec1" in rec and rec["dec1"]["shift"] <= -2
    factor = 2.0 ** rec["dec1"]["shift"]
    skip = slice(float_model.bottleneck.out_channels, None)  # enc1's channels: only dec1 moved
    assert torch.equal(qmodel.decoder[1].weight.detach()[:, skip],
                       float_model.decoder[1].weight.detach()[:, skip] * factor)
    assert torch.equal(qmodel.decoder[1].bias.detach(), float_model.decoder[1].bias * factor)
    with pytest.raises(ConfigError, match="train.calibration"):
        load_config("default", ["train.calibration=max"])

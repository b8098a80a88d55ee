"""Per-layer precision: the spec, its names, config and checkpoint round trips, and exactness
through Brevitas == integer reference == QONNX execution == hls4ml C simulation (g++)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tinyicenet.errors import ConfigError
from tinyicenet.models import (Precision, act_groups, calibrate, conv_names, create_model,
                               load_checkpoint, parse_model_name, parse_name, precision_label,
                               quantize_from_float, save_checkpoint, summarize)
from helpers import fresh_rng, fresh_seed

WIDTHS = (8, 16, 32)
#: mixed configurations of the issue: 8-bit input and head, 3-4-bit encoder, wider skips
MIXED = {
    "wide_skips": ({"weights": {"head": 8}, "acts": {"skip0": 6, "skip1": 6}}, 3, 4, True),
    "narrow_encoder": ({"input": 8, "weights": {"enc0": 3, "enc1": 3, "bottleneck": 2, "head": 8},
                        "acts": {"skip0": 4, "skip1": 5, "dec0": 7}, "output": 6}, 4, 4, True),
    "w2a2_wide_skips": ({"acts": {"skip0": 8, "skip1": 8}}, 2, 2, True),
    "noskip_mixed": ({"input": 6, "weights": {"enc0": 8, "bottleneck": 2, "head": 8},
                      "acts": {"enc0": 8, "bottleneck": 3, "dec0": 6}}, 4, 3, False),
}
_CACHE: dict[str, torch.nn.Module] = {}


def mixed_model(key: str) -> torch.nn.Module:
    """The MIXED[key] model, calibrated and after a few Adam steps (scales off their init)."""
    if key not in _CACHE:
        changes, w, a, skips = MIXED[key]
        torch.manual_seed(0)
        model = create_model("tinyicenet", weight_bits=w, act_bits=a, skips=skips,
                             precision=changes, widths=WIDTHS, charts=("SOD",))
        g = torch.Generator().manual_seed(1)
        calibrate(model, [torch.randn(4, 2, 32, 32, generator=g) * 1.5 for _ in range(2)])
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(4):
            x = torch.randn(4, 2, 32, 32, generator=g)
            target = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0.5).long()
            loss = torch.nn.functional.cross_entropy(model(x), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        _CACHE[key] = model.eval()
    return _CACHE[key]


def _tiles(rng, n: int = 3, size: int = 32) -> np.ndarray:
    x = (rng.standard_normal((n, 2, size, size)) * rng.uniform(0.5, 4)).astype(np.float32)
    x[0, :, :4] = 40.0  # saturating input
    return x


def _brevitas_codes(model, x: np.ndarray, output_exp: int) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy().astype(np.float64)
    codes = out * 2.0 ** -output_exp
    assert np.array_equal(codes, np.round(codes))
    return codes.astype(np.int64)


# ---- the spec and its names ---------------------------------------------------------------------

def test_group_names_follow_the_shared_skip_quantizers():
    assert conv_names(2) == ["enc0", "enc1", "bottleneck", "dec1", "dec0", "head"]
    assert act_groups(2, True) == {"skip0": ["enc0", "dec1"], "skip1": ["enc1", "bottleneck"],
                                   "dec0": ["dec0"]}
    assert act_groups(3, True)["skip1"] == ["enc1", "dec2"]
    assert list(act_groups(2, False)) == ["enc0", "enc1", "bottleneck", "dec1", "dec0"]
    # each skip group is exactly one module of the model, shared by its two convs
    model = create_model("tinyicenet_w4a4", widths=WIDTHS)
    acts = {"enc0": model.enc_act[0], "enc1": model.enc_act[1], "bottleneck": model.bott_act,
            "dec1": model.dec_act[1], "dec0": model.dec_act[0]}
    for group, convs in act_groups(2, True).items():
        assert len({id(acts[c]) for c in convs}) == 1, group
    assert len({id(m) for m in acts.values()}) == len(act_groups(2, True))


def test_quantizers_carry_the_spec_bits():
    changes, w, a, skips = MIXED["narrow_encoder"]
    model = create_model("tinyicenet", weight_bits=w, act_bits=a, precision=changes,
                         widths=WIDTHS)
    p = model.precision
    convs = {"enc0": model.encoder[0], "enc1": model.encoder[1], "bottleneck": model.bottleneck,
             "dec1": model.decoder[1], "dec0": model.decoder[0], "head": model.head}
    got = {n: int(c.quant_weight().bit_width) for n, c in convs.items()}
    assert got == {"enc0": 3, "enc1": 3, "bottleneck": 2, "dec1": 4, "dec0": 4, "head": 8}
    assert got == p.weights
    acts = {"skip0": model.enc_act[0], "skip1": model.enc_act[1], "dec0": model.dec_act[0]}
    assert {g: int(m.act_quant.bit_width()) for g, m in acts.items()} == \
        {"skip0": 4, "skip1": 5, "dec0": 7}
    assert int(model.input_quant.act_quant.bit_width()) == 8
    assert int(model.head.output_quant.bit_width()) == 6
    assert model.name == "tinyicenet_mixed" and p.label() == "i8-w332448-a457-o6"
    assert model.bit_widths["label"] == p.label() and precision_label(model.bit_widths) == p.label()


def test_uniform_names_are_aliases_of_the_family():
    for w, a, skips in ((4, 4, True), (2, 8, False), (8, 3, True)):
        alias = create_model(f"tinyicenet_w{w}a{a}" + ("" if skips else "_noskip"), widths=WIDTHS)
        family = create_model("tinyicenet", weight_bits=w, act_bits=a, skips=skips,
                              widths=WIDTHS)
        assert family.name == alias.name and family.config == alias.config
        assert "precision" not in family.config  # uniform configs are the old ones
        assert family.precision == alias.precision == Precision.uniform(w, a, 2, skips)
        assert family.bit_widths == alias.bit_widths == {"input": 8, "weight": w,
                                                         "activation": a, "output": 8}
        assert family.state_dict().keys() == alias.state_dict().keys()
        assert precision_label(family.bit_widths) == f"w{w}a{a}"
    # a spec that happens to be uniform gets the uniform name
    same = create_model("tinyicenet", weight_bits=4, act_bits=4, precision={"input": 8})
    assert same.name == "tinyicenet_w4a4"
    assert create_model("tinyicenet").name == "tinyicenet_float"
    assert create_model("tinyicenet", skips=False).name == "tinyicenet_float_noskip"
    assert create_model("tinyicenet_w4a4", weight_bits=4).name == "tinyicenet_w4a4"


@pytest.mark.parametrize("name, kind, w, a, skips", [
    ("tinyicenet", "family", None, None, True), ("tinyicenet_noskip", "family", None, None, False),
    ("tinyicenet_float", "float", None, None, True), ("tinyicenet_w2a8", "uniform", 2, 8, True),
    ("tinyicenet_w8a2_noskip", "uniform", 8, 2, False),
    ("tinyicenet_mixed_noskip", "mixed", None, None, False)])
def test_one_parser_for_every_name(name, kind, w, a, skips):
    parsed = parse_model_name(name)
    assert (parsed.kind, parsed.weight_bits, parsed.act_bits, parsed.skips) == (kind, w, a, skips)


@pytest.mark.parametrize("bad", ["tinyicenet_w9a4", "tinyicenet_w1a4", "tinyicenet_w10a4",
                                 "tinyicenet_mixedw4", "tinyicenet_wa4"])
def test_parser_refuses_bad_names(bad):
    with pytest.raises(ConfigError, match="2..8"):
        parse_model_name(bad)


@pytest.mark.parametrize("kwargs, match", [
    ({"weight_bits": 4, "act_bits": 4, "precision": {"weights": {"enc9": 4}}},
     "unknown weights group.*enc9.*enc0, enc1, bottleneck, dec1, dec0, head"),
    ({"weight_bits": 4, "act_bits": 4, "precision": {"acts": {"enc0": 6}}},
     "unknown acts group.*enc0.*skip0, skip1, dec0.*one quantizer per concatenation"),
    ({"weight_bits": 4, "act_bits": 4, "precision": {"weights": {"head": 9}}},
     "weights head bit width 9"),
    ({"weight_bits": 4, "act_bits": 4, "precision": {"input": True}}, "input bit width True"),
    ({"weight_bits": 4, "act_bits": 4, "precision": {"bits": 4}}, "unknown key.*bits"),
    ({"weight_bits": 4, "act_bits": 4, "precision": [4]}, "must be a mapping"),
    ({"weight_bits": 4}, "both weight_bits and act_bits"),
    ({"weight_bits": 1, "act_bits": 4}, "weight bit width 1"),
    ({"precision": {"input": 8, "output": 8, "weights": {"head": 8}}},
     "missing bit width.*weights.enc0.*acts.skip0"),
])
def test_bad_specs_are_one_clear_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        create_model("tinyicenet", widths=WIDTHS, **kwargs)
    assert "\n" not in str(err.value)


def test_names_and_specs_that_disagree_are_refused():
    with pytest.raises(ConfigError, match="weight_bits 4, but weight_bits=3"):
        create_model("tinyicenet_w4a4", weight_bits=3)
    with pytest.raises(ConfigError, match="float model: it takes no precision"):
        create_model("tinyicenet_float", precision={"input": 8})
    with pytest.raises(ConfigError, match="needs precision="):
        create_model("tinyicenet_mixed")
    with pytest.raises(ConfigError, match="no skips but skips=True"):
        create_model("tinyicenet_noskip", weight_bits=4, act_bits=4, skips=True)
    with pytest.raises(ConfigError, match="per-layer precision"):
        parse_name("tinyicenet_mixed")
    with pytest.raises(ConfigError, match="missing bit width.*weights.enc2"):
        Precision.from_dict(Precision.uniform(4, 4, levels=2).to_dict(), levels=3, skips=True)
    with pytest.raises(ConfigError, match="unknown weights group.*enc2"):
        create_model("tinyicenet", precision=Precision.uniform(4, 4, levels=3), widths=WIDTHS)
    # a complete spec for the other skip setting names the groups it lacks
    with pytest.raises(ConfigError, match="unknown acts group"):
        create_model("tinyicenet", precision=Precision.uniform(4, 4, 2, False).to_dict(),
                     widths=WIDTHS)


def test_replace_and_equality():
    p = Precision.uniform(4, 4, 2, True)
    q = p.replace(weights={"head": 8}, acts={"skip1": 6})
    assert p.weights["head"] == 4 and q.weights["head"] == 8 and q.acts["skip1"] == 6
    assert q == Precision.from_dict(q.to_dict(), 2, True) and q != p
    assert hash(q) == hash(Precision.from_dict(q.to_dict(), 2, True))
    assert q.uniform_bits() is None and p.uniform_bits() == (4, 4)
    assert q.act_bits("bottleneck") == 6 and q.act_bits("enc0") == 4 and q.act_bits("head") == 8
    assert json.loads(json.dumps(q.to_dict())) == q.to_dict()


# ---- config, checkpoint, summary ----------------------------------------------------------------

@pytest.mark.parametrize("key", ["narrow_encoder", "noskip_mixed"])
def test_config_and_checkpoint_round_trip(tmp_path, key):
    model = mixed_model(key)
    assert model.config["precision"] == model.precision.to_dict()
    path = save_checkpoint(tmp_path / "m.pt", model)
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["model"]["name"] == model.name
    assert raw["model"]["kwargs"]["precision"] == model.precision.to_dict()
    back, _ = load_checkpoint(path)
    assert back.name == model.name and back.config == model.config
    assert back.precision == model.precision and back.skips == model.skips
    x = torch.from_numpy(_tiles(fresh_rng(f"checkpoint {key}"), 2))
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_uniform_checkpoint_format_is_unchanged(tmp_path):
    model = create_model("tinyicenet_w4a4", widths=WIDTHS)
    calibrate(model, [torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(0))])
    raw = torch.load(save_checkpoint(tmp_path / "u.pt", model), weights_only=True)
    assert raw["model"] == {"name": "tinyicenet_w4a4",
                            "kwargs": {"in_channels": 2, "widths": [8, 16, 32],
                                       "charts": ["SOD"]}}
    back, _ = load_checkpoint(tmp_path / "u.pt")
    assert back.precision == Precision.uniform(4, 4, 2, True)


def test_quantize_from_float_with_a_spec():
    torch.manual_seed(0)
    fmodel = create_model("tinyicenet_float_noskip", widths=WIDTHS).eval()
    spec = {"acts": {"bottleneck": 8}, "weights": {"head": 8}}
    q = quantize_from_float(fmodel, "tinyicenet", weight_bits=3, act_bits=3, precision=spec)
    assert q.name == "tinyicenet_mixed_noskip" and not q.skips
    assert torch.equal(q.head.weight, fmodel.head.weight)
    assert q.precision.acts["bottleneck"] == 8 and q.precision.weights["head"] == 8
    with pytest.raises(ConfigError, match="quantized model name"):
        quantize_from_float(fmodel, "tinyicenet")


def test_summary_counts_each_layer_at_its_own_bits():
    changes, w, a, skips = MIXED["narrow_encoder"]
    model = create_model("tinyicenet", weight_bits=w, act_bits=a, precision=changes,
                         widths=WIDTHS)
    rows = {r.name: r for r in summarize(model, tile=32).layers}
    assert rows["input"].bits == 8 and rows["head"].bits == 6
    assert rows["enc0"].bits == rows["dec1"].bits == rows["up0"].bits == 4  # skip0
    assert rows["enc1"].bits == rows["bottleneck"].bits == rows["cat1"].bits == 5  # skip1
    assert rows["dec0"].bits == 7
    # hand count: head 1x1 conv 8 -> 6 classes, 8-bit weights, 32-bit biases
    assert rows["head"].weight_bits == 6 * 8 * 8 + 6 * 32
    assert rows["enc0"].weight_bits == 8 * 2 * 9 * 3 + 8 * 32
    assert rows["enc0"].skip_bits == 8 * 32 * 32 * 4


# ---- exactness: Brevitas == integer reference == QONNX == C simulation --------------------------

@pytest.mark.parametrize("key", list(MIXED))
def test_integer_reference_equals_brevitas(key, tmp_path):
    from tinyicenet.export.intref import from_brevitas, load_intref, save_intref

    model = mixed_model(key)
    im = from_brevitas(model)
    p = model.precision
    assert im.model["precision"] == p.to_dict()
    for lay in im.conv_layers():  # the integer layers carry the spec's bits
        assert lay.weight_bits == p.weights[lay.name], lay.name
        assert lay.out_bits == p.act_bits(lay.name), lay.name
        assert np.abs(lay.weight).max() <= 2 ** (lay.weight_bits - 1) - 1
    assert im.input_bits == p.input and im.output_bits == p.output
    x = _tiles(fresh_rng(f"intref {key}"))
    q = im.run_int(im.quantize_input(x))
    ref = _brevitas_codes(model, x, im.output_exp)
    assert int((q != ref).sum()) == 0
    assert len(np.unique(q)) >= 4  # not a degenerate constant output
    back = load_intref(save_intref(im, tmp_path / "m.npz"))
    assert back.model["precision"] == p.to_dict()
    np.testing.assert_array_equal(back.run_int(back.quantize_input(x)), q)


def test_integer_reference_sees_a_wrong_bit_width():
    """Teeth: the same weights read as the uniform model give other codes."""
    from tinyicenet.export.intref import from_brevitas

    model = mixed_model("wide_skips")
    im = from_brevitas(model)
    x = _tiles(fresh_rng("teeth"))
    ref = _brevitas_codes(model, x, im.output_exp)
    skip0 = next(lay for lay in im.layers if lay.name == "enc0")
    skip0.out_bits = 4  # what tinyicenet_w3a4 would saturate to
    assert int((im.run_int(im.quantize_input(x)) != ref).sum()) > 0


def test_two_bit_weights_take_the_mse_scale():
    """2-bit convs use LowBitWeightQuant; on heavy-tailed weights (a trained conv's shape) its
    power-of-two scale loses less than the max-|w| scale and keeps more weights non-zero."""
    from brevitas.nn import QuantConv2d

    from tinyicenet.models import quantizers as q

    changes, w, a, skips = MIXED["narrow_encoder"]
    model = create_model("tinyicenet", weight_bits=w, act_bits=a, precision=changes,
                         widths=WIDTHS)
    assert q.weight_quant(2) is q.LowBitWeightQuant and q.weight_quant(3) is q.WeightQuant
    weight = torch.from_numpy(fresh_rng("ternary").laplace(0, 0.02, (32, 16, 3, 3))).float()
    results = {}
    for quant in (q.WeightQuant, q.LowBitWeightQuant):
        conv = QuantConv2d(16, 32, 3, weight_quant=quant, weight_bit_width=2, bias=False)
        with torch.no_grad():
            conv.weight.copy_(weight)
        qw = conv.quant_weight()
        assert set(qw.int().unique().tolist()) <= {-1, 0, 1}  # ternary either way
        results[quant] = (float(((qw.value - weight) ** 2).mean()),
                          float((qw.int() != 0).float().mean()))
    (err_max, nz_max), (err_mse, nz_mse) = results[q.WeightQuant], results[q.LowBitWeightQuant]
    assert err_mse < err_max and nz_mse > nz_max


@pytest.mark.slow
def test_qonnx_and_c_simulation_equal_the_integer_reference(tmp_path):
    """A mixed skip model through the HLS flow: the formats hls4ml is configured with are the
    spec's bits; QONNX execution == Brevitas and hls4ml C simulation (g++) == integer reference
    == Brevitas on fresh tiles."""
    from qonnx.core.modelwrapper import ModelWrapper

    from tinyicenet.export.intref import load_intref
    from tinyicenet.export.onnx_export import run_qonnx
    from tinyicenet.hls import build_project, load_project
    from tinyicenet.hls.quant_formats import conv_formats

    model = mixed_model("narrow_encoder")
    p = model.precision
    result = build_project(model, tmp_path / "prj", tile=16, n_random=2, quiet=True,
                           seed=fresh_seed("mixed csim"))
    prj = result.project_dir
    assert result.report.passed and result.report.differing == 0
    assert result.manifest["model"]["kwargs"]["precision"] == p.to_dict()
    assert result.manifest["model"]["bit_widths"]["label"] == "i8-w332448-a457-o6"
    formats = {f.role: f for f in conv_formats(ModelWrapper(str(prj / "model_hls.onnx")))}
    names = conv_names(2)
    assert list(formats) == names
    for prev, conv in zip(["input", *names], names):
        assert formats[conv].weight.bits == p.weights[conv], conv
        assert formats[conv].input.bits == (p.input if prev == "input" else p.act_bits(prev))
        assert formats[conv].input.signed == (prev == "input"), conv
    im = load_intref(prj / "intref.npz")
    x = _tiles(fresh_rng("csim mixed"), 3, 16)
    want = im.run_int(im.quantize_input(x))
    assert np.array_equal(want, _brevitas_codes(model, x, im.output_exp))
    assert np.array_equal(load_project(prj).run_codes(x), want)
    with torch.no_grad():
        brevitas = model(torch.from_numpy(x[:2])).numpy()
    assert np.count_nonzero(run_qonnx(ModelWrapper(str(prj / "model.qonnx.onnx")), x[:2])
                            != brevitas) == 0


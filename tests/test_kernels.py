"""GPU-kernel lowering on the CPU: the plan the kernels execute equals the integer reference.

``tinyicenet.kernels.emulate`` runs a lowered plan with numpy in the kernels' exact order (packed
weight rows, padded flat buffers, XOR offset, corrected and saturation-safe biases, int32
checks); here it must give the integer reference's outputs value for value. The kernels
themselves are checked against the same reference in test_kernels_gpu.py (CUDA) and
test_kernels_interp.py (Triton's CPU interpreter).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyicenet.errors import ConfigError, ExportError, ToolNotFoundError
from tinyicenet.export import intref
from tinyicenet.kernels import plan as P
from tinyicenet.kernels.adapt import from_intref
from tinyicenet.kernels.emulate import run_plan
from tinyicenet.kernels.float_twin import float_twin, macs_per_image
from tinyicenet.kernels.synthetic import random_intmodel
from helpers import fresh_rng

MODELS = [(8, 8, True), (4, 4, True), (8, 8, False), (4, 4, False), (2, 3, True), (3, 8, False)]


def reference(model, x: np.ndarray) -> np.ndarray:
    return model.run_int(model.quantize_input(x))


def emulate(model, x: np.ndarray, design: str | None = None) -> np.ndarray:
    return run_plan(P.lower(from_intref(model), design), x).astype(np.int64)


@pytest.mark.parametrize("design", P.DESIGNS)
@pytest.mark.parametrize("wb,ab,skips", MODELS)
def test_plan_equals_intref_on_fresh_random_inputs(wb, ab, skips, design):
    rng = fresh_rng("plan vs intref")  # fresh every run, seed printed: any input
    model = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips,
                            seed=int(rng.integers(1 << 30)))
    x = (rng.standard_normal((2, 2, 24, 40)) * rng.uniform(0.5, 4)).astype(np.float32)
    x[0, :, :4] = 60.0  # saturating input rows
    ref = reference(model, x)
    out = emulate(model, x, design)
    assert out.shape == ref.shape == (2, 6, 24, 40)
    assert int((out != ref).sum()) == 0
    assert len(np.unique(ref)) >= 8  # not a degenerate constant network


def test_designs_lower_to_their_stages():
    net = from_intref(random_intmodel(seed=6))
    modes = {d: [[s.mode for s in st.sources] for st in P.lower(net, d).stages]
             for d in P.DESIGNS}
    assert modes["gen1"][0] == ["run"] and not P.lower(net, "gen1").quant_fused
    assert modes["gen2"][0] == ["im2col"] and P.lower(net, "gen2").quant_fused
    assert modes["gen2"][-2:] == [["parity", "tap"], ["parity", "run"]]
    # gen3: quad only where 4 x cout_p <= QUAD_MAX_N (decoder0: 16 channels; decoder1: 32)
    assert modes["gen3"][-2:] == [["parity", "tap"], ["quadup", "quadrun"]]
    assert "input" not in P.lower(net, "gen3").buffers
    # gen4: gen3's decoders, the first conv on the windowed input (8 bytes: 3 pixels x 2)
    assert modes["gen4"][0] == ["window"] and modes["gen4"][-2:] == modes["gen3"][-2:]
    g4 = P.lower(net, "gen4")
    assert g4.quant.window and g4.buffers["input"] == (0, 8, 0) and not g4.quant_fused
    # gen6: gen4's input and first conv, every other conv a halo conv (CUDA C++)
    assert modes["gen6"][0] == modes["gen4"][0]
    assert modes["gen6"][1:] == [["halo"], ["halo"], ["halo", "halo"], ["halo", "halo"]]
    # gen5: gen4 with a one-plane quad decoder where w8 sums leave int8; w4 lowers as gen4
    assert modes["gen5"][:-1] == modes["gen4"][:-1]
    assert modes["gen5"][-1] == ["quadsplit", "quadrun"]
    assert P.lower(net, "gen5").stages[-1].up_weight is None
    net4 = from_intref(random_intmodel(weight_bits=4, act_bits=4, seed=6))
    assert [s.mode for s in P.lower(net4, "gen5").stages[-1].sources] == ["quadup", "quadrun"]
    with pytest.raises(ExportError, match="unknown kernel design"):
        P.lower(net, "gen9")


def _upsampled_conv(w: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Hand oracle: 3x3 'same' conv of the nearest-2x upsample of low [C, h, w] (no bias)."""
    up = low.repeat(2, axis=1).repeat(2, axis=2)
    pad = np.pad(up, ((0, 0), (1, 1), (1, 1)))
    H, W = up.shape[1:]
    return np.stack([sum((w[o, :, dy, dx][:, None, None] * pad[:, dy:dy + H, dx:dx + W]).sum(0)
                         for dy in range(3) for dx in range(3)) for o in range(w.shape[0])])


def test_parity_and_quad_packing_equal_the_upsampled_conv():
    rng = np.random.default_rng(31)
    w = rng.integers(-127, 128, size=(3, 5, 3, 3))
    low = rng.integers(-9, 10, size=(5, 4, 6))
    want = _upsampled_conv(w, low)
    src = P.Source("b", 5, 5, 0, True, "parity", 32)
    pw = P.pack_parity(w, src)                       # [4, planes, rows, cout]
    assert pw.shape[1] == 2 and np.abs(pw).max() <= 127  # 8-bit sums need two planes
    summed = pw[:, 0] + 128 * pw[:, 1]
    lowp = np.pad(low, ((0, 0), (1, 1), (1, 1)))
    got = np.zeros_like(want)
    for y in range(8):
        for x in range(12):
            p = 2 * (y % 2) + x % 2
            for r in range(4):
                ry, rx = divmod(r, 2)
                a = lowp[:, y // 2 + y % 2 + ry, x // 2 + x % 2 + rx]   # bordered coordinates
                got[:, y, x] += a @ summed[p, r * 32:r * 32 + 5]
    np.testing.assert_array_equal(got, want)
    quad = P.pack_quad(w, P.Source("b", 5, 5, 0, True, "quadup", 32), 16)   # [9*32, 4*16]
    planes = P.split_planes(quad, 0)
    np.testing.assert_array_equal(planes[0] + 128 * planes[1], quad)
    got = np.zeros_like(want)
    for yq in range(4):
        for xq in range(6):
            a = np.concatenate([np.pad(lowp[:, yq + u, xq + v], (0, 27))
                                for u in range(3) for v in range(3)])
            acc = (a @ quad).reshape(4, 16)[:, :3]
            for s in range(4):
                got[:, 2 * yq + s // 2, 2 * xq + s % 2] = acc[s]
    np.testing.assert_array_equal(got, want)


def test_quad_split_packing_equals_the_upsampled_conv_with_one_plane():
    rng = np.random.default_rng(33)
    w = rng.integers(-127, 128, size=(3, 5, 3, 3))
    low = rng.integers(-9, 10, size=(5, 4, 6))
    want = _upsampled_conv(w, low)
    rows = P.pack_quad_split(w, P.Source("b", 5, 5, 0, True, "quadsplit", 32), 16)
    assert rows.shape == (16 * 32, 64) and np.abs(rows).max() <= 127   # unsummed: int8
    lowp = np.pad(low, ((0, 0), (1, 1), (1, 1)))
    got = np.zeros_like(want)
    for yq in range(4):
        for xq in range(6):
            acc, r = np.zeros(64, dtype=np.int64), 0
            for (ry, rx), blocks in P.SPLIT_TAPS:     # each tap gathered once
                a = np.pad(lowp[:, yq + 1 + ry, xq + 1 + rx], (0, 27))
                for _ in blocks:
                    acc += a @ rows[r:r + 32]
                    r += 32
            for s in range(4):
                got[:, 2 * yq + s // 2, 2 * xq + s % 2] = acc.reshape(4, 16)[s, :3]
    np.testing.assert_array_equal(got, want)


def test_quad_head_is_block_diagonal_per_sub_pixel():
    net = from_intref(random_intmodel(seed=8))
    head = P.lower(net, "gen5").stages[-1].head
    plain = P.lower(net, "gen2").stages[-1].head          # a pixel program's head
    assert head.quad and not plain.quad and head.weight.shape == (4 * 16, 4 * 16)
    blocks = head.weight.astype(np.int64).reshape(4, 16, 4, 16)
    for s in range(4):
        for t in range(4):
            want = plain.weight[::plain.spread] if s == t else 0
            np.testing.assert_array_equal(blocks[s, :, t, :], want)


def test_quad_run_packing_is_the_3x3_window_of_each_quad_pixel():
    rng = np.random.default_rng(32)
    w = rng.integers(-7, 8, size=(2, 16, 3, 3))
    img = rng.integers(0, 16, size=(16, 6, 8))
    rows = P.pack_quad(w, P.Source("s", 16, 16, 0, False, "quadrun", 64, 4), 16)
    assert rows.shape == (4 * 64, 64)
    pad = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    for yq, xq in [(0, 0), (1, 2), (2, 3)]:
        a = np.concatenate([pad[:, 2 * yq + u, 2 * xq:2 * xq + 4].T.ravel() for u in range(4)])
        acc = (a @ rows).reshape(4, 16)
        for s in range(4):
            y, x = 2 * yq + s // 2, 2 * xq + s % 2
            want = (w * pad[None, :, y:y + 3, x:x + 3]).sum(axis=(1, 2, 3))
            np.testing.assert_array_equal(acc[s, :2], want)


def test_im2col_rows_follow_tap_major_order():
    w = np.arange(4 * 2 * 9).reshape(4, 2, 3, 3)
    rows = P.pack_im2col(w, P.Source("x", 2, 2, 0, False, "im2col", 32))
    assert rows.shape == (32, 4) and not rows[18:].any()
    np.testing.assert_array_equal(rows[5 * 2 + 1], w[:, 1, 1, 2])   # tap 5 = (dy 0, dx +1)


def test_auto_design_switches_at_its_pixel_count_and_falls_back_without_cuda_cpp():
    assert P.resolve_design(None, P.AUTO_PIXELS - 1) == P.resolve_design("auto", 0) == "gen7"
    assert P.resolve_design(None, P.AUTO_PIXELS) == "gen6"
    assert P.resolve_design(None, P.AUTO_PIXELS - 1, cuda_cpp=False) == "gen3"
    assert P.resolve_design("auto", P.AUTO_PIXELS, cuda_cpp=False) == "gen4"
    assert P.resolve_design("gen1", 10 ** 9) == "gen1"
    assert P.resolve_design("gen6", 0, cuda_cpp=False) == "gen6"   # asked for: no fallback


def test_bench_records_name_the_design_each_call_size_runs():
    from tinyicenet.backends.cuda_kernels import CudaKernelsBackend
    from tinyicenet.kernels.runner import IntTinyIceNetGPU

    backend = object.__new__(CudaKernelsBackend)   # its constructor needs a GPU; the note not
    backend.runner = IntTinyIceNetGPU(random_intmodel(seed=2), device="meta", graphs=False)
    assert backend.design_note(1, 256, 256).startswith("kernel design gen7 (chosen per call")
    assert backend.design_note(16, 1024, 1024).startswith("kernel design gen6 (chosen per call")
    # the store layout is named where the call runs halo convs, and only there
    assert backend.design_note(1, 256, 256).endswith(", 4-byte output stores")
    backend.runner = IntTinyIceNetGPU(random_intmodel(seed=2), device="meta", graphs=False,
                                      design="gen3")
    assert backend.design_note(1, 256, 256) == "kernel design gen3 (fixed by the caller)"
    backend.runner = IntTinyIceNetGPU(random_intmodel(seed=2), device="meta", graphs=False,
                                      design="gen7", wide=False)
    assert backend.design_note(1, 256, 256) == "kernel design gen7 (fixed by the caller)"


@pytest.mark.parametrize("cin", [1, 3, 7, 10, 12])
def test_gen4_input_widths(cin):
    """Windows of 3 x C_in values padded to 8, 16 or 32 bytes (C_in <= 10); wider inputs keep
    gen3's fused quantiser."""
    model = random_intmodel(in_channels=cin, seed=40 + cin)
    plan = P.lower(from_intref(model), "gen4")
    assert plan.quant.window == (cin <= 10) and plan.quant_fused == (cin > 10)
    # gen7's CUDA C++ first conv takes 2 channels only; others keep gen6's (gen4's) first conv
    gen7 = P.lower(from_intref(model), "gen7")
    assert gen7.stages[0].sources[0].mode == plan.stages[0].sources[0].mode != "stem"
    x = (np.random.default_rng(cin).standard_normal((1, cin, 16, 24)) * 3).astype(np.float32)
    assert int((emulate(model, x, "gen4") != reference(model, x)).sum()) == 0


def test_safe_bias_leaves_room_for_the_rounding_shift():
    rq = P.Requant(rshift=4, lo=-128, hi=127)
    bound = np.array([P.INT32_MAX - 8 - 100])          # half of 2**4 is 8
    assert P.safe_bias(np.array([100]), bound, rq, "c")[0] == 100
    with pytest.raises(ExportError, match="over int32"):
        P.safe_bias(np.array([101]), bound, rq, "c")
    with pytest.raises(ExportError, match="shift 31"):
        P.safe_bias(np.array([0]), np.array([1]), P.Requant(31, -128, 127), "c")


def test_window_rows_against_a_hand_convolution():
    """gen4's windowed input: 4 stored row windows times pack_window's rows = the 3x3 conv."""
    rng = np.random.default_rng(12)
    w = rng.integers(-127, 128, (5, 2, 3, 3))
    q = rng.integers(-128, 128, (2, 6, 7))                      # [C, H, W] quantised input
    src = P.Source("input", 8, 2, 0, False, "window", 32)
    rows = P.pack_window(w, src)
    assert rows.shape == (32, 5) and not rows[24:].any() and not rows[6:8].any()
    pad = np.pad(q, ((0, 0), (1, 1), (1, 1)))
    for y, x in [(0, 0), (2, 3), (5, 6)]:
        win = [np.concatenate([pad[:, yy + 1, x:x + 3].T.ravel(), [0, 0]])   # bytes p*C + c
               for yy in (y - 1, y, y + 1)]
        a = np.concatenate(win + [win[0]])                       # the 4th re-reads row y-1
        want = (w * pad[None, :, y:y + 3, x:x + 3]).sum(axis=(1, 2, 3))
        np.testing.assert_array_equal(a @ rows, want)


def test_plan_equals_intref_with_wider_net_and_saturation():
    model = random_intmodel(widths=(16, 32, 64, 128), weight_bits=8, act_bits=8, seed=5)
    for lay in model.conv_layers()[:3]:  # over-driven layers: many outputs clamp at 255
        lay.weight_exp += 3
        lay.shift -= 3
    x = np.random.default_rng(7).standard_normal((1, 2, 32, 24)).astype(np.float32)
    vals = model.run_int(model.quantize_input(x), keep=True)
    assert (vals["enc0"] == 255).mean() > 0.05
    assert int((emulate(model, x) != vals["head"]).sum()) == 0


def test_quad_split_with_several_channel_chunks():
    # decoder0 reads a 128-channel tensor: quadsplit slices of 64 channels, two chunks per tap
    model = random_intmodel(widths=(16, 128, 64), weight_bits=8, act_bits=8, seed=9)
    stage = P.lower(from_intref(model), "gen5").stages[-1]
    up = stage.sources[0]
    assert up.mode == "quadsplit" and up.channels // up.bk == 2
    x = np.random.default_rng(91).standard_normal((1, 2, 16, 24)).astype(np.float32) * 3
    assert int((emulate(model, x, "gen5") != reference(model, x)).sum()) == 0


def test_plan_equals_intref_on_a_brevitas_model():
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    from tinyicenet.models import calibrate, create_model
    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4", charts=("SOD", "SIC"))
    g = torch.Generator().manual_seed(0)
    calibrate(model, [torch.randn(2, 2, 32, 32, generator=g)])
    im = intref.from_brevitas(model.eval())
    x = np.random.default_rng(68).standard_normal((2, 2, 32, 48)).astype(np.float32) * 2
    assert int((emulate(im, x) != reference(im, x)).sum()) == 0


def test_plan_equals_intref_on_generated_scene_tiles(sample_scene_files):
    from tinyicenet.data import extract_tiles, load_scene, plan_tiles
    model = random_intmodel(weight_bits=8, act_bits=8, seed=11)
    image = load_scene(sample_scene_files[0], downsample=5)["image"]
    tiles = extract_tiles(image, plan_tiles(image.shape[1:], tile=64, halo=8))[:3]
    assert tiles.std() > 0.1
    assert int((emulate(model, tiles) != reference(model, tiles)).sum()) == 0


def test_round_shift_matches_reference_including_ties():
    acc = np.concatenate([np.arange(-70, 70), np.random.default_rng(0).integers(-2**30, 2**30,
                                                                                 1000)])
    for shift in range(0, 12):
        np.testing.assert_array_equal(P.round_shift(acc, shift), intref.round_shift(acc, shift))
    # ties go to even: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2
    np.testing.assert_array_equal(P.round_shift(np.array([5, 7, -5]), 1), [2, 4, -2])


def test_left_shift_requant_preclamps_but_gives_reference_values():
    rq = P.Requant(rshift=-20, lo=0, hi=255)
    acc = np.array([-3, 0, 1, 2**10, 2**29])
    np.testing.assert_array_equal(P.apply_requant(acc, rq),
                                  intref.requantize(acc, -20, 0, 255))  # its shift: right


def test_safe_bias_keeps_outputs_and_fits_int32():
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, size=(4, 16, 3, 3))
    bound = P.accumulator_bound(w, 0, 255, 128)
    rq = P.Requant(rshift=6, lo=0, hi=255)
    bias = np.array([2**31 - 1, -(2**31), 100, -100])  # two hopeless biases, two ordinary ones
    safe = P.safe_bias(bias, bound, rq, "conv")
    assert safe.dtype == np.int32 and safe[2] == 100 and safe[3] == -100
    sums = rng.integers(-bound.min(), bound.min(), size=(1000, 1))
    for c in range(4):
        np.testing.assert_array_equal(P.apply_requant(sums + int(bias[c]), rq),
                                      P.apply_requant(sums + int(safe[c]), rq))


def test_int32_overflow_is_refused():
    w = np.full((2, 64, 3, 3), 127)
    rq = P.Requant(rshift=40, lo=0, hi=255)
    with pytest.raises(ExportError, match="int32"):
        P.safe_bias(np.array([2**31 - 1, 0]), np.array([2**30, 2**30]), rq, "deep")
    bound = P.accumulator_bound(w, 0, 255, 128)
    assert int(bound.max()) == 64 * 9 * 127 * 128


@pytest.mark.parametrize("design", P.DESIGNS)
def test_activations_wider_than_8_bits_are_refused_by_every_design(design):
    model = random_intmodel(seed=8)
    enc1 = next(lay for lay in model.layers if lay.name == "enc1")
    enc1.out_bits = 10   # a per-layer width the int8 kernels cannot hold
    with pytest.raises(ExportError, match="does not fit 8 bits"):
        P.lower(from_intref(model), design)


def test_xor_offset_choice():
    assert P.xor_for(0, 255) == 128 and P.xor_for(0, 15) == 0 and P.xor_for(-128, 127) == 0
    with pytest.raises(ExportError):
        P.xor_for(0, 511)


def test_sources_and_head_packing():
    run = P.choose_source("skip0", 16, 16, 32, up=False)
    assert run.mode == "run" and run.rows == 3 * 64
    tap = P.choose_source("bottleneck", 64, 64, 0, up=True)
    assert tap.mode == "tap" and tap.bk == 64 and tap.rows == 9 * 64
    w = np.arange(6 * 48 * 9).reshape(6, 48, 3, 3)
    rows = P.pack_source(w, run)
    # kernel row d, pixel p (dx = p - 1), channel c -> input channel 32 + c; pixel 3 is zero
    np.testing.assert_array_equal(rows.reshape(3, 4, 16, 6)[2, 0, 5], w[:, 37, 2, 0])
    assert not rows.reshape(3, 4, 16, 6)[:, 3].any()
    head = P.IntConv(weight=np.arange(6 * 16).reshape(6, 16, 1, 1), bias=np.zeros(6, int),
                     e_in=0, e_w=0, e_out=0, lo=-128, hi=127, in_lo=0, in_hi=255)
    hw, spread = P.pack_head(head, 16)
    assert spread == 2 and hw.shape == (32, 6)
    np.testing.assert_array_equal(hw[2 * 7], head.weight[:, 7, 0, 0])
    assert not hw[1::2].any()


def test_adapter_refuses_other_topologies():
    model = random_intmodel(seed=1)
    model.layers[4].inputs = ["enc0"]  # pool1 reading the wrong tensor
    with pytest.raises(ExportError, match="pool1"):
        from_intref(model)
    with pytest.raises(ExportError, match="IntModel"):
        from_intref(object())


@pytest.mark.parametrize("design", P.DESIGNS)
def test_padding_channels_and_non_power_of_two_widths(design):
    model = random_intmodel(widths=(12, 24, 40), weight_bits=4, act_bits=4, seed=2, classes=11)
    x = np.random.default_rng(155).standard_normal((1, 2, 16, 20)).astype(np.float32) * 3
    assert int((emulate(model, x, design) != reference(model, x)).sum()) == 0


def test_traffic_counts_the_network_work_for_every_design():
    from tinyicenet.kernels.traffic import stage_traffic
    net = from_intref(random_intmodel(seed=4))
    for design in P.DESIGNS:
        t = stage_traffic(P.lower(net, design), 2, 64, 64)
        assert sum(v["macs"] for v in t.values()) == 2 * macs_per_image(net, 64, 64)
        if design == "gen1":   # (parity taps sum weights: fewer MMA MACs than the network's)
            assert all(v["mma_macs"] >= v["macs"] for v in t.values())
    g1 = stage_traffic(P.lower(net, "gen1"), 1, 64, 64)["decoder0"]
    g3 = stage_traffic(P.lower(net, "gen3"), 1, 64, 64)["decoder0"]
    # per pixel: 9 taps x 32 (upsampled) + 3 runs x 64 (skip) + 6 logits, vs the quad's
    # 9/4 x 32 + 4 x 64 / 4 + 6
    assert g1["gathered_bytes"] / g1["pixels"] == 9 * 32 + 3 * 64 + 6
    assert g3["gathered_bytes"] / g3["pixels"] == 72 + 64 + 6
    # gen5 (w8): the same gathers, 16 unsummed blocks of 32 rows instead of 9 x 2 planes; both
    # apply the head per quad (block-diagonal, 64 x 64)
    g5 = stage_traffic(P.lower(net, "gen5"), 1, 64, 64)["decoder0"]
    assert g5["gathered_bytes"] == g3["gathered_bytes"]
    assert g3["mma_macs"] / g3["pixels"] == (256 + 2 * 9 * 32) * 16 + 64 * 64 / 4
    assert g5["mma_macs"] / g5["pixels"] == (256 + 16 * 32) * 16 + 64 * 64 / 4


def test_float_twin_and_op_count():
    torch = pytest.importorskip("torch")
    model = random_intmodel(seed=4)
    net = from_intref(model)
    # hand count for widths (16, 32, 64), 2 inputs, 6 classes, per pixel of the full image
    per_px = 2 * 16 * 9 + 16 * 32 * 9 / 4 + 32 * 64 * 9 / 16 + 96 * 32 * 9 / 4 + 48 * 16 * 9 \
        + 16 * 6
    assert macs_per_image(net, 64, 64) == int(per_px * 64 * 64)
    twin = float_twin(net)
    x = np.random.default_rng(0).standard_normal((1, 2, 32, 32)).astype(np.float32)
    with torch.no_grad():
        y = twin(torch.from_numpy(x)).numpy()
    q = model(x)  # the integer model's dequantised logits: same network up to quantisation
    assert y.shape == q.shape
    assert np.corrcoef(y.ravel(), q.ravel())[0, 1] > 0.8


def test_backend_loads_npz_and_refuses_bad_artefacts(tmp_path):
    from tinyicenet.backends import cuda_kernels
    model = random_intmodel(weight_bits=4, act_bits=4, seed=3)
    path = intref.save_intref(model, tmp_path / "m.npz")
    loaded, notes = cuda_kernels.load_integer_model(path)
    assert notes == [] and len(loaded.layers) == len(model.layers)
    with pytest.raises(ConfigError, match="cannot load"):
        cuda_kernels.load_integer_model("resnet50")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        from tinyicenet.backends import available_backends, get_backend
        assert "cuda-kernels" in available_backends()
        assert "cuda-kernels" not in available_backends(check=True)
        with pytest.raises(ToolNotFoundError, match="CUDA"):
            get_backend("cuda-kernels", path)

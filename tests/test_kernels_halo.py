"""The halo conv (gen6, ``halo_conv.cu``) on the CPU: fragment packing and the kernel model.

The CUDA kernel itself needs a GPU (test_kernels_gpu.py). Here: its B fragments against the
PTX ISA's layout written out lane by lane, and ``fragments.model_stage`` / ``model_head`` (the
kernel's tiles, halo copies, ldmatrix addresses, K steps and head permutation in numpy) against
the plan emulator, which the other CPU tests hold to the integer reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyicenet.kernels import emulate as E
from tinyicenet.kernels import fragments as F
from tinyicenet.kernels import plan as P
from tinyicenet.kernels.adapt import from_intref
from tinyicenet.kernels.synthetic import random_intmodel
from helpers import fresh_rng, quantiser_edge_input


def _b_layout(kw: int) -> dict[tuple[int, int, int], tuple[int, int]]:
    """PTX ISA, mma.m16n8k32 / k16 with .s8 B: (lane, register, byte) -> (k, n)."""
    out = {}
    for lane in range(32):
        group, thread = lane // 4, lane % 4
        for reg in range(kw // 16):
            for byte in range(4):
                out[lane, reg, byte] = (thread * 4 + byte + 16 * reg, group)
    return out


@pytest.mark.parametrize("kw", [32, 16])
def test_weight_fragments_follow_the_ptx_b_layout(kw):
    rng = np.random.default_rng(1)
    block = rng.integers(-128, 128, size=(kw, 16))
    frag = F._lane_bytes(block, kw // 16)            # [n_tiles, lane, regs * 4]
    for (lane, reg, byte), (k, n) in _b_layout(kw).items():
        for j in range(2):
            assert frag[j, lane, 4 * reg + byte] == block[k, 8 * j + n]


def test_head_channels_are_the_accumulator_layout_as_an_a_fragment():
    # accumulator (PTX C layout) of n-tile j: lane thread t holds columns 2t, 2t + 1; the
    # head's A (k16) wants lane t's bytes at K = 4t .. 4t + 3 of one row
    ch = F.head_channels(32)
    for p in range(2):
        for t in range(4):
            held = [16 * p + 2 * t, 16 * p + 2 * t + 1, 16 * p + 8 + 2 * t, 16 * p + 9 + 2 * t]
            assert list(ch[p, t]) == held
    assert sorted(ch.ravel()) == list(range(32))
    # wide stores: lane t's accumulator columns of the pair are channels 4t .. 4t + 3, so the
    # head reads the channels in their own order
    assert np.array_equal(F.head_channels(32, wide=True).ravel(), np.arange(32))


def test_wide_store_channels_give_each_lane_four_adjacent_channels():
    cout = 64
    channel = F.store_channels(cout, wide=True)
    assert sorted(channel) == list(range(cout))             # a permutation
    assert np.array_equal(F.store_channels(cout, wide=False), np.arange(cout))
    for lane in range(32):
        t = lane % 4
        for q in range(cout // 16):
            # the C layout: lane t holds columns 2t, 2t + 1 of n-tiles 2q and 2q + 1, and the
            # kernel stores them, in that order, as one word at channel 16 q + 4 t
            held = [channel[8 * j + 2 * t + e] for j in (2 * q, 2 * q + 1) for e in (0, 1)]
            assert held == [16 * q + 4 * t + i for i in range(4)]
    # the kernel's epilogue (its own transcription) agrees with the packing in both layouts:
    # each column adds the bias of its channel, and each channel is stored from its column
    for wide in (False, True):
        channel = F.store_channels(cout, wide)
        bias, stored = F.epilogue(cout, wide)
        assert np.array_equal(bias, channel) and np.array_equal(channel[stored], np.arange(cout))


def test_ksteps_cover_every_tap_and_channel_once():
    with pytest.raises(ValueError, match="multiple of 32"):
        F.ksteps(48, False)   # the plan pads widths to powers of two >= 16
    for c in (16, 32, 64, 128):
        for up in (False, True):
            steps = F.ksteps(c, up)
            covered = [(t, ch + k) for step in steps for t, ch in step for k in range(16)]
            assert sorted(covered) == [(t, ch) for t in range(9) for ch in range(c)]
            # the second slice of a K = 32 step sits one fixed step from the first
            moves = {(b[0] - a[0], b[1] - a[1]) for a, b in (s for s in steps if len(s) == 2)}
            assert len(moves) <= 1
    # 16 channels: taps (0, dx) + (1, dx) per K = 32 step, the (2, dx) taps alone (K = 16)
    assert F.ksteps(16, False) == [((0, 0), (3, 0)), ((1, 0), (4, 0)), ((2, 0), (5, 0)),
                                   ((6, 0),), ((7, 0),), ((8, 0),)]
    assert F.ksteps(16, True) == [((t, 0),) for t in range(9)]


def _stage_outputs(plan: P.Plan, x: np.ndarray):
    """Run the emulator stage by stage; yield (stage, buffers, level size, conv output)."""
    n, _, h, w = x.shape
    bufs = {name: E._Buffer(n, h >> lv, w >> lv, ch, off)
            for name, (lv, ch, off) in plan.buffers.items()}
    qin = E._quantized(plan.quant, x)
    if "input" in bufs:
        E._quantize(plan.quant, x, bufs["input"])
    for stage in plan.stages:
        hl, wl = h >> stage.level, w >> stage.level
        y = P.apply_requant(E._conv(stage, bufs, n, hl, wl, qin), stage.requant)
        yield stage, bufs, (n, hl, wl), y
        E._store(y, stage.out_xor, stage.out, stage.pool, bufs)


@pytest.mark.parametrize("wb,ab,skips,widths,classes", [
    (8, 8, True, (16, 32, 64), 6), (4, 4, True, (16, 32, 64), 6), (8, 8, False, (16, 32, 64), 6),
    (4, 4, False, (16, 32, 64), 6),
    # a 16-channel upsampled source (K = 16 steps), three class tiles, 48 -> 64 padded widths
    (8, 8, True, (16, 16, 16), 17), (4, 4, True, (16, 48, 96), 11),
    (8, 8, False, (32, 64, 128), 6)])
@pytest.mark.parametrize("wide", [False, True])
def test_kernel_model_equals_the_emulator(wb, ab, skips, widths, classes, wide):
    rng = fresh_rng("halo model")
    model = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips, widths=widths,
                            classes=classes, seed=int(rng.integers(1 << 30)))
    plan = P.lower(from_intref(model), "gen6")
    # 24 x 40: partial tiles in both directions at both decoder levels; one saturating image
    x = (rng.standard_normal((2, 2, 24, 40)) * rng.uniform(0.5, 4)).astype(np.float32)
    x[1, :, :6] = 60.0
    checked = []
    for stage, bufs, (n, h, w), y in _stage_outputs(plan, x):
        if stage.name in ("encoder0",):   # the first conv stays a Triton kernel (gen4's)
            assert [s.mode for s in stage.sources] == ["window"]
            continue
        up, same = (None if s is None else bufs[s.buffer].flat for s in F.sources(stage))
        assert [s.mode for s in stage.sources] == ["halo"] * (1 + (skips and up is not None))
        for tile in ((8, 32, 4), (4, 16, 2), (16, 16, 4)):
            got = F.model_stage(stage, up, same, n, h, w, tile, wide)
            assert int((got != y).sum()) == 0, (stage.name, tile)
        if stage.head is not None:
            got = F.model_head(stage.head, y, wide)
            assert int((got != E._head(stage.head, y)).sum()) == 0
        checked.append(stage.name)
    assert checked == ["encoder1", "bottleneck", "decoder1", "decoder0"]


def test_smem_bytes_of_the_default_stages_by_hand():
    stages = {s.name: s for s in P.lower(from_intref(random_intmodel(seed=3)), "gen7").stages}
    # decoder0 of the default net: up 32 + skip 16 channels -> 16; decoder1: 64 + 32 -> 32
    # weights 9 * 48 * 16; halo (4 + 2) x (16 + 2) low-res x 32 + 10 x 34 x 16, to 128 bytes
    assert F.smem_bytes(stages["decoder0"], 8, 32) == 6912 + 2 * 8960
    assert F.smem_bytes(stages["decoder1"], 8, 32) == 27648 + 2 * (6 * 18 * 64 + 10 * 34 * 32)
    # the stem: 32 x 16 weights; two fp32 halos of 10 x 34 x 2 channels; 10 x 34 pairs
    assert F.smem_bytes(stages["encoder0"], 8, 32) == 512 + 2 * 2816 + 768


@pytest.mark.parametrize("wb,ab,skips,widths", [
    (8, 8, True, (16, 32, 64)), (4, 4, False, (16, 32, 64)), (8, 8, True, (32, 64, 128))])
@pytest.mark.parametrize("wide", [False, True])
def test_stem_model_equals_the_emulator(wb, ab, skips, widths, wide):
    # gen7's first conv (quantiser + im2col step from the fp32 halo) against the emulator's
    # reference quantiser and im2col conv, on partial tiles, saturating pixels, exact halves
    # of the quantisation step, infinities and NaN (the reference maps NaN to 0)
    rng = fresh_rng("stem model")
    model = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips, widths=widths,
                            seed=int(rng.integers(1 << 30)))
    plan = P.lower(from_intref(model), "gen7")
    assert plan.quant_fused and "input" not in plan.buffers
    x = quantiser_edge_input(rng, plan.quant.input_scale, 24, 40)
    stage, _, (n, h, w), y = next(_stage_outputs(plan, x))
    assert stage.name == "encoder0" and F.is_stem(stage) and stage.halo
    assert not stage.weight[18:].any()     # the A bytes past K = 18 are free
    for tile in ((8, 32, 4), (4, 16, 2), (16, 16, 4), (8, 16, 1)):
        got = F.model_stem(stage, plan.quant, x, tile, wide)
        assert int((got != y).sum()) == 0, tile
    # and the whole gen7 plan is the integer reference (the emulator's own oracle)
    expect = model.run_int(model.quantize_input(np.nan_to_num(x, nan=0.0)))
    assert np.array_equal(E.run_plan(plan, np.nan_to_num(x, nan=0.0)), expect)


@pytest.mark.parametrize("rshift", [1, 2, 5, 7, 13, 30])
def test_the_tie_clearing_shift_rounds_half_to_even(rshift):
    # the identity halo_conv.cu's requant relies on (the kernel itself runs in the GPU tests):
    # from t = acc + half (the offset folded into the bias), t >> s, with bit 0 cleared where
    # the low s bits of t are all 0 (a tie), against plan.round_shift
    rng = np.random.default_rng(rshift)
    half = 1 << (rshift - 1)
    ties = (np.arange(-40, 40) << rshift) + half                 # exact halves, both signs
    acc = np.concatenate([ties, ties - 1, ties + 1,
                          rng.integers(-2**31 + 2**rshift, 2**31 - 2**rshift, 4000)])
    acc = acc[np.abs(acc + half) < 2**31 - 1]                   # what int32 holds (safe_bias)
    assert acc.size > 4000
    t = (acc + half).astype(np.int32)
    kernel = np.where(t & ((1 << rshift) - 1) == 0, (t >> rshift) & ~1, t >> rshift)
    assert np.array_equal(kernel, P.round_shift(acc, rshift))


def test_halo_tiles_are_checked_before_anything_is_compiled():
    pytest.importorskip("triton")
    torch = pytest.importorskip("torch")
    from tinyicenet.errors import ConfigError
    from tinyicenet.kernels.cuda_halo import check_tile
    from tinyicenet.kernels.runner import IntTinyIceNetGPU
    # whole pairs of tile rows per warp: (8, 16) with 4 warps gives each warp rows 2w, 2w + 1
    assert check_tile((8, 16, 4)) and check_tile((16, 32, 4)) and check_tile((8, 16, 2))
    assert not check_tile((4, 16, 4)) and not check_tile((8, 24, 2)) and not check_tile((7, 16, 1))
    runner = IntTinyIceNetGPU(random_intmodel(seed=2), device="meta", graphs=False,
                              design="gen6", tiles={"decoder0": (4, 16, 4)})
    x = torch.empty(1, 2, 32, 32, device="meta")
    with pytest.raises(ConfigError, match="decoder0"):
        runner.launch_specs(runner.state(1, 32, 32), x)
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        IntTinyIceNetGPU(random_intmodel(seed=2), device="cpu", design="gen6")
    # "*" applies to the halo convs only where it suits them; else their own defaults
    runner = IntTinyIceNetGPU(random_intmodel(seed=2), device="meta", graphs=False,
                              design="gen6", tiles={"*": (4, 16, 4)})
    specs = {name: k for name, k, *_ in runner.launch_specs(runner.state(1, 32, 32), x)}
    assert specs["decoder0"].tile == IntTinyIceNetGPU.HALO_TILES[0]["decoder0"]


def test_fused_source_undefines_every_stage_macro_in_a_stable_order():
    import hashlib
    import re
    import subprocess
    import sys

    from tinyicenet.kernels import cuda_halo
    # every macro the stage section defines must be undefined after each fused stage, or the
    # next namespace would see it (NVRTC: redefinition, or a silently kept default)
    section = F.source().split("//@stage\n")[1].split("//@kernel\n")[0]
    defined = set(re.findall(r"^#define (\w+)", section, flags=re.M))
    plan = P.lower(from_intref(random_intmodel(seed=5)), "gen7")
    given = {k for s in plan.stages for k in cuda_halo.defines(s, (8, 16, 4), plan.quant)}
    assert defined <= set(cuda_halo.DERIVED) | given
    # the same source in every process (CuPy caches compiles by their source text)
    code = ("import hashlib; from tinyicenet.kernels import cuda_halo, plan as P; "
            "from tinyicenet.kernels.adapt import from_intref; "
            "from tinyicenet.kernels.synthetic import random_intmodel; "
            "p = P.lower(from_intref(random_intmodel(seed=5)), 'gen7'); "
            "print(hashlib.sha256(cuda_halo.fused_source([(s, (8, 16, 4)) for s in p.stages], "
            "p.quant).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env={**__import__("os").environ,
                                               "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2")}
    local = cuda_halo.fused_source([(s, (8, 16, 4)) for s in plan.stages], plan.quant)
    assert digests == {hashlib.sha256(local.encode()).hexdigest() + "\n"}


def test_fused_calls_take_one_launch_on_the_small_calls_tiles():
    pytest.importorskip("triton")
    torch = pytest.importorskip("torch")
    from tinyicenet.errors import ConfigError
    from tinyicenet.kernels.runner import IntTinyIceNetGPU
    model = random_intmodel(seed=2)
    runner = IntTinyIceNetGPU(model, device="meta", graphs=False, design="gen7", fused=True)
    for n, h, w in ((1, 32, 48), (16, 1024, 1024)):   # a large call too: one warp count
        x = torch.empty(n, 2, h, w, device="meta")
        specs = runner.launch_specs(runner.state(n, h, w), x)
        assert [s[0] for s in specs] == ["network"]
        assert specs[0][1].tiles == [IntTinyIceNetGPU.HALO_TILES[0][s.name]
                                     for s in runner.plan.stages]
    per_stage = IntTinyIceNetGPU(model, device="meta", graphs=False, design="gen7")
    assert len(per_stage.launch_specs(per_stage.state(1, 32, 48),
                                      torch.empty(1, 2, 32, 48, device="meta"))) == 5
    with pytest.raises(ConfigError, match="design gen6"):
        IntTinyIceNetGPU(model, device="meta", design="gen6", fused=True)
    mixed = IntTinyIceNetGPU(model, device="meta", graphs=False, design="gen7", fused=True,
                             tiles={"decoder0": (8, 16, 2)})
    with pytest.raises(ConfigError, match="one warp count"):
        mixed.state(1, 32, 48)


def test_programmatic_launch_structures_match_cuda_h(tmp_path):
    import ctypes
    import shutil
    import subprocess

    from tinyicenet.kernels import cuda_halo as C
    # cuda.h: CUlaunchAttribute is an int id padded to 8 bytes and a 64-byte union;
    # CUlaunchConfig is seven unsigned ints, then the stream, attrs and numAttrs
    layout = {"attr": ctypes.sizeof(C.LaunchAttribute), "value": C.LaunchAttribute.value.offset,
              "config": ctypes.sizeof(C.LaunchConfig), "shared": C.LaunchConfig.shared.offset,
              "stream": C.LaunchConfig.stream.offset, "attrs": C.LaunchConfig.attrs.offset,
              "num_attrs": C.LaunchConfig.num_attrs.offset}
    assert layout == {"attr": 72, "value": 8, "config": 56, "shared": 24, "stream": 32,
                      "attrs": 40, "num_attrs": 48}
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH: cuda.h not checked")
    src = tmp_path / "layout.cu"
    src.write_text(
        "#include <cuda.h>\n#include <cstdio>\n#include <cstddef>\nint main() {\n"
        ' printf("%zu %zu %zu %zu %zu %zu %zu %d\\n", sizeof(CUlaunchAttribute),'
        " offsetof(CUlaunchAttribute, value), sizeof(CUlaunchConfig),"
        " offsetof(CUlaunchConfig, sharedMemBytes), offsetof(CUlaunchConfig, hStream),"
        " offsetof(CUlaunchConfig, attrs), offsetof(CUlaunchConfig, numAttrs),"
        " (int)CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);\n}\n")
    subprocess.run([nvcc, str(src), "-o", str(tmp_path / "layout")], check=True,
                   capture_output=True)
    got = subprocess.run([str(tmp_path / "layout")], capture_output=True, text=True,
                         check=True).stdout.split()
    assert [int(v) for v in got] == [*layout.values(), C.PROGRAMMATIC_STREAM_SERIALIZATION]


def test_kernel_params_point_at_each_argument_as_the_signature_takes_it():
    import ctypes

    torch = pytest.importorskip("torch")
    from tinyicenet.kernels.cuda_halo import kernel_args, kernel_params
    t = torch.zeros(4, dtype=torch.int8)
    values = kernel_args((t, 7, 0.25, -3))
    assert [v.dtype for v in values] == [np.uint64, np.int32, np.float32, np.int32]
    params, held = kernel_params(values)
    assert ctypes.c_uint64.from_address(params[0]).value == t.data_ptr()
    assert ctypes.c_int32.from_address(params[1]).value == 7
    assert ctypes.c_float.from_address(params[2]).value == 0.25
    assert ctypes.c_int32.from_address(params[3]).value == -3
    assert [ctypes.sizeof(v) for v in held] == [8, 4, 4, 4]


def test_the_launch_floor_kernel_has_the_halo_convs_dependency_and_no_work(tmp_path):
    import shutil
    import subprocess

    from tinyicenet.kernels.cuda_halo import EmptyKernel
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH")
    for pdl, dependency in ((True, ["griddepcontrol.wait;", "griddepcontrol.launch_dependents;"]),
                            (False, [])):
        k = EmptyKernel(pdl=pdl)
        assert k.pdl == pdl and k.shared == 0
        (src := tmp_path / "empty.cu").write_text(k.code)
        out = tmp_path / "empty.ptx"
        subprocess.run([nvcc, "-ptx", "-arch=sm_90", *k.options, str(src), "-o", str(out)],
                       check=True, capture_output=True)
        body = out.read_text().split(f".entry {k.entry}", 1)[1]
        ops = [line.split()[0] for line in body.splitlines()
               if line.strip() and line.split()[0][0].isalpha()]
        assert ops == [*dependency, "ret;"]


@pytest.mark.slow
def test_a_programmatic_halo_conv_waits_before_it_touches_an_activation(tmp_path):
    import shutil
    import subprocess

    from tinyicenet.kernels.cuda_halo import HaloKernel
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH")
    plan = P.lower(from_intref(random_intmodel(seed=5)), "gen7")
    (src := tmp_path / "halo.cu").write_text(F.source())
    for stage in (plan.stages[0], plan.stages[-1]):      # the stem, and decoder0 with the head
        ptx = {}
        for pdl in (False, True):
            k = HaloKernel(stage, (8, 16, 4), plan.quant, pdl=pdl)
            out = tmp_path / f"{stage.name}{pdl}.ptx"
            subprocess.run([nvcc, "-ptx", "-arch=sm_90", *k.options, str(src), "-o", str(out)],
                           check=True, capture_output=True)
            ptx[pdl] = out.read_text()
        assert "griddepcontrol" not in ptx[False]
        body = ptx[True]
        wait = body.index("griddepcontrol.wait")
        assert wait < body.index("griddepcontrol.launch_dependents")
        # every store, and every copy of an activation, comes after the wait; before it only
        # the weights (16-byte copies, not yet committed) and the bias are read: each halo
        # copy ends in a commit, so no commit may precede the wait
        before = body[:wait]
        assert "st.global" not in before and "cp.async.ca" not in before
        assert "cp.async.cg" in before and "cp.async.commit_group" not in before

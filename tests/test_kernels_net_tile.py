"""Design gen8 (``net_tile.cu``: the whole network per output tile) on the CPU.

The kernel itself needs a GPU (test_kernels_gpu.py). Here: its regions and shared-memory
layout by hand, and ``net_tile.model`` (the kernel's phases, lane addresses, K steps, pools,
upsampled copies and padding in numpy) against the plan emulator, which the other CPU tests
hold to the integer reference; the generated source compiles with nvcc where it is on PATH.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from tinyicenet.errors import ConfigError
from tinyicenet.kernels import emulate as E
from tinyicenet.kernels import net_tile as N
from tinyicenet.kernels import plan as P
from tinyicenet.kernels.adapt import from_intref
from tinyicenet.kernels.synthetic import random_intmodel
from helpers import fresh_rng, quantiser_edge_input


def _plan(seed: int = 5, **kw) -> P.Plan:
    return P.lower(from_intref(random_intmodel(seed=seed, **kw)), "gen8")


def test_regions_and_shared_memory_of_the_default_tile_by_hand():
    geo = N.geometry(_plan())
    R = N.Region
    # decoder0: the tile; each decoder reads its region grown by one, upsampled from half of
    # it; the bottleneck reads the pool of encoder1, which must also cover decoder1's skip
    assert geo.conv == {"decoder0": R(0, 0, 0, 16, 32), "decoder1": R(1, -1, -1, 10, 18),
                        "bottleneck": R(2, -1, -1, 6, 10), "encoder1": R(1, -4, -4, 16, 24),
                        "encoder0": R(0, -10, -10, 36, 52)}
    regions = {k: (v[0], v[1]) for k, v in geo.buffers.items()}
    assert regions == {"input": (R(0, -11, -11, 38, 54), 2),
                       "encoder0": (R(0, -10, -10, 36, 52), 16),
                       "pooled1": (R(1, -5, -5, 18, 26), 16),
                       "upsampled0": (R(0, -1, -1, 18, 34), 32),
                       "encoder1": (R(1, -4, -4, 16, 24), 32),
                       "pooled2": (R(2, -2, -2, 8, 12), 32),
                       "upsampled1": (R(1, -2, -2, 12, 20), 64)}
    # weights 32 x 16 + 9 x 16 x 32 + 9 x 32 x 64 + 9 x 96 x 32 + 9 x 48 x 16, then the
    # buffers (pixels x bytes per pixel, each to 128 bytes: the input's 4104 -> 4224,
    # 7488 -> 7552); 32 and 64 channels take 48 and 80 bytes per pixel (29376 -> 29440)
    weights = 512 + 4608 + 18432 + 27648 + 6912
    assert geo.buffers["input"][3] == weights
    assert geo.smem == weights + 4224 + 29952 + 7552 + 29440 + 18432 + 4608 + 19200 == 171520
    assert N.m_tiles(geo.conv["decoder1"]) == 12   # 180 pixels: the last m-tile padded


def test_without_skips_the_encoders_cover_their_pools_only():
    geo = N.geometry(_plan(skips=False), (8, 16, 4))
    assert geo.conv["encoder1"] == geo.buffers["pooled2"][0].double()
    assert geo.conv["encoder0"] == geo.buffers["pooled1"][0].double()


@pytest.mark.parametrize("wb,ab,skips,widths,classes", [
    (8, 8, True, (16, 32, 64), 6), (4, 4, True, (16, 32, 64), 6),
    (8, 8, False, (16, 32, 64), 6), (4, 4, False, (16, 32, 64), 6),
    # 16-channel upsampled sources (K = 16 steps), three class tiles; a 128-channel bottleneck
    # (16 n-tiles, one m-tile per group)
    (8, 8, True, (16, 16, 16), 17), (4, 4, True, (16, 16, 128), 11)])
@pytest.mark.parametrize("wide", [False, True])
def test_kernel_model_equals_the_emulator(wb, ab, skips, widths, classes, wide):
    rng = fresh_rng("gen8 model")
    model = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips, widths=widths,
                            classes=classes, seed=int(rng.integers(1 << 30)))
    plan = P.lower(from_intref(model), "gen8")
    # 40 x 72: partial tiles in both directions on each tile below
    x = quantiser_edge_input(rng, plan.quant.input_scale, 40, 72)
    ref = E.run_plan(plan, np.nan_to_num(x, nan=0.0))
    assert len(np.unique(ref)) >= 4
    for tile in ((16, 32, 16), (8, 16, 4) if wide else (32, 16, 8)):
        got = N.model(plan, x, tile, wide)
        assert int((got != ref).sum()) == 0, tile
    expect = model.run_int(model.quantize_input(np.nan_to_num(x, nan=0.0)))
    assert np.array_equal(ref, expect)


def test_plans_and_tiles_gen8_cannot_run_are_refused():
    with pytest.raises(ConfigError, match="2-channel input"):
        N.geometry(P.lower(from_intref(random_intmodel(seed=1, in_channels=3)), "gen8"))
    with pytest.raises(ConfigError, match="multiples of the model stride"):
        N.geometry(_plan(), (6, 32, 4))
    wide_net = _plan(widths=(32, 64, 128))       # its weights alone take 230 KB
    assert not N.eligible(wide_net) and N.eligible(_plan())
    assert N.geometry(_plan(), (32, 32, 16)).smem > N.MAX_SMEM   # the default net's limit
    with pytest.raises(ConfigError, match="shared memory"):
        N.kernel_source(wide_net)


def test_the_runner_launches_one_kernel_with_no_activation_buffers():
    pytest.importorskip("triton")
    torch = pytest.importorskip("torch")
    from tinyicenet.kernels.cuda_halo import NetTileKernel
    from tinyicenet.kernels.runner import IntTinyIceNetGPU
    runner = IntTinyIceNetGPU(random_intmodel(seed=2), device="meta", graphs=False,
                              design="gen8", tiles={"network": (8, 16, 4)})
    state = runner.state(3, 40, 72)
    assert not state.buffers
    specs = runner.launch_specs(state, torch.empty(3, 2, 40, 72, device="meta"))
    (name, kernel, grid, args, _), = specs
    assert name == "network" and isinstance(kernel, NetTileKernel)
    assert kernel.tile == (8, 16, 4) and grid == (3 * 5 * 5,)     # 40 / 8 x 72 / 16 rounded up
    # x, weights and bias of five stages, head fragments and bias, logits, H, W, tiles
    assert len(args) == 1 + 10 + 3 + 5 and args[-5:-1] == (40, 72, 5, 25)
    with pytest.raises(ConfigError, match="shared memory"):
        IntTinyIceNetGPU(random_intmodel(seed=2, widths=(32, 64, 128)), device="meta",
                         design="gen8")


def test_the_generated_kernel_compiles(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH")
    for k, (plan, tile, wide) in enumerate([(_plan(), N.TILE, True),
                                            (_plan(skips=False), (8, 16, 4), False),
                                            (_plan(widths=(16, 16, 128)), N.TILE, True)]):
        src = tmp_path / f"net{k}.cu"
        src.write_text(N.kernel_source(plan, tile, wide))
        proc = subprocess.run([nvcc, "-std=c++17", "-arch=sm_90", "-cubin", "--resource-usage",
                               "-o", str(tmp_path / f"net{k}.cubin"), str(src)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "0 bytes spill stores" in proc.stderr, proc.stderr[-2000:]


def test_network_traffic_counts_the_recomputed_halos():
    from tinyicenet.kernels.traffic import network_traffic, stage_traffic
    plan = _plan()
    t = network_traffic(plan, 1, 256, 256)["network"]
    # per program: m-tiles x 16 rows x K rows x padded channels of each phase (hand-counted
    # from the regions above: 117, 24, 4, 12 and 32 m-tiles), plus the head
    head = plan.stages[-1].head.weight.size
    per = 16 * (117 * 32 * 16 + 24 * 144 * 32 + 4 * 288 * 64 + 12 * 864 * 32
                + 32 * (432 * 16 + head))
    assert t["mma_macs"] == 128 * per
    assert t["macs"] == sum(v["macs"] for v in stage_traffic(plan, 1, 256, 256).values())
    assert t["compulsory_bytes"] == 256 * 256 * (8 + 6)     # fp32 HH, HV in; int8 logits out


def test_every_phase_waits_for_its_weights_and_the_phase_before():
    # the generated body: before stage k's call, cp_wait<stages - 1 - k> and a barrier; a
    # barrier before each pool; nothing reads a buffer before the barrier after its writer
    plan = _plan()
    body = N.kernel_source(plan).split("net_tile(const float*")[1]
    calls = [ln.strip() for ln in body.splitlines()
             if ln.strip().startswith(("cp_wait", "__syncthreads", "stem_phase", "conv_phase",
                                       "pool_phase", "load_input", "stage_weights"))]
    n = len(plan.stages)
    assert [c.split("<")[0] for c in calls[:n + 1]] == ["stage_weights"] * n + ["load_input"]
    phases = [i for i, c in enumerate(calls) if c.startswith(("stem_phase", "conv_phase"))]
    assert len(phases) == n
    for k, i in enumerate(phases):
        assert calls[i - 2:i] == [f"cp_wait<{n - 1 - k}>();", "__syncthreads();"], calls[i - 2:i]
    for i, c in enumerate(calls):
        if c.startswith("pool_phase"):
            assert calls[i - 1] == "__syncthreads();"
    assert N.phase_labels(plan) == ["start", "input", "encoder0", "pool1", "encoder1", "pool2",
                                    "bottleneck", "decoder1", "decoder0"]
    assert N.kernel_source(plan, clocks=True).count("stamp(clocks,") == len(N.phase_labels(plan))

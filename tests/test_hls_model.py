"""Modelled timing, FIFO depths, resources and the planner (no compiler needed)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyicenet.errors import ConfigError, ExportError
from helpers import calibrated_model


@pytest.fixture(scope="module")
def skip_design():
    from tinyicenet.hls.project import prepare_model

    model = calibrated_model("tinyicenet_w4a4", seed=5)
    return model, prepare_model(model, model.stride)[1]


@pytest.fixture(scope="module")
def noskip_design():
    from tinyicenet.hls.project import prepare_model

    model = calibrated_model("tinyicenet_w4a4_noskip", seed=5)
    return model, prepare_model(model, model.stride)[1]


def _layers(prepared, tile: int, reuse: int = 8):
    """The hls4ml layer list of ``prepared`` at ``tile`` with one reuse factor everywhere."""
    from tinyicenet.hls.board import load_board
    from tinyicenet.hls.convert import ConvSetting, convert, hls_config
    from tinyicenet.hls.model.graph import layers_from_hls_model
    from tinyicenet.hls.passes import retile
    from tinyicenet.hls.quant_formats import conv_formats

    graph = retile(prepared, tile)
    formats = conv_formats(graph)
    config = hls_config(graph, formats, {f.name: ConvSetting("resource", reuse) for f in formats})
    return layers_from_hls_model(convert(graph, config, load_board("zcu102"), "unused"))


def test_max_plus_recurrences_match_loops():
    from tinyicenet.hls.model.schedule import issue, latest

    rng = np.random.default_rng(20240)
    avail = rng.integers(0, 500, 300)
    dur = rng.integers(1, 9, 300)
    s, expect = issue(avail, dur), []
    for k in range(300):
        expect.append(avail[k] if k == 0 else max(avail[k], expect[-1] + dur[k - 1]))
    assert s.tolist() == expect
    deadline = rng.integers(1000, 5000, 300)
    late, expect = latest(deadline, dur), [0] * 300
    for k in reversed(range(300)):
        expect[k] = deadline[k] if k == 299 else min(deadline[k], expect[k + 1] - dur[k])
    assert late.tolist() == expect


@pytest.mark.parametrize("which", ["skip_design", "noskip_design"])
def test_sized_fifos_keep_the_unbounded_latency(request, which):
    """A blocking-write simulation with the chosen depths neither deadlocks nor slows down."""
    from tinyicenet.hls.model.schedule import bounded, schedule

    _, prepared = request.getfixturevalue(which)
    sched = schedule(_layers(prepared, 32))
    design = sched.design
    times = bounded(design, sched.fifo_depths())
    assert int(times.read[design.output_stream][-1]) + 1 == sched.latency_cycles
    # every FIFO is far below hls4ml's full-tensor default except where data must wait
    for name, depth in sched.fifo_depths().items():
        assert depth <= design.streams[name].pixels + 1


def test_shallow_skip_fifo_deadlocks(skip_design):
    """The skip branch must buffer what the deep path computes meanwhile; 2 places deadlock."""
    from tinyicenet.hls.model.schedule import Deadlock, bounded, schedule, skip_streams

    _, prepared = skip_design
    sched = schedule(_layers(prepared, 32))
    design = sched.design
    skips = [s for s in skip_streams(design) if sched.depths[s] > 8]
    assert skips, "a U-Net with skips has deep skip FIFOs"
    for name in skips:
        depths = dict(sched.fifo_depths())
        depths[name] = 2
        with pytest.raises(Deadlock):
            bounded(design, depths)


def test_chains_without_skips_never_deadlock(noskip_design):
    from tinyicenet.hls.model.schedule import bounded, schedule

    _, prepared = noskip_design
    sched = schedule(_layers(prepared, 32))
    shallow = {name: 2 for name in sched.fifo_depths()}
    times = bounded(sched.design, shallow)  # slower at most, never stuck
    assert int(times.read[sched.design.output_stream][-1]) + 1 >= sched.latency_cycles


# ---- hand-computed small designs (the step rules of schedule.py's docstring) ---------------

def _input(h, w, c=1):
    from tinyicenet.hls.model.graph import StreamLayer

    return StreamLayer("in", "input", [], ["s_in"], (h, w, c), (h, w, c))


def _conv(name, src, dst, hw, out_hw, c_in=1, c_out=1, kernel=3, rf=8, strategy="resource"):
    from tinyicenet.hls.model.graph import StreamLayer

    return StreamLayer(name, "conv" if kernel > 1 else "pointwise", [src], [dst],
                       (*hw, c_in), (*out_hw, c_out), kernel=kernel,
                       n_in=kernel * kernel * c_in, n_out=c_out, reuse_factor=rf,
                       strategy=strategy, weight_bits=4, accum_bits=16, out_bits=4,
                       in_bits=[4])


def test_cycles_of_one_resource_conv_by_hand():
    """4x4 input, 3x3 valid conv, Resource, ReuseFactor 8.

    Input pixel k is written at k+1. The conv steps over the 16 pixels: the 4 that complete a
    window (10, 11, 14, 15) cost 8+4 = 12 cycles, the 12 others 2 cycles; it is the slower
    process, so it starts at 1 and never waits again: work = 4*12 + 12*2 = 72 cycles, last
    output written at 1 + 72 = 73, read by the drain at 73, latency 74.
    """
    from tinyicenet.hls.model.schedule import latency_only, schedule

    layers = [_input(4, 4), _conv("c", "s_in", "s_out", (4, 4), (2, 2))]
    sched = schedule(layers)
    assert sched.process_cycles["c"] == 72
    assert sched.latency_cycles == latency_only(layers) == 74
    assert sched.throughput_bound_cycles == 72
    # the four outputs: 21+12, 33+12, 49+12, 61+12 (steps 10, 11, 14, 15 start at 21, 33, 49, 61)
    from tinyicenet.hls.model.schedule import asap
    assert asap(sched.design).write["s_out"].tolist() == [33, 45, 61, 73]


def test_cycles_of_one_latency_conv_by_hand():
    """Latency strategy: II = ReuseFactor (8) over all 16 pixels, +3 cycles of pipeline.

    Step k starts at 1 + 8k; the last output (step 15) is written at 1 + 120 + 8 + 3 = 132,
    latency 133."""
    from tinyicenet.hls.model.schedule import schedule

    sched = schedule([_input(4, 4), _conv("c", "s_in", "s_out", (4, 4), (2, 2),
                                          strategy="latency")])
    assert sched.process_cycles["c"] == 16 * 8
    assert sched.latency_cycles == 133


def _fork_design(deep):
    """input -> clone -> (a: straight to the concat, b: ``deep`` branch -> c) -> concat."""
    from tinyicenet.hls.model.graph import StreamLayer

    hw = (4, 4)
    layers = [_input(*hw),
              StreamLayer("fork", "clone", ["s_in"], ["a", "b"], (*hw, 1), (*hw, 1),
                          out_bits=4)]
    layers += deep
    layers.append(StreamLayer("cat", "concat", ["a", "c"], ["s_out"], (*hw, 1), (*hw, 2),
                              out_bits=4))
    return layers


def test_fifo_depths_of_one_fork_with_a_pointwise_branch_by_hand():
    """Branch b is a 1x1 conv of 12 cycles per pixel. The clone writes a[k], b[k] at k+2; the
    conv reads b[k] at 2+12k and writes c[k] at 14+12k; the concat reads a[k], c[k] there.

    Most pixels held: a: at the read of a[1] (t=26) all 16 are written, 1 read: 15 -> depth 16;
    b: at the read of b[2] (t=26) 16 written, 2 read: 14 -> depth 15; c: never more than 1 ->
    depth 2 (the minimum). Latency: last concat write 15 + 12*15 = 195, drained at 195 -> 196.
    """
    from tinyicenet.hls.model.schedule import schedule

    sched = schedule(_fork_design([_conv("pw", "b", "c", (4, 4), (4, 4), kernel=1)]))
    assert {k: sched.fifo_depths()[k] for k in ("a", "b", "c")} == {"a": 16, "b": 15, "c": 2}
    assert sched.latency_cycles == 196


def test_skip_fifo_must_hold_what_the_deep_branch_needs_first():
    """Branch b is pad (4x4 -> 6x6) + 3x3 conv. The first conv output needs padded pixel
    (2, 2), i.e. input pixel (1, 1) = b[5]; the concat reads a[0] only with it. The clone
    writes a[k] and b[k] in one step, so a must take a[5] while a[0..4] wait: depth 5
    deadlocks, depth 6 does not."""
    from tinyicenet.hls.model.graph import StreamLayer
    from tinyicenet.hls.model.schedule import Deadlock, bounded, schedule

    deep = [StreamLayer("pad", "pad", ["b"], ["p"], (4, 4, 1), (6, 6, 1), out_bits=4),
            _conv("c3", "p", "c", (6, 6), (4, 4))]
    sched = schedule(_fork_design(deep))
    depths = dict(sched.fifo_depths())
    assert depths["a"] >= 6
    times = bounded(sched.design, depths)   # the sized depths keep the unbounded latency
    assert int(times.read[sched.design.output_stream][-1]) + 1 == sched.latency_cycles
    with pytest.raises(Deadlock):
        bounded(sched.design, {**depths, "a": 5})
    bounded(sched.design, {**depths, "a": 6})


def test_resource_rules_by_hand():
    from tinyicenet.hls.model.resources import Cost, bram18_blocks, memory_cost, \
        multiplier_cost

    assert multiplier_cost(4, 4) == Cost(lut=8 + 4 + 4)       # fabric: ceil(16/2) + 4 + 4
    assert multiplier_cost(3, 7) == Cost(lut=11 + 3 + 7)      # 3-bit operand: fabric
    assert multiplier_cost(8, 8) == Cost(dsp=1)               # 16 bits > 10: one DSP48E2
    assert multiplier_cost(18, 27) == Cost(dsp=1) and multiplier_cost(18, 28) == Cost(dsp=2)
    assert memory_cost(32, 8) == (Cost(lut=8, ff=8), "srl")            # SRL32
    assert memory_cost(64, 8) == (Cost(lut=8, ff=8), "lutram")         # 512 bits, 64x1 LUTs
    assert memory_cost(2048, 8)[1] == "lutram"                         # 16384 bits: still LUTRAM
    # 2049 x 8 = 16392 bits: BRAM18; best shape 2048x9 (or 4096x4 twice): 2 blocks
    assert memory_cost(2049, 8) == (Cost(bram18=2, lut=16, ff=8), "bram")
    assert bram18_blocks(1024, 18) == 1 and bram18_blocks(1024, 36) == 2
    assert bram18_blocks(600, 36) == 2          # 512x36 twice, or 1024x18 twice


def test_fixed_reuse_factor_is_moved_like_hls4ml_and_reported(tmp_path, skip_design):
    from tinyicenet.hls.board import load_board
    from tinyicenet.hls.planner import valid_reuse_factors
    from tinyicenet.hls.project import plan_project
    from tinyicenet.hls.settings import load_settings

    model, prepared = skip_design
    yml = tmp_path / "layers.yml"
    yml.write_text("version: 1\ndefaults: {strategy: Resource, reuse_factor: auto}\n"
                   "layers:\n  enc0: {reuse_factor: 7}\n  head: {strategy: Latency}\n"
                   "planner: {tiles: [32]}\n")
    plan, _ = plan_project(model, load_board("zcu102"), load_settings(yml), None, prepared)
    enc0 = next(c for c in plan.choices if c.role == "enc0")
    head = next(c for c in plan.choices if c.role == "head")
    assert enc0.requested == 7 and enc0.reuse_factor != 7
    assert enc0.reuse_factor in valid_reuse_factors(9 * 2, 16)  # 3x3x2 inputs, 16 outputs
    assert head.strategy == "latency"


@pytest.mark.parametrize("text, match", [
    ("layers: {enc0: {strategy: Fast}}", "strategy 'Fast'"),
    ("layers: {enc0: {reuse_factor: 0}}", "reuse_factor 0"),
    ("layers: {enc0: {reuse: 4}}", "unknown key"),
    ("planner: {tiles: [0]}", "planner.tiles"),
    ("planner: {utilisation_limit: {lut: 1.5}}", "utilisation_limit.lut"),
    ("oops: 1", "unknown top-level"),
    ("layers: [", r"bad.yml line \d+: invalid YAML"),
])
def test_bad_settings_yaml(tmp_path, text, match):
    from tinyicenet.hls.settings import load_settings

    yml = tmp_path / "bad.yml"
    yml.write_text(text + "\n")
    with pytest.raises(ConfigError, match=match) as err:
        load_settings(yml)
    assert str(yml) in str(err.value)


def test_binary_settings_file(tmp_path):
    from tinyicenet.hls.settings import load_settings

    blob = tmp_path / "model.pt"
    blob.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match="model.pt: cannot read the HLS settings file"):
        load_settings(blob)


def test_unknown_board():
    from tinyicenet.hls.board import load_board

    with pytest.raises(ConfigError, match="unknown board 'zcu104'"):
        load_board("zcu104")


def test_design_that_cannot_fit_is_refused_before_any_file(tmp_path, skip_design):
    from tinyicenet.hls.project import build_project

    model, _ = skip_design
    yml = tmp_path / "tight.yml"
    yml.write_text("planner: {tiles: [32], utilisation_limit: {lut: 0.001}}\n")
    out = tmp_path / "prj"
    with pytest.raises(ExportError, match="does not fit zcu102"):
        build_project(model, out, settings=yml)
    assert not out.exists() and list(tmp_path.iterdir()) == [yml]


def schedule_of(plan):
    from tinyicenet.hls.model.schedule import schedule

    return schedule(plan.layers)

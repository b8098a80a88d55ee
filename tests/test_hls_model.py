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

    rng = np.random.default_rng()
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


def test_default_fifos_do_not_fit_at_256_but_sized_ones_do(skip_design):
    from tinyicenet.hls.board import load_board
    from tinyicenet.hls.model.resources import estimate_resources
    from tinyicenet.hls.model.schedule import schedule

    _, prepared = skip_design
    layers = _layers(prepared, 256, reuse=32)
    sched = schedule(layers)
    res = estimate_resources(layers, sched, load_board("zcu102").resources)
    assert res.default_fifo_bram36 > 912  # hls4ml's full-tensor FIFOs exceed the XCZU9EG
    assert res.total.bram36 < 0.2 * 912
    skip = max(f.depth for f in res.fifos if "cpy" in f.name)
    assert skip > 256  # the level-0 skip FIFO holds rows, not a few pixels


def test_plan_at_256_fits_and_beats_the_target(skip_design):
    from tinyicenet.hls.board import load_board
    from tinyicenet.hls.project import plan_project
    from tinyicenet.hls.settings import load_settings

    model, prepared = skip_design
    plan, candidates = plan_project(model, load_board("zcu102"), load_settings(), 256, prepared)
    d = plan.to_dict()
    assert plan.tile == 256 and plan.fits and d["provenance"] == "modelled"
    assert plan.fps_256 >= 30 and d["meets_target"]
    for key, limit in plan.limits.items():
        assert plan.resources.utilisation()[key] <= limit
    assert d["cycles_per_tile"] == plan.latency_cycles
    assert d["energy"]["energy_mj_per_tile"] == pytest.approx(
        1e3 * d["energy"]["power_w"] / d["tiles_per_s"])
    assert any("modelled" in a or "assumes" in a or "LUT" in a for a in d["assumptions"])


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
    ("layers: [", "not valid YAML"),
])
def test_bad_settings_yaml(tmp_path, text, match):
    from tinyicenet.hls.settings import load_settings

    yml = tmp_path / "bad.yml"
    yml.write_text(text + "\n")
    with pytest.raises(ConfigError, match=match) as err:
        load_settings(yml)
    assert str(yml) in str(err.value)


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

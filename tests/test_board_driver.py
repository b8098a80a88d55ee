"""The on-board driver's full path against an emulated accelerator (fake pynq, recorded hwmon).

The emulated PL computes each tile with the host's integer reference (the C-simulation-backed
variant is in test_board_csim.py); the driver tiles, quantises, packs, streams through the
emulated AXI DMA, unpacks, stitches, times, logs the recorded INA226 rails and writes a bench
result, exactly as on the board.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tinyicenet.resources import resource_dir

BOARD_DIR = resource_dir("boards/zcu102")
from tinyicenet_io import iospec
from tinyicenet_zcu102 import __main__ as driver_cli
from tinyicenet_zcu102 import accelerator, bench, emulate, power
from tinyicenet_zcu102.errors import BoardError

HWMON = Path(__file__).parent / "data" / "zcu102" / "hwmon"
TILE, HALO = 32, 8


@pytest.fixture(scope="module")
def intmodel():
    from tinyicenet.export.intref import from_brevitas
    from tinyicenet.models import calibrate, create_model

    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4", widths=(4, 8, 8))
    g = torch.Generator().manual_seed(1)
    calibrate(model, [torch.randn(2, 2, 32, 32, generator=g) * 2])
    return from_brevitas(model)


@pytest.fixture(scope="module")
def spec_dict(intmodel):
    from tinyicenet.board import io_spec_dict

    return io_spec_dict(intmodel, tile=TILE, halo=HALO, channels=["hh", "hv"])


@pytest.fixture(scope="module")
def spec(spec_dict):
    return iospec.from_dict(spec_dict)


@pytest.fixture
def scene():
    rng = np.random.default_rng(11)
    image = rng.standard_normal((2, 70, 45)).astype(np.float32) * 2
    image[:, :5, :5] = 40.0  # saturating corner
    return image


def reference_logits(intmodel, image):
    """The host's tiled integer result (tinyicenet.data.tiling + intref)."""
    from tinyicenet.data.tiling import extract_tiles, plan_tiles, stitch

    plan = plan_tiles(image.shape[1:], TILE, HALO, intmodel.stride)
    return stitch(intmodel.run_int(intmodel.quantize_input(extract_tiles(image, plan))), plan)


def intref_kernel(intmodel, spec):
    """The emulated PL: the integer reference on integer input codes."""
    return emulate.FunctionKernel(lambda q: intmodel.run_int(q.astype(np.int16)), spec)


@pytest.fixture
def fake_pynq(monkeypatch, intmodel, spec):
    module = emulate.pynq_module(intref_kernel(intmodel, spec))
    monkeypatch.setitem(sys.modules, "pynq", module)
    return module


def run_cli(tmp_path, spec_dict, image, *extra, bitfile=True):
    (tmp_path / "io_spec.json").write_text(json.dumps(spec_dict))
    np.savez(tmp_path / "scene.npz", image=image, scene_id=np.array("S1"),
             pixel_spacing_m=np.array(400.0))
    if bitfile:
        (tmp_path / "tinyicenet.bit").write_bytes(b"\0")
    args = ["run", "--bitfile", str(tmp_path / "tinyicenet.bit"),
            "--io-spec", str(tmp_path / "io_spec.json"), "--scene", str(tmp_path / "scene.npz"),
            "--out", str(tmp_path / "result.json"), "--hwmon", str(HWMON), "--window", "0.05",
            "--repetitions", "2", "--warmup", "0", "--idle", "0.05", "--interval", "0.005",
            "--max-tiles", "3", "--latency-calls", "3", *extra]
    return driver_cli.main(args)


def test_full_path_equals_integer_reference_and_writes_a_bench_result(
        tmp_path, fake_pynq, intmodel, spec_dict, scene, capsys):
    from tinyicenet.bench.schema import validate_result

    code = run_cli(tmp_path, spec_dict, scene, "--logits", str(tmp_path / "logits.npy"),
                   "--power-csv", str(tmp_path / "power.csv"))
    assert code == 0, capsys.readouterr().err
    logits = np.load(tmp_path / "logits.npy")
    ref = reference_logits(intmodel, scene)
    assert logits.shape == ref.shape == (6, 70, 45)
    assert np.array_equal(logits.astype(np.int64), ref)
    assert len(np.unique(logits)) > 10  # not a degenerate all-equal output

    result = validate_result(json.loads((tmp_path / "result.json").read_text()))
    # an emulated accelerator and a hwmon tree of test files: nothing here is a measurement
    assert (result["target"], result["backend"], result["method"]["meter"]) == (
        "fpga", "zcu102-pynq", "test-hwmon-files")
    assert result["provenance"] == {**result["provenance"], "throughput": "emulated",
                                    "energy": "emulated"}
    assert result["method"]["notes"][0].startswith("EMULATED")
    tiles = len(range(0, 70, TILE - 2 * HALO)) * len(range(0, 45, TILE - 2 * HALO))
    assert result["scene"] == {"pixels": [70, 45], "pixel_spacing_m": 400.0, "tiles": tiles,
                               "halo": HALO, "name": "S1"}
    assert result["tiles_per_s"] == pytest.approx(result["scenes_per_s"] * tiles)
    assert result["repetitions"] == 2 and len(result["windows"]) == 2
    # the recorded rails are constant: mean power is their sum, energy = power x time
    counted = result["method"]["rails"]
    watts = power.HwmonSource(power.rail_table(power.load_board()), str(HWMON)).read()
    total = sum(watts[r] for r in counted)
    assert result["power_w"]["average"] == pytest.approx(total)
    assert result["power_w"]["idle"] == pytest.approx(total)
    assert result["energy_mj"]["per_scene_gross"] == pytest.approx(
        total * 1e3 / result["scenes_per_s"], rel=0.05)
    assert result["energy_mj"]["per_scene_above_idle"] == pytest.approx(0.0, abs=1e-6)
    assert result["energy_mj"]["per_tile_gross"] == pytest.approx(
        result["energy_mj"]["per_scene_gross"] / tiles)
    assert result["power_breakdown_w"]["domains"]["pl"] == pytest.approx(
        sum(watts[r] for r in ("VCCINT", "VCCBRAM", "VCCAUX", "VCC1V2", "VCC3V3")))
    latency = result["latency_ms"]
    assert latency["p50"] > 0 and latency["p99"] >= latency["p50"]
    csv = (tmp_path / "power.csv").read_text().splitlines()
    # the logger samples at the window's start and end at least (more as its thread gets time)
    assert csv[0].startswith("time_s,") and len(csv) >= 3
    assert {len(row.split(",")) for row in csv} == {len(csv[0].split(","))}
    # the DMA saw every tile in its own transfer, pipelined in buffers of 3
    dma = fake_pynq.last_overlay.axi_dma_0
    assert dma.tiles_run >= tiles * 2 and dma.pending_in.size == 0 and not dma.pending_out
    assert "tiles/s" in capsys.readouterr().out


def test_expected_logits_check_has_teeth(tmp_path, fake_pynq, intmodel, spec_dict, scene, capsys):
    golden = reference_logits(intmodel, scene).astype(np.int16)
    np.save(tmp_path / "golden.npy", golden)
    assert run_cli(tmp_path, spec_dict, scene, "--expect", str(tmp_path / "golden.npy")) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["provenance"]["verification"].endswith(f": 0 differing values of {golden.size}")
    golden[3, 10, 10] += 1
    np.save(tmp_path / "golden.npy", golden)
    assert run_cli(tmp_path, spec_dict, scene, "--expect", str(tmp_path / "golden.npy")) == 3
    assert "1 differing values" in capsys.readouterr().err


def test_a_word_layout_bug_in_the_ip_is_caught(tmp_path, monkeypatch, intmodel, spec, spec_dict,
                                               scene, capsys):
    class SwappedLanes(emulate.FunctionKernel):
        """An IP that puts logit k in lane k+1 (an off-by-one in the packing)."""

        def __call__(self, in_words):
            return np.roll(super().__call__(in_words), 1, axis=1)

    kernel = SwappedLanes(lambda q: intmodel.run_int(q.astype(np.int16)), spec)
    monkeypatch.setitem(sys.modules, "pynq", emulate.pynq_module(kernel))
    np.save(tmp_path / "golden.npy", reference_logits(intmodel, scene))
    assert run_cli(tmp_path, spec_dict, scene, "--expect", str(tmp_path / "golden.npy")) == 3
    assert "differing values" in capsys.readouterr().err


def test_energy_unavailable_without_rails(tmp_path, fake_pynq, spec_dict, scene, capsys):
    from tinyicenet.bench.schema import validate_result

    code = run_cli(tmp_path, spec_dict, scene, "--hwmon", str(tmp_path / "nohwmon"))
    assert code == 0
    assert "warning: energy unavailable" in capsys.readouterr().err
    result = validate_result(json.loads((tmp_path / "result.json").read_text()))
    assert result["provenance"]["energy"] == "unavailable"
    assert "no INA226 hwmon device" in result["provenance"]["energy_reason"]
    assert result["energy_mj"]["per_scene_gross"] is None and result["method"]["meter"] is None
    assert result["tiles_per_s"] > 0


@pytest.mark.parametrize("case,message", [
    ("no_spec", "io spec not found"),
    ("bad_channels", "expected [2, H, W]"),
    ("no_image", "no 'image' array"),
    ("no_bitfile", "cannot load the overlay"),
    ("no_pynq", "pynq is not installed"),
])
def test_bad_inputs_give_one_error_line(tmp_path, monkeypatch, fake_pynq, spec_dict, scene,
                                        capsys, case, message):
    if case == "no_pynq":
        monkeypatch.setitem(sys.modules, "pynq", None)
    extra = []
    if case == "no_spec":
        extra = ["--io-spec", str(tmp_path / "missing.json")]
    if case == "bad_channels":
        scene = scene[:1]
    if case == "no_image":
        np.savez(tmp_path / "other.npz", data=scene)
        extra = ["--scene", str(tmp_path / "other.npz")]
    code = run_cli(tmp_path, spec_dict, scene, *extra, bitfile=case != "no_bitfile")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp_path / "result.json").exists()


# ---- the emulated AXI DMA keeps the real one's rules ------------------------------------------

def test_dma_channel_rules(intmodel, spec):
    overlay = emulate.EmulatedOverlay(intref_kernel(intmodel, spec))
    dma = overlay.axi_dma_0
    inp = emulate.allocate((2, spec.pixels, spec.in_word_bytes), dtype=np.uint8)
    out = emulate.allocate((2, spec.pixels, spec.out_word_bytes), dtype=np.uint8)
    dma.recvchannel.transfer(out, nbytes=spec.pixels * spec.out_word_bytes)
    with pytest.raises(RuntimeError, match="not idle"):
        dma.recvchannel.transfer(out)
    with pytest.raises(MemoryError, match="not aligned"):
        dma.sendchannel.transfer(inp, start=1, nbytes=2)
    with pytest.raises(TimeoutError, match="would hang"):
        dma.recvchannel.wait()  # no input was sent: the board would wait forever
    dma = emulate.EmulatedOverlay(intref_kernel(intmodel, spec)).axi_dma_0
    dma.sendchannel.transfer(inp, nbytes=spec.pixels * spec.in_word_bytes)
    dma.recvchannel.transfer(out, nbytes=8)
    with pytest.raises(RuntimeError, match="internal error"):
        dma.recvchannel.wait()  # a tile is longer than an 8-byte transfer
    small = emulate.EmulatedOverlay(intref_kernel(intmodel, spec), max_size=1024)
    with pytest.raises(ValueError, match="exceeds the maximum DMA buffer size"):
        small.axi_dma_0.sendchannel.transfer(inp)


def test_accelerator_finds_the_dma_and_streams_chunks(intmodel, spec):
    overlay = emulate.EmulatedOverlay(intref_kernel(intmodel, spec))
    acc = accelerator.DmaAccelerator(overlay, spec, emulate.allocate, max_tiles=2)
    rng = np.random.default_rng(4)
    q = rng.integers(-128, 128, (5, 2, TILE, TILE)).astype(np.int8)
    out = acc.run(q)
    assert np.array_equal(out.astype(np.int64), intmodel.run_int(q.astype(np.int16)))
    assert overlay.axi_dma_0.sendchannel.transfers == 5  # one transfer per tile
    assert acc.in_buf.flushed and acc.out_buf.invalidated  # caches handled for the DMA
    acc.close()
    assert acc.in_buf.freed and acc.out_buf.freed
    overlay.ip_dict["axi_dma_1"] = {"type": "xilinx.com:ip:axi_dma:7.1"}
    with pytest.raises(BoardError, match="2 AXI DMA cores"):
        accelerator.DmaAccelerator(overlay, spec, emulate.allocate)
    with pytest.raises(BoardError, match="no IP named"):
        accelerator.DmaAccelerator(overlay, spec, emulate.allocate, dma_name="dma")


def test_benchmark_refuses_partial_rails(intmodel, spec, scene):
    overlay = emulate.EmulatedOverlay(intref_kernel(intmodel, spec))
    acc = accelerator.DmaAccelerator(overlay, spec, emulate.allocate)
    board = power.load_board()
    partial = power.HwmonSource(power.rail_table(board), str(HWMON), only=["VCCINT"])
    with pytest.raises(BoardError, match="energy would be partial"):
        bench.benchmark(scene, spec, acc, board=board, power_source=partial, window_s=0)


def test_without_an_idle_window_above_idle_is_null(tmp_path, fake_pynq, spec_dict, scene):
    from tinyicenet.bench.schema import validate_result

    assert run_cli(tmp_path, spec_dict, scene, "--idle", "0") == 0
    result = validate_result(json.loads((tmp_path / "result.json").read_text()))
    assert result["energy_mj"]["per_scene_gross"] > 0
    assert result["energy_mj"]["per_scene_above_idle"] is None
    assert result["power_w"]["idle"] is None
    assert result["provenance"]["energy_reason"].endswith("idle power not measured (--idle 0)")


class BoardOverlay(emulate.EmulatedOverlay):
    """Stands for a real PYNQ overlay: it carries no ``emulated`` flag."""

    emulated = False


class LiveSource:
    """Stands for the board's own rails read live (constant 2 W on every rail)."""

    meter, live = "hwmon", True

    def __init__(self, rails):
        self.rails = rails

    def read(self):
        return {r: 2.0 for r in self.rails}


@pytest.mark.parametrize("on_board,live", [(False, False), (False, True), (True, False),
                                           (True, True)])
def test_labels_say_what_ran(intmodel, spec, scene, on_board, live):
    """Only the real overlay with live rails is 'measured' on 'zcu102-ina226'."""
    from tinyicenet.bench.schema import validate_result

    kernel = intref_kernel(intmodel, spec)
    overlay = BoardOverlay(kernel) if on_board else emulate.EmulatedOverlay(kernel)
    acc = accelerator.DmaAccelerator(overlay, spec, emulate.allocate)
    board = power.load_board()
    counted = [r for rails in power.energy_domains(board).values() for r in rails]
    source = (LiveSource(counted) if live
              else power.HwmonSource(power.rail_table(board), str(HWMON)))
    result, _, _ = bench.benchmark(scene, spec, acc, board=board, power_source=source,
                                   window_s=0.01, repetitions=1, warmup_s=0, idle_s=0,
                                   interval_s=0.002, latency_calls=1)
    validate_result(result)
    prov = result["provenance"]
    assert prov["throughput"] == ("measured" if on_board else "emulated")
    assert prov["energy"] == ("measured" if on_board and live else "emulated")
    assert result["method"]["meter"] == ("zcu102-ina226" if live else "test-hwmon-files")
    assert any(n.startswith("EMULATED") for n in result["method"]["notes"]) == (not on_board)


def test_only_the_kernels_hwmon_tree_is_live():
    rails = power.rail_table(power.load_board())
    assert not power.HwmonSource(rails, str(HWMON)).live
    assert power.meter_name(power.HwmonSource(rails, str(HWMON))) == "test-hwmon-files"

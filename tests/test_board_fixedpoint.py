"""The board driver's fixed-point conversion, word packing, io spec and tiling (no board needed).

The driver (boards/zcu102/tinyicenet_zcu102) and the package it shares with the host
(boards/common/tinyicenet_io) are the one definition of these formats, so the tests check them
against independent oracles: Python's half-to-even round(), Brevitas's input quantizer, and the
tile plan's contract checked pixel by pixel.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyicenet_io import fixedpoint, iospec, tiling
from tinyicenet_zcu102 import emulate
from tinyicenet_zcu102.errors import BoardError


def make_spec(**changes) -> iospec.IOSpec:
    d = {"format": "tinyicenet-io-spec", "version": 1, "model": "m", "precision": "w4a4",
         "channels": ["nersc_sar_primary", "nersc_sar_secondary"], "classes": 6,
         "input": {"bits": 8, "exponent": -4}, "output": {"bits": 8, "exponent": -3},
         "tile": 16, "halo": 4, "align": 4}
    for key, value in changes.items():
        if key in ("input", "output"):
            d[key] = {**d[key], **value}
        else:
            d[key] = value
    return iospec.from_dict(d)


def _python_quantize(x: np.ndarray, exponent: int, bits: int) -> np.ndarray:
    """Independent oracle: Python's round() (half to even) and clamp, element by element."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return np.array([min(max(round(float(v) / 2.0 ** exponent), lo), hi) for v in x.flat],
                    dtype=np.int64).reshape(x.shape)


@pytest.mark.parametrize("exponent,bits", [(-4, 8), (-6, 8), (0, 8), (2, 8), (-3, 5), (-8, 12)])
def test_quantize_equals_half_even_oracle(exponent, bits):
    rng = np.random.default_rng(bits * 100 + exponent)
    x = rng.standard_normal((3, 2, 17, 9)).astype(np.float32) * 2.0 ** (exponent + bits - 2)
    step = 2.0 ** exponent
    x.flat[:64] = (np.arange(-32, 32) + 0.5) * step  # exact ties: half to even decides
    x.flat[64:70] = [1e9, -1e9, 2 ** (bits - 1) * step, -(2 ** (bits - 1)) * step - step, 0.0, -0.0]
    board = fixedpoint.quantize(x, exponent, bits)
    assert board.dtype == (np.int8 if bits <= 8 else np.dtype("<i2"))
    assert np.array_equal(board.astype(np.int64), _python_quantize(x, exponent, bits))
    assert board.min() == -(2 ** (bits - 1)) and board.max() == 2 ** (bits - 1) - 1  # saturated
    # half to even, not half away from zero: 0.5 -> 0, 1.5 -> 2, -0.5 -> 0, -1.5 -> -2
    ties = fixedpoint.quantize(np.array([0.5, 1.5, 2.5, -0.5, -1.5]) * step, exponent, bits)
    assert ties.tolist() == [0, 2, 2, 0, -2]


def test_quantize_equals_brevitas_input_quantizer():
    import torch

    from tinyicenet.export.intref import from_brevitas
    from tinyicenet.models import calibrate, create_model

    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4", widths=(4, 8, 8)).eval()
    calibrate(model, [torch.randn(2, 2, 16, 16)])
    im = from_brevitas(model)
    x = (np.random.default_rng(5).standard_normal((2, 2, 16, 16)) * 6).astype(np.float32)
    board = fixedpoint.quantize(x, im.input_exp, im.input_bits)
    with torch.no_grad():
        qt = model.input_quant(torch.from_numpy(x))
    assert np.array_equal(board.astype(np.int64), qt.int().numpy().astype(np.int64))


def test_nan_becomes_zero_like_the_scene_loader():
    q = fixedpoint.quantize(np.array([np.nan, 1.0, np.nan]), -2, 8)
    assert q.tolist() == [0, 4, 0]


def test_input_word_layout_is_lane_per_channel_row_major_little_endian():
    spec = make_spec(tile=4, halo=0, align=4)
    q = np.zeros((1, 2, 4, 4), dtype=np.int8)
    q[0, 0, 0, 0], q[0, 1, 0, 0] = -1, 5      # pixel (0, 0): HH=-1, HV=5
    q[0, 0, 0, 1], q[0, 1, 0, 1] = 127, -128  # pixel (0, 1) is the second word
    q[0, 0, 1, 0] = 3                         # pixel (1, 0) is word 4 (row-major)
    words = fixedpoint.pack_tiles(q, spec)
    assert spec.in_word_bits == 16 and words.shape == (1, 16, 2)
    assert words[0, 0].tolist() == [0xFF, 0x05]
    assert words[0, 1].tolist() == [0x7F, 0x80]
    assert words[0, 4].tolist() == [0x03, 0x00]
    assert int(words.astype(np.int64).sum()) == 0xFF + 5 + 0x7F + 0x80 + 3


def test_word_widths_follow_axi_dma_widths():
    assert make_spec().out_word_bits == 64  # 6 int8 logits -> 48 bits -> 64-bit words
    assert make_spec(classes=24).out_word_bits == 256  # SOD+SIC+FLOE
    assert make_spec(output={"bits": 12}).out_word_bits == 128  # 16-bit lanes
    three = make_spec(channels=["a", "b", "c"])
    assert three.in_word_bits == 32
    q = np.arange(3 * 16 * 16).reshape(1, 3, 16, 16).astype(np.int8)
    words = fixedpoint.pack_tiles(q, three)
    assert words[0, :, 3].max() == 0  # the unused fourth lane stays zero


def test_sixteen_bit_lanes_round_trip():
    spec = make_spec(input={"bits": 12, "exponent": -6}, output={"bits": 10, "exponent": -2})
    rng = np.random.default_rng(2)
    q = rng.integers(-2048, 2048, (2, 2, 16, 16)).astype("<i2")
    words = fixedpoint.pack_tiles(q, spec)
    assert spec.in_word_bytes == 4
    lanes = emulate._lane_values(words[1], 2, 16)  # independent unpacking (64-bit shifts)
    assert np.array_equal(lanes, q[1].transpose(1, 2, 0).reshape(-1, 2))
    logits = rng.integers(-512, 512, (spec.pixels, 6))
    out = emulate._lane_words(logits, spec.out_word_bytes, 16)[None]
    back = fixedpoint.unpack_outputs(out, spec)
    assert np.array_equal(back[0].transpose(1, 2, 0).reshape(-1, 6), logits)


def test_unpack_equals_independent_packing_and_checks_range():
    spec = make_spec()
    rng = np.random.default_rng(3)
    logits = rng.integers(-128, 128, (3, 6, 16, 16))
    words = np.stack([emulate._lane_words(t.transpose(1, 2, 0).reshape(-1, 6), 8, 8)
                      for t in logits])
    assert np.array_equal(fixedpoint.unpack_outputs(words, spec), logits)
    narrow = make_spec(output={"bits": 4})
    with pytest.raises(BoardError, match="outside int4"):
        fixedpoint.unpack_outputs(words, narrow)
    with pytest.raises(BoardError, match="do not match the io spec"):
        fixedpoint.unpack_outputs(words[:, :10], spec)


def test_pack_rejects_wrong_tile_shape():
    with pytest.raises(BoardError, match="do not match the io spec"):
        fixedpoint.pack_tiles(np.zeros((1, 3, 16, 16), np.int8), make_spec())


@pytest.mark.parametrize("change,message", [
    ({"format": "other"}, "not a tinyicenet-io-spec"),
    ({"version": 2}, "version 2"),
    ({"tile": 18}, "not a multiple of align"),
    ({"halo": 8}, "leaves no core"),
    ({"channels": []}, "channels"),
    ({"input": {"bits": 40}}, "'bits' must be an integer"),
    ({"input": {"rounding": "half_up"}}, "round half to even"),
    ({"output": {"signed": False}}, "signed"),
    ({"charts": {"SOD": 5}}, "do not add up"),
    ({"stream": {"output_word_bits": 48}}, "word layout mismatch"),
])
def test_io_spec_refuses_bad_values(change, message):
    with pytest.raises(BoardError, match=message):
        make_spec(**change)


def test_io_spec_is_its_json_schema():
    """What the host writes is valid for the schema file itself (jsonschema, no project code), and
    a value the schema refuses is refused by the reader with the schema's message."""
    import jsonschema

    written = make_spec(charts={"SOD": 6}).to_dict()
    jsonschema.validate(written, iospec.schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**written, "tile": "256"}, iospec.schema())
    with pytest.raises(BoardError, match=r"'tile' must be an integer in \[4, 4096\], got '256'"):
        iospec.from_dict({**written, "tile": "256"})


def test_io_spec_round_trips_and_load_errors(tmp_path):
    spec = make_spec(charts={"SOD": 6})
    path = tmp_path / "io_spec.json"
    path.write_text(__import__("json").dumps(spec.to_dict()))
    assert iospec.load(path) == spec
    with pytest.raises(BoardError, match="not found"):
        iospec.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BoardError, match="cannot read io spec"):
        iospec.load(tmp_path / "bad.json")


@pytest.mark.parametrize("shape", [(1, 1), (31, 50), (224, 224), (225, 300), (600, 601),
                                   (1000, 1000)])
@pytest.mark.parametrize("tile,halo,align", [(256, 16, 4), (64, 8, 8), (32, 0, 4)])
def test_tiling_plan_contract(shape, tile, halo, align):
    """The plan's contract (module doc), checked pixel by pixel rather than against a copy."""
    plan = tiling.TilePlan(shape, tile, halo, align)
    h, w = shape
    covered = np.zeros(shape, dtype=np.int64)
    core = tile - 2 * halo
    for win in plan.windows:
        covered[win.core_row:win.core_row + win.core_h, win.core_col:win.core_col + win.core_w] += 1
        assert win.core_row % core == 0 and win.core_col % core == 0
        assert win.row % align == 0 and win.col % align == 0
        assert win.row <= win.core_row and win.core_row + win.core_h <= win.row + tile
        assert win.col <= win.core_col and win.core_col + win.core_w <= win.col + tile
        if -(-h // align) * align >= tile:  # tiles lie inside the aligned scene
            assert win.row + tile <= -(-h // align) * align
    assert (covered == 1).all()  # cores cover the scene exactly once
    rng = np.random.default_rng(sum(shape))
    image = rng.standard_normal((2, *shape)).astype(np.float32)
    tiles = tiling.extract_tiles(image, plan)
    for n, win in enumerate(plan.windows):  # each tile is the scene's window, zeros beyond it
        expect = np.zeros((2, tile, tile), np.float32)
        part = image[:, win.row:win.row + tile, win.col:win.col + tile]
        expect[:, :part.shape[1], :part.shape[2]] = part
        assert np.array_equal(tiles[n], expect)
    assert np.array_equal(tiling.stitch(tiles, plan), image)


def test_tiling_errors():
    with pytest.raises(BoardError, match="multiples of align"):
        tiling.TilePlan((10, 10), 30, 4, 4)
    with pytest.raises(BoardError, match="empty scene"):
        tiling.TilePlan((0, 10), 32, 4, 4)
    plan = tiling.TilePlan((20, 20), 16, 4, 4)
    with pytest.raises(BoardError, match="does not match the plan"):
        tiling.extract_tiles(np.zeros((2, 21, 20)), plan)
    with pytest.raises(BoardError, match="do not match the plan"):
        tiling.stitch(np.zeros((1, 6, 16, 16)), plan)

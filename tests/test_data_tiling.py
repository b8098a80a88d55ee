"""Halo tiles: plan, extract, stitch; tiled inference equals whole-scene inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyicenet.data.tiling import extract_tiles, plan_tiles, stitch, tiles_per_scene
from tinyicenet.errors import ConfigError


@pytest.mark.parametrize("shape", [(120, 120), (1000, 1000), (257, 513), (5, 7), (224, 448)])
def test_round_trip_and_alignment(shape: tuple[int, int]) -> None:
    plan = plan_tiles(shape, tile=256, halo=16, align=4)
    rng = np.random.default_rng(0)
    image = rng.standard_normal((3, *shape)).astype(np.float32)
    tiles = extract_tiles(image, plan)
    assert tiles.shape == (len(plan), 3, 256, 256)
    np.testing.assert_array_equal(stitch(tiles, plan), image)  # identity model
    assert len(plan) == tiles_per_scene(shape, 256, 16)
    covered = np.zeros(shape, int)
    for w in plan.windows:
        assert w.row % 4 == 0 and w.col % 4 == 0 and w.row >= 0 and w.col >= 0
        # context: at least the halo on every side where the scene continues
        assert w.core_row - w.row >= (16 if w.row > 0 else 0)
        assert w.core_col - w.col >= (16 if w.col > 0 else 0)
        if w.row + 256 < shape[0]:
            assert w.row + 256 - (w.core_row + w.core_h) >= 16
        covered[w.core_row:w.core_row + w.core_h, w.core_col:w.core_col + w.core_w] += 1
    assert (covered == 1).all()  # cores cover the scene exactly once


def test_tiles_carry_halo_context_and_zero_padding() -> None:
    image = np.arange(2 * 300 * 300, dtype=np.float32).reshape(2, 300, 300) + 1
    plan = plan_tiles((300, 300), tile=64, halo=8, align=4)
    tiles = extract_tiles(image, plan)
    for n, w in enumerate(plan.windows):  # every tile is scene data (the scene is > 1 tile)
        np.testing.assert_array_equal(tiles[n], image[:, w.row:w.row + 64, w.col:w.col + 64])
    w = plan.windows[plan.grid[1] + 1]  # an interior tile: core in the middle
    assert (w.core_row - w.row, w.core_col - w.col) == (8, 8)
    assert plan.windows[-1].row + 64 == 300  # the last tile ends on the scene edge
    small = plan_tiles((20, 30), tile=64, halo=8)
    tile = extract_tiles(image[:, :20, :30], small)[0]
    assert (tile[:, 20:, :] == 0).all() and (tile[:, :20, :30] == image[:, :20, :30]).all()
    assert plan_tiles((1000, 1000)).grid == (5, 5)
    assert tiles_per_scene((1000, 1000)) == 25


def test_bad_plans_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="multiples"):
        plan_tiles((100, 100), tile=256, halo=15, align=4)
    with pytest.raises(ConfigError, match="core"):
        plan_tiles((100, 100), tile=32, halo=16, align=4)
    plan = plan_tiles((100, 100), tile=64, halo=8)
    with pytest.raises(ConfigError):
        extract_tiles(np.zeros((1, 99, 100), np.float32), plan)
    with pytest.raises(ConfigError):
        stitch(np.zeros((len(plan) + 1, 1, 64, 64)), plan)


class _TinyUNet(torch.nn.Module):
    """Two pools, 3x3 convs, nearest upsampling and a skip: receptive-field radius < 16."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        conv = lambda i, o: torch.nn.Conv2d(i, o, 3, padding=1, dtype=torch.float64)  # noqa: E731
        self.c1, self.c2, self.c3 = conv(2, 4), conv(4, 4), conv(4, 4)
        self.c4, self.head = conv(8, 4), torch.nn.Conv2d(4, 3, 1, dtype=torch.float64)
        self.pool, self.up = torch.nn.MaxPool2d(2), torch.nn.Upsample(scale_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.c1(x))
        b = torch.relu(self.c2(self.pool(a)))
        c = torch.relu(self.c3(self.pool(b)))
        d = torch.relu(self.c4(torch.cat([self.up(self.up(c)), a], 1)))
        return self.head(d)


def test_tiled_inference_equals_whole_scene() -> None:
    net = _TinyUNet().eval()
    rng = np.random.default_rng(1)
    shape = (150, 190)
    image = rng.standard_normal((2, *shape))
    plan = plan_tiles(shape, tile=64, halo=16, align=4)
    with torch.no_grad():
        tiles = torch.from_numpy(extract_tiles(image, plan))
        tiled = stitch(net(tiles).numpy(), plan)
        # one pass over the whole scene, zero-padded to a multiple of the stride
        padded = np.pad(image, ((0, 0), (0, (-shape[0]) % 4), (0, (-shape[1]) % 4)))
        whole = net(torch.from_numpy(padded)[None])[0].numpy()[:, :shape[0], :shape[1]]
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-12)
    # without a halo the tile borders differ: the halo is what makes tiling exact
    plan0 = plan_tiles(shape, tile=64, halo=0, align=4)
    with torch.no_grad():
        tiled0 = stitch(net(torch.from_numpy(extract_tiles(image, plan0))).numpy(), plan0)
    assert not np.allclose(tiled0, whole)

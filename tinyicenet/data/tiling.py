"""Whole scenes as overlapping tiles with a halo, and back.

A scene ``[C, H, W]`` is cut into ``tile x tile`` windows whose ``core`` squares (``tile - 2 *
halo``, on a regular grid from the top-left corner) cover the scene without overlap; each tile
carries at least ``halo`` pixels of context around its core wherever the scene continues, and
:func:`stitch` keeps only the cores. Tiles at the bottom/right edges are shifted inward so that
they end on the scene edge (every tile holds scene data, and the scene edge is where the network
sees its own zero padding, as in a single pass). Tile origins are multiples of ``align`` (the
model stride, 2 ** number of pools) so the pooling grid of every tile coincides with that of the
whole scene. Hence, with ``halo`` at least the network's receptive-field radius, the stitched
output equals one pass over the scene zero-padded to a multiple of ``align`` (scenes smaller than
a tile are zero-padded to the tile, which only a smaller tile could avoid).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tinyicenet_io import tiling as shared_tiling
from tinyicenet_io.errors import FormatError

from tinyicenet.errors import ConfigError


@dataclass(frozen=True)
class TileWindow:
    """One tile: its origin in scene pixels (may be negative) and the core it contributes."""

    row: int  # tile origin (scene coordinates of tile pixel [0, 0]; >= 0)
    col: int
    core_row: int  # core origin in scene coordinates
    core_col: int
    core_h: int  # core size inside the scene (smaller at the bottom/right edges)
    core_w: int


@dataclass(frozen=True)
class TilePlan:
    """How a scene of ``shape`` is tiled."""

    shape: tuple[int, int]
    tile: int
    halo: int
    align: int
    windows: tuple[TileWindow, ...] = field(repr=False)

    @property
    def core(self) -> int:
        return self.tile - 2 * self.halo

    @property
    def grid(self) -> tuple[int, int]:
        """Number of tiles along lines and samples."""
        return (math.ceil(self.shape[0] / self.core), math.ceil(self.shape[1] / self.core))

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self):
        return iter(self.windows)


def check_tiling(tile: int, halo: int, align: int) -> None:
    """ConfigError unless ``tile`` and ``halo`` tile a scene for a model of stride ``align``."""
    if align < 1 or tile < 1 or halo < 0:
        raise ConfigError(f"tiling: tile ({tile}) and align ({align}) must be >= 1, "
                          f"halo ({halo}) >= 0")
    if tile % align or halo % align:
        raise ConfigError(f"tiling: tile ({tile}) and halo ({halo}) must be multiples of the model "
                          f"stride {align}")
    if tile - 2 * halo < align:
        raise ConfigError(f"tiling: tile {tile} leaves no core with halo {halo}; use a larger tile "
                          "or a smaller halo")


def receptive_radius(levels: int) -> int:
    """Farthest input pixel (working grid) that can change an output pixel of TinyIceNet with
    ``levels`` pooling levels (``len(widths) - 1``).

    One 3x3 conv per encoder level, a 2x2 pool after each, a 3x3 bottleneck, one 3x3 conv per
    decoder level, a 1x1 head. A 3x3 conv at level ``l`` (pixel pitch ``2**l``) reaches ``2**l``
    further and a pool ``2**l``: ``3 (2**L - 1) + 2**L = 4 * 2**L - 3`` for ``L`` pools
    (13 pixels for the default two pools, 29 for three). ``tests/test_data_tiling.py`` checks
    it against the gradient of real models.
    """
    if int(levels) != levels or levels < 0:
        raise ConfigError(f"levels must be a non-negative integer, got {levels}")
    return 4 * 2 ** int(levels) - 3


#: The smallest halo any caller uses (the data layer's historical default).
MIN_HALO = 16


def model_halo(stride: int, requested: int | None = None) -> int:
    """The halo for a TinyIceNet of ``stride`` (``2 ** levels``): the receptive radius rounded
    up to a multiple of the stride, and at least :data:`MIN_HALO`. ``requested`` (e.g. a
    ``--halo`` option) is used when it is at least the radius and a multiple of the stride;
    a smaller one raises ConfigError (tiles would show seams)."""
    stride = int(stride)
    if stride < 1 or stride & (stride - 1):
        raise ConfigError(f"model stride {stride} is not a power of two")
    levels = stride.bit_length() - 1
    radius = receptive_radius(levels)
    if requested is None:
        need = max(MIN_HALO, radius)
        return -(-need // stride) * stride
    requested = int(requested)
    if requested < radius:
        raise ConfigError(f"halo {requested} px is smaller than the model's receptive radius "
                          f"{radius} px ({levels} pooling levels): tiled outputs would differ "
                          f"from one pass over the scene; use a halo of at least "
                          f"{-(-radius // stride) * stride}")
    if requested % stride:
        raise ConfigError(f"halo {requested} px is not a multiple of the model stride {stride}")
    return requested


def tiles_per_scene(shape: tuple[int, int], tile: int = 256, halo: int = 16) -> int:
    """Number of tiles that cover a scene of ``shape`` (the bench's per-scene unit)."""
    core = tile - 2 * halo
    if core < 1:
        raise ConfigError(f"tiling: tile {tile} leaves no core with halo {halo}")
    return math.ceil(shape[0] / core) * math.ceil(shape[1] / core)


def plan_tiles(shape: tuple[int, int], tile: int = 256, halo: int = 16, align: int = 4) -> TilePlan:
    """Plan the tiles of a scene of ``shape = (H, W)``."""
    check_tiling(tile, halo, align)
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ConfigError(f"tiling: empty scene shape {shape}")
    # the plan itself is the one the board driver uses (tinyicenet_io.tiling)
    shared = shared_tiling.TilePlan((h, w), tile, halo, align)
    windows = tuple(TileWindow(*win) for win in shared.windows)
    return TilePlan((h, w), tile, halo, align, windows)


def extract_tiles(image: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Cut ``image [C, H, W]`` into ``[N, C, tile, tile]`` (zeros beyond the scene edge)."""
    try:
        return shared_tiling.extract_tiles(image, plan)
    except FormatError as exc:
        raise ConfigError(str(exc)) from None


def stitch(outputs: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Assemble per-tile outputs ``[N, K, tile, tile]`` into ``[K, H, W]`` from the tile cores."""
    try:
        return shared_tiling.stitch(outputs, plan)
    except FormatError as exc:
        raise ConfigError(str(exc)) from None


def fitted_tile(shape: Sequence[int], tile: int, halo: int, align: int) -> int:
    """The tile side to use on a scene of ``shape``: ``tile``, or the scene's short side
    (rounded up to ``align``) when the scene is smaller than one tile.

    The tiler pads a scene smaller than a tile with zeros up to the tile, and the network's own
    zero padding then sits beyond the scene edge instead of on it, which changes the outputs
    within the receptive field of the bottom/right edges. A tile no larger than the (aligned)
    scene keeps every output equal to one pass over the scene.
    """
    fit = min(-(-int(n) // align) * align for n in shape)
    return fit if fit < tile and fit - 2 * halo >= align else tile


def run_tiled(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *,
              tile: int = 256, halo: int = 16, align: int = 4, batch: int = 8,
              on_batch: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Outputs ``[K, H, W]`` of ``run`` (tiles ``[N, C, t, t]`` -> ``[N, K, t, t]``, e.g. a
    backend's run) over a whole scene ``image [C, H, W]``, through halo tiles.

    ``on_batch(done, total)`` reports progress in tiles.
    """
    if tile <= 2 * halo:
        raise ConfigError(f"tile {tile} leaves no core inside a halo of {halo} on each side")
    h, w = image.shape[-2:]
    if -(-h // align) * align <= tile and -(-w // align) * align <= tile:
        # the scene fits in one tile: one pass over it, padded only up to the stride
        x = np.pad(np.asarray(image, dtype=np.float32), ((0, 0), (0, -h % align), (0, -w % align)))
        out = np.asarray(run(x[None]), dtype=np.float32)[0, :, :h, :w]
        if on_batch is not None:
            on_batch(1, 1)
        return np.ascontiguousarray(out)
    tile = fitted_tile((h, w), tile, halo, align)
    plan = plan_tiles((h, w), tile=tile, halo=halo, align=align)
    tiles = extract_tiles(np.ascontiguousarray(image, dtype=np.float32), plan)
    n = tiles.shape[0]
    outputs = []
    for start in range(0, n, batch):
        outputs.append(np.asarray(run(tiles[start:start + batch]), dtype=np.float32))
        if on_batch is not None:
            on_batch(min(start + batch, n), n)
    return stitch(np.concatenate(outputs, axis=0), plan)

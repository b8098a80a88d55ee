"""Scene -> halo tiles -> scene: the one tile plan of the host (``tinyicenet.data.tiling`` plans,
extracts and stitches through it) and the board driver.

Shared contract (tinyicenet/README.md): core = tile - 2 * halo; cores start at 0, core, 2 core,
... and cover the scene without overlap; a tile starts ``halo`` before its core, but tiles at the
edges are shifted inward so that every tile lies inside the scene (padded up to a multiple of
``align``); a scene smaller than a tile gets one tile from the corner, zeros beyond the scene.
Stitching keeps each tile's core. Tile origins are multiples of ``align``. Why the plan is
right (tiled output equals one pass with a halo of the receptive radius) is checked against
real models in ``tests/test_data_tiling.py``.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .errors import FormatError

#: tile origin (>= 0), core origin, core size inside the scene
Window = namedtuple("Window", "row col core_row core_col core_h core_w")


class TilePlan:
    """The tiles of a scene of ``shape = (H, W)``."""

    def __init__(self, shape, tile: int, halo: int, align: int):
        h, w = int(shape[0]), int(shape[1])
        if h < 1 or w < 1:
            raise FormatError(f"tiling: empty scene shape {tuple(shape)}")
        if tile < 1 or align < 1 or halo < 0 or tile % align or halo % align:
            raise FormatError(f"tiling: tile {tile} and halo {halo} must be multiples of align "
                             f"{align}")
        if tile - 2 * halo < align:
            raise FormatError(f"tiling: tile {tile} leaves no core with halo {halo}")
        self.shape = (h, w)
        self.tile, self.halo, self.align = tile, halo, align
        self.core = tile - 2 * halo
        self.grid = (-(-h // self.core), -(-w // self.core))
        self.windows = tuple(
            Window(r0, c0, r, c, rh, cw)
            for r0, r, rh in self._origins(h) for c0, c, cw in self._origins(w))

    def _origins(self, n: int) -> list:
        """(tile origin, core start, core length) along one axis of ``n`` pixels."""
        n_aligned = -(-n // self.align) * self.align  # the grid one pass would run on
        out = []
        for start in range(0, n, self.core):
            if n_aligned >= self.tile:  # shift inward: the last tile ends on the aligned edge
                origin = min(max(start - self.halo, 0), n_aligned - self.tile)
            else:  # smaller than one tile: one tile from the corner
                origin = 0
            out.append((origin, start, min(self.core, n - start)))
        return out

    def __len__(self) -> int:
        return len(self.windows)


def extract_tiles(image: np.ndarray, plan: TilePlan) -> np.ndarray:
    """``image [C, H, W]`` -> ``[N, C, tile, tile]``, zeros outside the scene."""
    image = np.asarray(image)
    if image.ndim != 3 or tuple(image.shape[1:]) != plan.shape:
        raise FormatError(f"tiling: image of shape {tuple(image.shape)} does not match the plan "
                         f"for [C, {plan.shape[0]}, {plan.shape[1]}]")
    h, w = plan.shape
    bottom = max(max(win.row for win in plan.windows) + plan.tile - h, 0)
    right = max(max(win.col for win in plan.windows) + plan.tile - w, 0)
    padded = np.pad(image, ((0, 0), (0, bottom), (0, right)), mode="constant")
    out = np.empty((len(plan), image.shape[0], plan.tile, plan.tile), dtype=image.dtype)
    for n, win in enumerate(plan.windows):
        out[n] = padded[:, win.row:win.row + plan.tile, win.col:win.col + plan.tile]
    return out


def stitch(outputs: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Per-tile outputs ``[N, K, tile, tile]`` -> ``[K, H, W]`` from the tile cores."""
    outputs = np.asarray(outputs)
    if outputs.ndim != 4 or outputs.shape[0] != len(plan) or outputs.shape[2:] != (plan.tile,) * 2:
        raise FormatError(f"tiling: outputs of shape {tuple(outputs.shape)} do not match the plan "
                         f"({len(plan)} tiles of {plan.tile} x {plan.tile})")
    out = np.empty((outputs.shape[1],) + plan.shape, dtype=outputs.dtype)
    for n, win in enumerate(plan.windows):
        r, c = win.core_row - win.row, win.core_col - win.col  # core offset inside the tile
        out[:, win.core_row:win.core_row + win.core_h, win.core_col:win.core_col + win.core_w] = \
            outputs[n, :, r:r + win.core_h, c:c + win.core_w]
    return out

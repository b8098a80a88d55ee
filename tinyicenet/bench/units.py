"""The two units of work in every result: one tile, and one full Sentinel-1 EW scene.

An EW scene covers about 400 km x 400 km. The model works at ``DEFAULT_DOWNSAMPLE`` times the
AI4Arctic 80 m spacing (400 m), so a scene is 1000 x 1000 working pixels, which the model runs
as overlapping tiles with its halo (:func:`tinyicenet.data.tiling.tiles_per_scene`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tinyicenet.data.tiling import model_halo as _model_halo
from tinyicenet.errors import ConfigError

EW_SCENE_KM = 400.0
RTT_PIXEL_SPACING_M = 80.0
DEFAULT_TILE = (256, 256)
# the default TinyIceNet's halo (stride 4: receptive radius 13 -> 16), from the one definition
DEFAULT_HALO = _model_halo(4)


@dataclass(frozen=True)
class SceneUnit:
    """A scene of ``pixels`` [H, W] at ``pixel_spacing_m`` run as ``tiles`` tiles."""

    pixels: tuple[int, int]
    pixel_spacing_m: float | None
    tile: tuple[int, int]
    halo: int
    tiles: int
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"pixels": list(self.pixels), "pixel_spacing_m": self.pixel_spacing_m,
                "tiles": self.tiles, "halo": self.halo, "name": self.name}


def _tiles_per_scene(shape: tuple[int, int], tile: tuple[int, int], halo: int) -> int:
    from tinyicenet.data import tiling
    if min(shape) < 1:
        raise ConfigError(f"scene of {shape[0]} x {shape[1]} px: each side must be >= 1 pixel")
    if halo < 0:
        raise ConfigError(f"halo {halo}: must be >= 0")
    if tile[0] != tile[1]:
        raise ConfigError(f"tile {tile[0]}x{tile[1]}: the per-scene unit needs a square tile")
    if tile[0] <= 2 * halo:
        raise ConfigError(f"tile {tile[0]} leaves no core inside a halo of {halo}")
    return int(tiling.tiles_per_scene(shape, tile[0], halo))


def ew_scene(tile: tuple[int, int] = DEFAULT_TILE, halo: int = DEFAULT_HALO,
             pixels: tuple[int, int] | None = None,
             pixel_spacing_m: float | None = None) -> SceneUnit:
    """The per-scene unit: a 400 km EW scene at the model's working spacing (or ``pixels``)."""
    if pixels is None:
        from tinyicenet.data import DEFAULT_DOWNSAMPLE
        spacing = RTT_PIXEL_SPACING_M * DEFAULT_DOWNSAMPLE
        side = int(math.ceil(EW_SCENE_KM * 1000 / spacing))
        pixels, pixel_spacing_m = (side, side), spacing
        name = f"Sentinel-1 EW scene, 400 x 400 km at {spacing:g} m"
    else:
        name = f"scene of {pixels[0]} x {pixels[1]} px"
    tile = (int(tile[0]), int(tile[1]))
    pixels = (int(pixels[0]), int(pixels[1]))
    return SceneUnit(pixels, pixel_spacing_m, tile, int(halo),
                     _tiles_per_scene(pixels, tile, int(halo)), name)

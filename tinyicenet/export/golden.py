"""Golden files and verification inputs: fresh random tiles and tiles cut from scenes.

Beside every exported model: ``golden_input.npy`` (float32 tiles ``[N, C, H, W]``, as the model
takes them), ``golden_input_int.npy`` (the input quantizer's integer codes, int16),
``golden_output_int.npy`` (the integer reference's head codes, int32 ``[N, K, H, W]``) and
``golden_output.npy`` (those codes dequantised, float32 logits).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyicenet.atomic import atomic_path
from tinyicenet.errors import DataError

GOLDEN_FILES = {
    "input": "golden_input.npy",
    "input_int": "golden_input_int.npy",
    "output_int": "golden_output_int.npy",
    "output": "golden_output.npy",
}
#: z-scored SAR rarely leaves +-4; 1.5 sigma random inputs also exercise the input saturation.
RANDOM_SIGMA = 1.5
#: Verification tiles cut from a scene when a scene is given and no count (export, hls).
DEFAULT_SCENE_TILES = 2


@dataclass
class TileSet:
    """Verification tiles and where each came from."""

    tiles: np.ndarray  # float32 [N, C, H, W]
    sources: list[str] = field(default_factory=list)  # "random:<seed>:<i>" / "<scene>:<row>,<col>"
    seed: int | None = None

    def __len__(self) -> int:
        return len(self.tiles)

    def __add__(self, other: "TileSet") -> "TileSet":
        if not len(self):
            return other
        if not len(other):
            return self
        return TileSet(np.concatenate([self.tiles, other.tiles]), self.sources + other.sources,
                       self.seed if self.seed is not None else other.seed)


def random_tiles(count: int, channels: int, tile: int, seed: int | None = None) -> TileSet:
    """``count`` fresh random tiles (normal, sigma 1.5); a new seed unless one is given."""
    seed = secrets.randbits(32) if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    tiles = (rng.standard_normal((count, channels, tile, tile)) * RANDOM_SIGMA).astype(np.float32)
    return TileSet(tiles, [f"random:{seed}:{i}" for i in range(count)], seed)


def scene_tiles(path: str | os.PathLike[str], count: int, tile: int, align: int = 1,
                variables: tuple[str, ...] | None = None) -> TileSet:
    """Up to ``count`` tiles of ``tile`` pixels from a scene file, or from the scenes of a
    folder (``*.nc``), with as much valid SAR as possible, in scene order."""
    from tinyicenet import data

    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such scene file or folder")
    files = sorted(p.glob("*.nc")) if p.is_dir() else [p]
    if not files:
        raise DataError(f"{p}: no scene files (*.nc) found")
    halo = max(0, min(16, tile // 4))
    halo -= halo % max(1, align)
    picked, sources = [], []
    per_file = max(1, -(-count // len(files)))
    for f in files:
        kwargs = {"variables": tuple(variables)} if variables else {}
        scene = data.load_scene(f, **kwargs)
        plan = data.plan_tiles(scene["image"].shape[-2:], tile=tile, halo=halo, align=align)
        tiles = data.extract_tiles(scene["image"], plan)
        valid = np.array([_valid_fraction(scene["valid"], w, tile) for w in plan.windows])
        order = np.argsort(-valid, kind="stable")[:per_file]
        for i in sorted(order):
            w = plan.windows[i]
            picked.append(tiles[i])
            sources.append(f"{scene['meta'].get('scene_id', f.stem)}:{w.row},{w.col}")
        if len(picked) >= count:
            break
    return TileSet(np.stack(picked[:count]).astype(np.float32), sources[:count])


def _valid_fraction(valid: np.ndarray, window, tile: int) -> float:
    r0, c0 = max(window.row, 0), max(window.col, 0)
    block = valid[r0:window.row + tile, c0:window.col + tile]
    return float(block.mean()) if block.size else 0.0


def write_golden(out_dir: str | os.PathLike[str], intmodel, tiles: np.ndarray) -> dict[str, str]:
    """Write the four golden files for ``tiles`` with the integer reference ``intmodel``."""
    out = Path(out_dir)
    q_in = intmodel.quantize_input(tiles)
    q_out = intmodel.run_int(q_in)
    arrays = {"input": np.asarray(tiles, dtype=np.float32), "input_int": q_in.astype(np.int16),
              "output_int": q_out.astype(np.int32),
              "output": intmodel.dequantize_output(q_out)}
    for key, name in GOLDEN_FILES.items():
        with atomic_path(out / name) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arrays[key])
    return dict(GOLDEN_FILES)

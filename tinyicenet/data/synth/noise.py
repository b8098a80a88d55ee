"""Smooth random fields (vectorised value noise: a 5000 x 5000 field takes a fraction of a
second) and their mapping to uniform values."""

from __future__ import annotations

import numpy as np


def _smoothstep(k: int) -> np.ndarray:
    t = np.arange(k, dtype=np.float32) / np.float32(k)
    return t * t * (3.0 - 2.0 * t)  # value noise without visible grid kinks


def _upsample_grid(grid: np.ndarray, ky: int, kx: int, h: int, w: int) -> np.ndarray:
    """Interpolate a coarse grid by integer factors with broadcasting (no gathers)."""
    gh, gw = grid.shape
    tx, ty = _smoothstep(kx), _smoothstep(ky)
    cols = grid[:, :-1, None] * (1 - tx) + grid[:, 1:, None] * tx  # (gh, gw-1, kx)
    cols = cols.reshape(gh, (gw - 1) * kx)[:, :w]
    out = cols[:-1, None, :] * (1 - ty)[None, :, None] + cols[1:, None, :] * ty[None, :, None]
    return out.reshape((gh - 1) * ky, w)[:h]


def value_noise(rng: np.random.Generator, shape: tuple[int, int],
                 scale: float | tuple[float, float], octaves: int = 1) -> np.ndarray:
    """Smooth noise with unit standard deviation and correlation length ``scale`` pixels."""
    h, w = shape
    sy, sx = (scale, scale) if np.isscalar(scale) else scale
    out = np.zeros(shape, dtype=np.float32)
    amp = 1.0
    for _ in range(octaves):
        ky, kx = max(1, int(round(sy))), max(1, int(round(sx)))
        oy, ox = int(rng.integers(ky)), int(rng.integers(kx))  # random phase of the grid
        gh, gw = -(-(h + oy) // ky) + 1, -(-(w + ox) // kx) + 1
        grid = rng.standard_normal((gh, gw), dtype=np.float32)
        out += np.float32(amp) * _upsample_grid(grid, ky, kx, h + oy, w + ox)[oy:, ox:]
        amp *= 0.5
        sy, sx = sy / 2, sx / 2
    out /= np.float32(out[::7, ::7].std() + 1e-6)
    return out


def uniform_field(field: np.ndarray) -> np.ndarray:
    """Map a unit-variance field to (0, 1) through the normal CDF."""
    from scipy.special import ndtr

    return ndtr(field).astype(np.float32)

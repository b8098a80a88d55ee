"""Integer downsampling (mean for SAR, mode or nearest for labels) and upsampling of 2 km grids.

A scene whose size is not a multiple of the factor keeps its last partial block: output size is
``ceil(size / factor)``, and partial blocks use only the pixels they contain.
"""

from __future__ import annotations

import math

import numpy as np

from tinyicenet.data.layout import LABEL_FILL


def _check_factor(factor: int) -> int:
    if int(factor) != factor or factor < 1:
        raise ValueError(f"downsampling factor must be a positive integer, got {factor}")
    return int(factor)


def _blocks(array: np.ndarray, factor: int, fill) -> np.ndarray:
    """View ``[..., H, W]`` as ``[..., H/f, f, W/f, f]`` after padding with ``fill``."""
    h, w = array.shape[-2:]
    ph, pw = (-h) % factor, (-w) % factor
    if ph or pw:
        pad = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
        array = np.pad(array, pad, constant_values=fill)
    H, W = array.shape[-2:]
    return array.reshape(*array.shape[:-2], H // factor, factor, W // factor, factor)


def downsample_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Block mean ignoring NaN (``[..., H, W]`` float); a block with no finite pixel is NaN.

    SAR in dB is averaged in dB, as the AutoICE starter kit and MMSeaIce do.
    """
    factor = _check_factor(factor)
    array = np.asarray(array, dtype=np.float32)
    if factor == 1:
        return array.copy()
    blocks = _blocks(array, factor, np.nan)
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, 0.0).sum(axis=(-3, -1), dtype=np.float32)
    count = finite.sum(axis=(-3, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    return out.astype(np.float32)


def downsample_labels(labels: np.ndarray, factor: int, method: str = "mode",
                      fill: int = LABEL_FILL) -> np.ndarray:
    """Downsample a uint8 class raster: ``"mode"`` (most frequent non-fill class in the block,
    ties to the lower class; fill if the block has none) or ``"nearest"`` (block centre)."""
    factor = _check_factor(factor)
    labels = np.asarray(labels)
    if factor == 1:
        return labels.copy()
    if method == "nearest":
        c = factor // 2
        h, w = labels.shape[-2:]
        rows = np.minimum(np.arange(c, math.ceil(h / factor) * factor, factor), h - 1)
        cols = np.minimum(np.arange(c, math.ceil(w / factor) * factor, factor), w - 1)
        return labels[..., rows[:, None], cols[None, :]].copy()
    if method != "mode":
        raise ValueError(f"label resampling must be 'mode' or 'nearest', got {method!r}")
    blocks = _blocks(labels, factor, fill)
    if labels.dtype == np.uint8:  # bincount: much faster than np.unique on large rasters
        present = np.nonzero(np.bincount(labels.ravel(), minlength=256))[0]
    else:
        present = np.unique(labels)
    classes = [int(v) for v in present if v != fill]
    best = np.full(blocks.shape[:-3] + blocks.shape[-2:-1], fill, dtype=labels.dtype)
    best_count = np.zeros(best.shape, dtype=np.int32)
    for cls in classes:  # few classes (<= 11): one counting pass each
        count = (blocks == cls).sum(axis=(-3, -1), dtype=np.int32)
        better = count > best_count
        best[better] = cls
        best_count[better] = count[better]
    return best


def upsample(array: np.ndarray, shape: tuple[int, int], method: str = "nearest") -> np.ndarray:
    """Resize a coarse grid (e.g. the 2 km AMSR2/ERA5 grid) to ``shape`` covering the same extent.

    ``nearest`` repeats cells (what the starter kit's ``loader_upsampling`` does by default);
    ``bilinear`` interpolates between cell centres (edges clamp).
    """
    array = np.asarray(array, dtype=np.float32)
    gh, gw = array.shape
    h, w = shape
    rows = (np.arange(h, dtype=np.float64) + 0.5) * gh / h - 0.5
    cols = (np.arange(w, dtype=np.float64) + 0.5) * gw / w - 0.5
    if method == "nearest":
        ri = np.clip(np.floor(rows + 0.5).astype(np.intp), 0, gh - 1)
        ci = np.clip(np.floor(cols + 0.5).astype(np.intp), 0, gw - 1)
        return array[ri[:, None], ci[None, :]]
    if method != "bilinear":
        raise ValueError(f"upsampling must be 'nearest' or 'bilinear', got {method!r}")
    rows = np.clip(rows, 0, gh - 1)
    cols = np.clip(cols, 0, gw - 1)
    r0 = np.minimum(np.floor(rows).astype(np.intp), max(gh - 2, 0))
    c0 = np.minimum(np.floor(cols).astype(np.intp), max(gw - 2, 0))
    r1, c1 = np.minimum(r0 + 1, gh - 1), np.minimum(c0 + 1, gw - 1)
    fr = (rows - r0).astype(np.float32)[:, None]
    fc = (cols - c0).astype(np.float32)[None, :]
    top = array[r0][:, c0] * (1 - fc) + array[r0][:, c1] * fc
    bottom = array[r1][:, c0] * (1 - fc) + array[r1][:, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


def upsample_classes(classes: np.ndarray, shape: tuple[int, int], factor: int) -> np.ndarray:
    """A class map of the working grid back on the file grid of ``shape``: nearest-neighbour
    block replication, the inverse of the ``factor`` block downsampling above (file pixel ``i``
    takes working pixel ``i // factor``; a partial last block repeats the last pixel). For
    sizes that are multiples of ``factor`` this equals
    ``torch.nn.functional.interpolate(mode="nearest", size=shape)``."""
    factor = _check_factor(factor)
    classes = np.asarray(classes)
    h, w = classes.shape[-2:]
    rows = np.minimum(np.arange(shape[0]) // factor, h - 1)
    cols = np.minimum(np.arange(shape[1]) // factor, w - 1)
    return np.ascontiguousarray(classes[..., rows[:, None], cols[None, :]])

"""Execute a kernel :class:`~tinyicenet.kernels.plan.Plan` with numpy, in the kernels' order.

This is the CPU twin of the GPU kernels: the same padded NHWC buffers (flat, with the same
address arithmetic, so even the run mode's read past a row end is reproduced), values stored
with the same offset (unsigned 8-bit tensors as ``a - 128``, border included), the same packed
weight rows and chunk order, the same corrected bias, the same requantisation.
CPU tests compare it with the integer reference; GPU tests compare the kernels with both.
It also checks the claim the kernels rely on: every int32 partial sum stays in range.
"""

from __future__ import annotations

import math

import numpy as np
from tinyicenet_io.fixedpoint import codes as quantize_codes

from tinyicenet.errors import VerificationError
from tinyicenet.kernels.plan import (INT32_MAX, ConvStage, HeadStage, Plan, QuantStage,
                                     apply_requant)

SLACK = 256  # bytes after each buffer: a run may read up to 2 * 32 - 3 bytes past the end


class _Buffer:
    """A zero-bordered NHWC tensor kept flat, as on the GPU."""

    def __init__(self, n: int, h: int, w: int, c: int, offset: int) -> None:
        self.n, self.h, self.w, self.c = n, h, w, c
        # the border holds the stored form of 0 (-offset); so does the slack
        self.flat = np.full(n * (h + 2) * (w + 2) * c + SLACK, -offset, dtype=np.int64)

    def interior(self) -> np.ndarray:
        body = self.flat[:self.n * (self.h + 2) * (self.w + 2) * self.c]
        return body.reshape(self.n, self.h + 2, self.w + 2, self.c)[:, 1:-1, 1:-1]

    def offsets(self, n: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Flat offset of channel 0 of pixel (n, y, x); y, x in unpadded coordinates."""
        return ((n * (self.h + 2) + y + 1) * (self.w + 2) + x + 1) * self.c


def _check32(acc: np.ndarray, what: str) -> None:
    if np.abs(acc).max(initial=0) > INT32_MAX:
        raise VerificationError(f"{what}: accumulator left int32")


def _pixels(n: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nn, yy, xx = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    return nn.ravel(), yy.ravel(), xx.ravel()


def _quantize(stage: QuantStage, x: np.ndarray, buf: _Buffer) -> None:
    # the one input quantiser (tinyicenet_io.fixedpoint); input_scale is 2 ** -input_exp
    exponent = -round(math.log2(stage.input_scale))
    q = quantize_codes(x, exponent, stage.lo, stage.hi).astype(np.int64)
    inner = buf.interior()
    inner[...] = 0
    inner[..., :stage.in_channels] = q.transpose(0, 2, 3, 1)


def _store(y: np.ndarray, offset: int, out: str | None, pool: str | None,
           bufs: dict[str, _Buffer]) -> None:
    if out is not None:
        bufs[out].interior()[...] = y - offset
    if pool is not None:
        n, h, w, c = y.shape
        bufs[pool].interior()[...] = y.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4)) \
            - offset


def _gather(flat: np.ndarray, base: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return flat[base[:, None] + cols[None, :]]


def _conv(stage: ConvStage, bufs: dict[str, _Buffer], n: int, h: int, w: int) -> np.ndarray:
    """The stage's int32 accumulator ``[n, h, w, cout_p]`` (bias included)."""
    pn, py, px = _pixels(n, h, w)
    acc = np.zeros((pn.size, stage.cout_p), dtype=np.int64)
    row = 0
    wt = stage.weight.astype(np.int64)
    for src in stage.sources:
        buf = bufs[src.buffer]
        if src.mode == "run":
            run = src.bk
            start = buf.offsets(pn, py, px - 1)
            for d in range(3):
                a = _gather(buf.flat, start + (d - 1) * (buf.w + 2) * buf.c, np.arange(run))
                acc += a @ wt[row:row + run]
                _check32(acc, stage.name)
                row += run
            continue
        nch = -(-src.channels // src.bk)
        for t in range(9):
            dy, dx = t // 3 - 1, t % 3 - 1
            if src.up:
                base = buf.offsets(pn, (py + dy) >> 1, (px + dx) >> 1)
            else:
                base = buf.offsets(pn, py + dy, px + dx)
            for j in range(nch):
                cols = j * src.bk + np.arange(src.bk)
                a = _gather(buf.flat, base, np.minimum(cols, src.channels - 1))
                a = np.where(cols[None, :] < src.channels, a, 0)   # masked lanes load 0
                acc += a @ wt[row:row + src.bk]
                _check32(acc, stage.name)
                row += src.bk
    if row != wt.shape[0]:
        raise VerificationError(f"{stage.name}: packed {wt.shape[0]} weight rows, used {row}")
    acc = acc + stage.bias.astype(np.int64)
    _check32(acc, stage.name)
    return acc.reshape(n, h, w, stage.cout_p)


def _head(head: HeadStage, y: np.ndarray) -> np.ndarray:
    n, h, w, c = y.shape
    a = np.zeros((n * h * w, c * head.spread), dtype=np.int64)
    a[:, ::head.spread] = y.reshape(-1, c) - head.xor
    acc = a @ head.weight.astype(np.int64) + head.bias.astype(np.int64)
    _check32(acc, "head")
    out = apply_requant(acc, head.requant)[:, :head.classes]
    return out.reshape(n, h, w, head.classes).transpose(0, 3, 1, 2)


def run_plan(plan: Plan, x: np.ndarray) -> np.ndarray:
    """Integer head output ``int8 [N, classes, H, W]`` of ``plan`` for float input ``x``."""
    x = np.asarray(x, dtype=np.float32)
    n, c, h, w = x.shape
    if c != plan.in_channels or h % plan.stride or w % plan.stride:
        raise VerificationError(f"input shape {x.shape} does not fit {plan.name} "
                                f"({plan.in_channels} channels, stride {plan.stride})")
    bufs = {name: _Buffer(n, h >> level, w >> level, ch, off)
            for name, (level, ch, off) in plan.buffers.items()}
    _quantize(plan.quant, x, bufs["input"])
    out = None
    for stage in plan.stages:
        hl, wl = h >> stage.level, w >> stage.level
        y = apply_requant(_conv(stage, bufs, n, hl, wl), stage.requant)
        _store(y, stage.out_xor, stage.out, stage.pool, bufs)
        if stage.head is not None:
            out = _head(stage.head, y)
    if out is None:
        raise VerificationError(f"{plan.name}: plan has no head stage")
    return out.astype(np.int8)

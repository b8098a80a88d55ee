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
from tinyicenet.kernels.plan import (INT32_MAX, SPLIT_TAPS, ConvStage, HeadStage, Plan,
                                     QuantStage, apply_requant)

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


def _quantized(stage: QuantStage, x: np.ndarray) -> np.ndarray:
    """The input quantiser (the one in tinyicenet_io.fixedpoint): NHWC integers of ``x`` (NCHW)."""
    exponent = -round(math.log2(stage.input_scale))  # input_scale is 2 ** -input_exp
    return quantize_codes(x, exponent, stage.lo, stage.hi).astype(np.int64).transpose(0, 2, 3, 1)


def _quantize(stage: QuantStage, x: np.ndarray, buf: _Buffer) -> None:
    inner = buf.interior()
    inner[...] = 0
    q = _quantized(stage, x)
    if not stage.window:
        inner[..., :stage.in_channels] = q
        return
    c, w = stage.in_channels, q.shape[2]
    row = np.zeros((q.shape[0], q.shape[1], w + 2, c), dtype=np.int64)
    row[:, :, 1:-1] = q
    for p in range(3):   # byte p * c + ch: channel ch of pixel x + p - 1
        inner[..., p * c:(p + 1) * c] = row[:, :, p:p + w]


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


def _chunk(buf: "_Buffer", base: np.ndarray, src, j: int) -> np.ndarray:
    """Channels ``j * bk .. (j + 1) * bk`` of ``src`` at pixel offsets ``base``: the kernels'
    masked load (lanes past the stored channels load 0)."""
    cols = j * src.bk + np.arange(src.bk)
    a = _gather(buf.flat, base, np.minimum(cols, src.channels - 1))
    return np.where(cols[None, :] < src.channels, a, 0)


def _im2col(q: np.ndarray, cin: int, k: int) -> np.ndarray:
    """``[n*h*w, k]`` operand of the fused first conv: column t * cin + c = tap t, channel c of
    the quantised input (zero outside the image and past 9 * cin)."""
    n, h, w, _ = q.shape
    pad = np.zeros((n, h + 2, w + 2, cin), dtype=np.int64)
    pad[:, 1:-1, 1:-1] = q[..., :cin]
    cols = np.zeros((n * h * w, k), dtype=np.int64)
    for t in range(9):
        dy, dx = t // 3, t % 3
        cols[:, t * cin:(t + 1) * cin] = pad[:, dy:dy + h, dx:dx + w].reshape(-1, cin)
    return cols


def _parity(stage: ConvStage, src, buf: "_Buffer", pn: np.ndarray, py: np.ndarray,
            px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The parity source's two accumulators (lo plane, hi plane) per pixel, in kernel order."""
    uw = stage.up_weight.astype(np.int64)             # [4, planes, rows, cout_p]
    par = (py & 1) * 2 + (px & 1)
    acc = np.zeros((pn.size, stage.cout_p), dtype=np.int64)
    acch = np.zeros_like(acc)
    nch = -(-src.channels // src.bk)
    for r in range(4):
        ry, rx = divmod(r, 2)
        base = buf.offsets(pn, (py >> 1) + (py & 1) - 1 + ry, (px >> 1) + (px & 1) - 1 + rx)
        for j in range(nch):
            a = _chunk(buf, base, src, j)
            rows = slice((r * nch + j) * src.bk, (r * nch + j + 1) * src.bk)
            for p in range(4):
                sel = par == p
                acc[sel] += a[sel] @ uw[p, 0, rows]
                if uw.shape[1] > 1:
                    acch[sel] += a[sel] @ uw[p, 1, rows]
            _check32(acc, stage.name)
            _check32(acch * 128, stage.name)
    return acc, acch


def _conv_quad(stage: ConvStage, bufs: dict[str, _Buffer], n: int, h: int,
               w: int) -> np.ndarray:
    """A quad stage (plan.pack_quad, plan.pack_quad_split): accumulators ``[quads, 4 * cout_p]``
    in kernel order, then each quad's four pixels; returns ``[n, h, w, cout_p]`` with the bias."""
    qn, qy, qx = _pixels(n, h // 2, w // 2)
    cp = stage.cout_p
    uw = (None if stage.up_weight is None      # [planes, rows, 4 * cout_p]
          else stage.up_weight.astype(np.int64)[0])
    wt = stage.weight.astype(np.int64)
    acc = np.zeros((qn.size, 4 * cp), dtype=np.int64)
    acch = np.zeros_like(acc)
    row = 0
    for src in stage.sources:
        buf = bufs[src.buffer]
        if src.mode == "quadrun":
            for u in range(4):
                base = buf.offsets(qn, 2 * qy - 1 + u, 2 * qx - 1)
                acc += _gather(buf.flat, base, np.arange(src.bk)) @ wt[row:row + src.bk]
                _check32(acc, stage.name)
                row += src.bk
            continue
        nch = -(-src.channels // src.bk)
        if src.mode == "quadsplit":   # each low-resolution tap once, times each of its blocks
            for (ry, rx), blocks in SPLIT_TAPS:
                base = buf.offsets(qn, qy + ry, qx + rx)
                for j in range(nch):
                    a = _chunk(buf, base, src, j)
                    for _ in blocks:
                        acc += a @ wt[row:row + src.bk]
                        _check32(acc, stage.name)
                        row += src.bk
            continue
        side = 3 if src.mode == "quadup" else 4
        for t in range(side * side):
            u, v = divmod(t, side)
            if src.mode == "quadup":
                base = buf.offsets(qn, qy + u - 1, qx + v - 1)
            else:
                base = buf.offsets(qn, 2 * qy - 1 + u, 2 * qx - 1 + v)
            for j in range(nch):
                a = _chunk(buf, base, src, j)
                r0 = (t * nch + j) * src.bk
                if src.mode == "quadup":
                    acc += a @ uw[0, r0:r0 + src.bk]
                    if uw.shape[0] > 1:
                        acch += a @ uw[1, r0:r0 + src.bk]
                        _check32(acch * 128, stage.name)
                else:
                    acc += a @ wt[row:row + src.bk]
                    row += src.bk
                _check32(acc, stage.name)
    if row != wt.shape[0]:
        raise VerificationError(f"{stage.name}: packed {wt.shape[0]} weight rows, used {row}")
    acc = acc + acch * 128
    _check32(acc, stage.name)
    acc = acc.reshape(n, h // 2, w // 2, 2, 2, cp).transpose(0, 1, 3, 2, 4, 5)
    acc = acc.reshape(n, h, w, cp) + stage.bias.astype(np.int64)
    _check32(acc, stage.name)
    return acc


def _conv(stage: ConvStage, bufs: dict[str, _Buffer], n: int, h: int, w: int,
          qin: np.ndarray | None = None) -> np.ndarray:
    """The stage's int32 accumulator ``[n, h, w, cout_p]`` (bias included).

    ``qin`` is the quantised input ``[n, h, w, C]`` for a fused first conv (im2col source).
    """
    if stage.quad:
        return _conv_quad(stage, bufs, n, h, w)
    pn, py, px = _pixels(n, h, w)
    acc = np.zeros((pn.size, stage.cout_p), dtype=np.int64)
    acch = None
    row = 0
    wt = stage.weight.astype(np.int64)
    for src in stage.sources:
        if src.float_input:
            acc += _im2col(qin, src.channels, src.bk) @ wt[row:row + src.bk]
            _check32(acc, stage.name)
            row += src.bk
            continue
        buf = bufs[src.buffer]
        if src.mode == "parity":
            acc, acch = _parity(stage, src, buf, pn, py, px)
            continue
        if src.mode == "window":   # 4 stored rows: dy = -1, 0, 1, then -1 again (zero rows)
            k = np.arange(src.bk)
            step = ((k // src.channels) % 3 - 1) * (buf.w + 2) * buf.c + k % src.channels
            acc += _gather(buf.flat, buf.offsets(pn, py, px), step) @ wt[row:row + src.bk]
            _check32(acc, stage.name)
            row += src.bk
            continue
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
                a = _chunk(buf, base, src, j)
                acc += a @ wt[row:row + src.bk]
                _check32(acc, stage.name)
                row += src.bk
    if row != wt.shape[0]:
        raise VerificationError(f"{stage.name}: packed {wt.shape[0]} weight rows, used {row}")
    if acch is not None:   # the kernel adds 128 * hi before the bias
        acc = acc + acch * 128
        _check32(acc, stage.name)
    acc = acc + stage.bias.astype(np.int64)
    _check32(acc, stage.name)
    return acc.reshape(n, h, w, stage.cout_p)


def _head(head: HeadStage, y: np.ndarray) -> np.ndarray:
    n, h, w, c = y.shape
    if head.quad:   # per quad: its 4 pixels' channels (sub-pixel major) @ block-diagonal rows
        quads = y.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        acc = (quads.reshape(-1, 4 * c) - head.xor) @ head.weight.astype(np.int64) \
            + np.tile(head.bias.astype(np.int64), 4)
        _check32(acc, "head")
        out = apply_requant(acc, head.requant).reshape(n, h // 2, w // 2, 2, 2, -1)
        return out[..., :head.classes].transpose(0, 5, 1, 3, 2, 4).reshape(n, -1, h, w)
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
    qin = _quantized(plan.quant, x)
    if "input" in bufs:
        _quantize(plan.quant, x, bufs["input"])
    out = None
    for stage in plan.stages:
        hl, wl = h >> stage.level, w >> stage.level
        y = apply_requant(_conv(stage, bufs, n, hl, wl, qin), stage.requant)
        _store(y, stage.out_xor, stage.out, stage.pool, bufs)
        if stage.head is not None:
            out = _head(stage.head, y)
    if out is None:
        raise VerificationError(f"{plan.name}: plan has no head stage")
    return out.astype(np.int8)

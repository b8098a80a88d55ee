"""Triton kernels of the integer TinyIceNet (see :mod:`tinyicenet.kernels.plan` for the design).

Two kernels:

* :func:`quantize_kernel` - the input quantiser: float32 NCHW -> int8 NHWC with a zero border
  (``WIN``: each pixel stores its 3-pixel row window instead, for gen4's first conv).
* :func:`conv3x3_kernel` - implicit-GEMM 3x3 conv on int8 tensor cores (``tl.dot`` int8 ->
  int32, wgmma on Hopper), one or two sources (the first optionally read through a nearest 2x
  upsample, the second the skip: concatenation is just a second K range), bias +
  round-half-even shift + clamp, then any of: full-resolution store, fused 2x2 max-pool store,
  fused 1x1 head with its own requantisation storing int8 logits ``[N, classes, H, W]``.

Second-generation options of the same kernel (``plan`` design ``gen2``): ``PAR`` reads the
first source as a parity 2x2 conv on the low-resolution tensor (a program computes one output
parity class of a tile; up to two weight planes, two accumulators), ``IM2COL`` reads the float
network input itself and quantises the 3x3 window in registers (no quantise kernel), ``WIN``
(gen4) reads the quantise kernel's row windows as one K = 4 x ``WIN`` slice, ``SPLIT`` (gen5)
reads a quad program's upsampled source with unsummed weights (:func:`_acc_quad_split`), and
``GDC`` makes the kernel a programmatic dependent launch (Hopper): it waits for its
predecessor's completion with ``griddepcontrol.wait`` before touching memory, so its launch
overlaps the predecessor's tail.

The K loop of each source is a ``tl.range`` loop that Triton software-pipelines (``NS``
stages): the gathered A slices and the weight slices stream into shared memory while earlier
slices are multiplied. Activations are stored with their offset already applied (unsigned
8-bit as ``a - 128``), so every load feeds the MMA untouched.

A program computes a tile of TH x TW output pixels. With pooling, pixel ``m`` of the tile is
ordered window-major (``m // 4`` = pooling window, ``m % 4`` = position in it) so that the pool
is a max over a reshaped axis, or with ``QMAJOR`` position-major (``m // (TH * TW / 4)`` =
position, the rest = window): where a quarter of the tile is a multiple of the accumulator's
row block (16 rows per warp), the four positions of a window then sit in one thread's
registers and the pool is a register max; the full-resolution store is permuted back to raster
order. Otherwise row-major, so that NCHW head stores are contiguous. A quad program
(``QUAD``) keeps its tile in the accumulator's layout to the end (:func:`_quad_epilogue`).
"""

from __future__ import annotations

import os

import triton
import triton.language as tl
from triton.language.extra import libdevice

#: Triton's CPU interpreter (TRITON_INTERPRET=1, used by the CPU tests) has no libdevice.
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@triton.jit
def _tile(pid, TILES_X, TILES_PER_IMG, TH: tl.constexpr, TW: tl.constexpr,
          POOL_ORDER: tl.constexpr, PAR: tl.constexpr = False):
    """Program -> (image, tile row, tile column, pixel rows, pixel columns, parity class).

    With ``PAR`` the tiles cover the half-resolution grid four times, once per output parity
    class p: pixel (i, j) of the tile is output (2 i + p // 2, 2 j + p % 2).
    """
    m = tl.arange(0, TH * TW)
    if PAR:
        n = pid // (4 * TILES_PER_IMG)
        r = pid - n * (4 * TILES_PER_IMG)
        par = r // TILES_PER_IMG
        t = r - par * TILES_PER_IMG
        ty = t // TILES_X
        tx = t - ty * TILES_X
        y = 2 * (ty * TH + m // TW) + par // 2
        x = 2 * (tx * TW + m % TW) + par % 2
        return n, ty, tx, y, x, par
    n = pid // TILES_PER_IMG
    t = pid - n * TILES_PER_IMG
    ty = t // TILES_X
    tx = t - ty * TILES_X
    par = 0
    if POOL_ORDER > 0:
        if POOL_ORDER == 2:   # position-major
            q = m // (TH * TW // 4)
            win = m - q * (TH * TW // 4)
        else:                 # window-major
            q = m % 4
            win = m // 4
        y = ty * TH + (win // (TW // 2)) * 2 + q // 2
        x = tx * TW + (win % (TW // 2)) * 2 + q % 2
    else:
        y = ty * TH + m // TW
        x = tx * TW + m % TW
    return n, ty, tx, y, x, par


@triton.jit
def _requant(acc, RSHIFT: tl.constexpr, LO: tl.constexpr, HI: tl.constexpr):
    """clamp(round_half_even(acc * 2**-RSHIFT), LO, HI) on int32.

    Half to even as one biased shift: adding ``half - 1`` plus the quotient's low bit rounds
    a tie up exactly when the quotient is odd (5 integer operations instead of 9; the plan
    keeps ``|acc| + half`` inside int32, ``plan.safe_bias``).
    """
    if RSHIFT > 0:
        q = (acc + ((1 << (RSHIFT - 1)) - 1) + ((acc >> RSHIFT) & 1)) >> RSHIFT
    elif RSHIFT < 0:
        q = tl.minimum(tl.maximum(acc, LO - 1), HI + 1) << (-RSHIFT)
    else:
        q = acc
    return tl.minimum(tl.maximum(q, LO), HI)


@triton.jit
def _round_half_even(v, RINT: tl.constexpr):
    """Round half to even (exact integers for |v| < 2**22)."""
    if RINT:
        r = libdevice.rint(v)
    else:
        r = tl.floor(v)
        f = v - r
        odd = (r - 2.0 * tl.floor(r * 0.5)) == 1.0
        r = tl.where((f > 0.5) | ((f == 0.5) & odd), r + 1.0, r)
    return r


@triton.jit
def _quant_value(v, scale, QLO: tl.constexpr, QHI: tl.constexpr, RINT: tl.constexpr):
    """The input quantiser on fp32: clamp(round_half_even(v * scale), QLO, QHI)."""
    # clamp first: keeps the rounding inside fp32's exact-integer range
    v = tl.minimum(tl.maximum(v * scale, QLO - 1.0), QHI + 1.0)
    return tl.minimum(tl.maximum(_round_half_even(v, RINT), QLO), QHI)


@triton.jit
def quantize_kernel(x_ptr, q_ptr, H, W, BLOCKS_PER_IMG, scale, CIN: tl.constexpr,
                    CP: tl.constexpr, QLO: tl.constexpr, QHI: tl.constexpr,
                    BLOCK: tl.constexpr, RINT: tl.constexpr, WIN: tl.constexpr = False):
    """q[n, y+1, x+1, c] = clamp(round_half_even(x[n, c, y, x] * scale)), zero for c >= CIN.

    With ``WIN`` byte ``k = p * CIN + c`` (k < 3 CIN) is channel c of pixel x + p - 1 instead
    (zero outside the image): each pixel stores its quantised 3-pixel row window.
    """
    pid = tl.program_id(0)
    n = pid // BLOCKS_PER_IMG
    p = (pid - n * BLOCKS_PER_IMG) * BLOCK + tl.arange(0, BLOCK)
    valid = p < H * W
    y = p // W
    x = p - y * W
    k = tl.arange(0, CP)
    if WIN:
        dx = k // CIN - 1
        c = k - (k // CIN) * CIN
        xx = x[:, None] + dx[None, :]
        ok = valid[:, None] & (k < 3 * CIN)[None, :] & (xx >= 0) & (xx < W)
        v = tl.load(x_ptr + (n * CIN + c[None, :]) * (H * W) + (p[:, None] + dx[None, :]),
                    mask=ok, other=0.0)
    else:
        c = k
        v = tl.load(x_ptr + (n * CIN + c[None, :]) * (H * W) + p[:, None],
                    mask=valid[:, None] & (c < CIN)[None, :], other=0.0)
    q = _quant_value(v, scale, QLO, QHI, RINT)
    dst = ((n * (H + 2) + y + 1) * (W + 2) + x + 1) * CP
    tl.store(q_ptr + dst[:, None] + k[None, :], q.to(tl.int32).to(tl.int8), mask=valid[:, None])


@triton.jit
def _load_channels(src, base, cc, valid, C: tl.constexpr, BK: tl.constexpr, VEC: tl.constexpr):
    """Channels ``cc`` at byte offsets ``base`` (one pixel per row of the tile), 0 where the
    row is outside the image or the channel past ``C``."""
    base = tl.multiple_of(base, min(C, VEC))  # true alignment: C bytes
    if C % BK == 0:
        return tl.load(src + base[:, None] + cc[None, :], mask=valid[:, None], other=0)
    return tl.load(src + base[:, None] + cc[None, :], mask=valid[:, None] & (cc < C)[None, :],
                   other=0)


@triton.jit
def _acc_source(acc, src, w_ptr, ROW0: tl.constexpr, KTOT: tl.constexpr, n, y, x, H, W, valid,
                C: tl.constexpr, UP: tl.constexpr, RUNPX: tl.constexpr, BK: tl.constexpr,
                COUT: tl.constexpr, NS: tl.constexpr, VEC: tl.constexpr, KW: tl.constexpr = 3):
    """acc += im2col(src) @ w[ROW0:ROW0 + rows] in the packing order of plan.pack_source.

    ``KW`` is the window side: 3 for one output pixel at (y, x); 4 for a quad program, which
    passes (y, x) = (2 Yq, 2 Xq) and reads the 4 x 4 window from (2 Yq - 1, 2 Xq - 1)
    (plan.pack_quad).

    The weights are stored transposed (``[COUT, KTOT]``, K contiguous): the K-major layout
    that the int8 wgmma wants for its B operand in shared memory. ``VEC`` caps the width of
    the activation copies: 16-byte cp.async bypass L1 (``.cg``), 8-byte ones are cached in
    L1 (``.ca``), where the other taps of the tile find them again.
    """
    cols = tl.arange(0, COUT)
    kk = tl.arange(0, BK)
    if RUNPX > 0:
        # kernel row d: RUNPX pixels from x-1 of row y+d-1 are BK contiguous bytes.
        # Each row of the slice is only C-byte aligned; Triton's alignment analysis credits
        # pairs of tile pixels with 2C and would emit misaligned 16-byte copies for C = 8,
        # so state the true alignment.
        start = tl.multiple_of(((n * (H + 2) + y + 1) * (W + 2) + x) * C, min(C, VEC))
        for d in tl.range(0, KW, num_stages=NS):
            a = tl.load(src + (start + (d - 1) * ((W + 2) * C))[:, None] + kk[None, :],
                        mask=valid[:, None], other=0)
            wt = tl.load(w_ptr + (ROW0 + d * BK + kk)[:, None] + cols[None, :] * KTOT)
            acc = tl.dot(a, wt, acc, out_dtype=tl.int32)
    else:
        NCH: tl.constexpr = (C + BK - 1) // BK
        center = ((n * (H + 2) + y + 1) * (W + 2) + x + 1) * C
        for i in tl.range(0, KW * KW * NCH, num_stages=NS):
            t = i // NCH
            dy = t // KW - 1
            dx = t - (t // KW) * KW - 1
            cc = (i - t * NCH) * BK + kk
            if UP:
                base = ((n * (H // 2 + 2) + ((y + dy) >> 1) + 1) * (W // 2 + 2)
                        + ((x + dx) >> 1) + 1) * C
            else:
                base = center + (dy * (W + 2) + dx) * C
            a = _load_channels(src, base, cc, valid, C, BK, VEC)
            wt = tl.load(w_ptr + (ROW0 + i * BK + kk)[:, None] + cols[None, :] * KTOT)
            acc = tl.dot(a, wt, acc, out_dtype=tl.int32)
    return acc


@triton.jit
def _acc_window(acc, src, w_ptr, KTOT: tl.constexpr, n, y, x, H, W, valid, WB: tl.constexpr,
                COUT: tl.constexpr):
    """acc += the windowed input's 4 x WB slice (plan.pack_window), one dot.

    Row block r reads the stored window of pixel (y + r - 1, x) (r = 3 re-reads r = 0, whose
    weights are zero there): 8-byte loads, no masks beyond the tile's own.
    """
    k = tl.arange(0, 4 * WB)
    step = ((k // WB) % 3 - 1) * ((W + 2) * WB) + (k - (k // WB) * WB)
    base = ((n * (H + 2) + y + 1) * (W + 2) + x + 1) * WB
    a = tl.load(src + base[:, None] + step[None, :], mask=valid[:, None], other=0)
    cols = tl.arange(0, COUT)
    wt = tl.load(w_ptr + k[:, None] + cols[None, :] * KTOT)
    return tl.dot(a, wt, acc, out_dtype=tl.int32)


@triton.jit
def _lowres_tile(src, n, yq, xq, ry, rx, cc, H, W, valid, C: tl.constexpr, BK: tl.constexpr,
                 VEC: tl.constexpr):
    """Channels ``cc`` of low-resolution pixel (yq + ry, xq + rx) (image coordinates) of a
    bordered source, for each row of the tile."""
    base = ((n * (H // 2 + 2) + yq + ry + 1) * (W // 2 + 2) + xq + rx + 1) * C
    return _load_channels(src, base, cc, valid, C, BK, VEC)


@triton.jit
def _acc_parity(acc, acch, src, wu_ptr, n, yl, xl, H, W, valid, par, C: tl.constexpr,
                BK: tl.constexpr, COUT: tl.constexpr, PLANES: tl.constexpr, NS: tl.constexpr,
                VEC: tl.constexpr, KW: tl.constexpr = 2):
    """acc (+ acch) += a low-resolution source with summed weights: the parity source
    (plan.pack_parity, KW = 2: taps (yl + ry, xl + rx) in bordered coordinates, yl = y // 2 +
    y % 2) or a quad program's upsampled source (plan.pack_quad, KW = 3, yl = Yq).

    ``wu_ptr`` holds ``[4 or 1, PLANES, COUT, KU]`` (K contiguous); plane 1 (``hi``, weight
    128 * hi) goes to the second accumulator.
    """
    cols = tl.arange(0, COUT)
    kk = tl.arange(0, BK)
    NCH: tl.constexpr = (C + BK - 1) // BK
    KU: tl.constexpr = KW * KW * NCH * BK
    w0 = wu_ptr + (par * PLANES) * COUT * KU
    for i in tl.range(0, KW * KW * NCH, num_stages=NS):
        r = i // NCH
        ry = r // KW
        rx = r - ry * KW
        # parity: low-resolution pixel (y//2 + py - 1 + ry, x//2 + px - 1 + rx)
        a = _lowres_tile(src, n, yl - 1, xl - 1, ry, rx, (i - r * NCH) * BK + kk, H, W, valid,
                         C, BK, VEC)
        wl = tl.load(w0 + (i * BK + kk)[:, None] + cols[None, :] * KU)
        acc = tl.dot(a, wl, acc, out_dtype=tl.int32)
        if PLANES > 1:
            wh = tl.load(w0 + COUT * KU + (i * BK + kk)[:, None] + cols[None, :] * KU)
            acch = tl.dot(a, wh, acch, out_dtype=tl.int32)
    return acc, acch


@triton.jit
def _acc_quad_split(acc, src, w_ptr, KTOT: tl.constexpr, n, yq, xq, H, W, valid,
                    C: tl.constexpr, BK: tl.constexpr, N: tl.constexpr, NS: tl.constexpr,
                    VEC: tl.constexpr):
    """acc += a quad program's upsampled source with unsummed weights (plan.pack_quad_split):
    each low-resolution tap is gathered once and multiplied by its 1 (corner), 2 (edge) or 4
    (centre) weight blocks, all into the one accumulator (no second weight plane)."""
    cols = tl.arange(0, N)
    kk = tl.arange(0, BK)
    NCH: tl.constexpr = (C + BK - 1) // BK
    for i in tl.range(0, 4 * NCH, num_stages=NS):          # corners (+-1, +-1)
        t = i // NCH
        a = _lowres_tile(src, n, yq, xq, (t // 2) * 2 - 1, (t % 2) * 2 - 1,
                         (i - t * NCH) * BK + kk, H, W, valid, C, BK, VEC)
        wt = tl.load(w_ptr + (i * BK + kk)[:, None] + cols[None, :] * KTOT)
        acc = tl.dot(a, wt, acc, out_dtype=tl.int32)
    E0: tl.constexpr = 4 * NCH * BK
    for i in tl.range(0, 4 * NCH, num_stages=NS):          # edges (-1, 0), (1, 0), (0, -1), (0, 1)
        t = i // NCH
        ry = tl.where(t < 2, 2 * t - 1, 0)
        rx = tl.where(t < 2, 0, 2 * t - 5)
        a = _lowres_tile(src, n, yq, xq, ry, rx, (i - t * NCH) * BK + kk, H, W, valid, C, BK,
                         VEC)
        w0 = tl.load(w_ptr + (E0 + 2 * i * BK + kk)[:, None] + cols[None, :] * KTOT)
        w1 = tl.load(w_ptr + (E0 + (2 * i + 1) * BK + kk)[:, None] + cols[None, :] * KTOT)
        acc = tl.dot(a, w0, acc, out_dtype=tl.int32)
        acc = tl.dot(a, w1, acc, out_dtype=tl.int32)
    C0: tl.constexpr = E0 + 8 * NCH * BK
    for j in tl.range(0, NCH, num_stages=NS):              # the centre
        a = _lowres_tile(src, n, yq, xq, 0, 0, j * BK + kk, H, W, valid, C, BK, VEC)
        for b in tl.static_range(4):
            wb = tl.load(w_ptr + (C0 + (4 * j + b) * BK + kk)[:, None] + cols[None, :] * KTOT)
            acc = tl.dot(a, wb, acc, out_dtype=tl.int32)
    return acc


@triton.jit
def _acc_im2col(acc, x_ptr, w_ptr, KTOT: tl.constexpr, n, y, x, H, W, valid, qscale,
                CIN: tl.constexpr, K: tl.constexpr, COUT: tl.constexpr, QLO: tl.constexpr,
                QHI: tl.constexpr, RINT: tl.constexpr):
    """acc += the quantised 3x3 x CIN window of the float input (plan.pack_im2col), one dot.

    Column k = t * CIN + c reads channel c at tap t of the NCHW float input; outside the
    image (and past 9 * CIN) it is 0, the zero border of the quantised input.
    """
    k = tl.arange(0, K)
    t = k // CIN
    c = k - t * CIN
    dy = t // 3 - 1
    dx = t - (t // 3) * 3 - 1
    yy = y[:, None] + dy[None, :]
    xx = x[:, None] + dx[None, :]
    ok = valid[:, None] & (k < 9 * CIN)[None, :] & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
    v = tl.load(x_ptr + ((n * CIN + c[None, :]) * H + yy) * W + xx, mask=ok, other=0.0)
    q = _quant_value(v, qscale, QLO, QHI, RINT).to(tl.int32).to(tl.int8)
    cols = tl.arange(0, COUT)
    wt = tl.load(w_ptr + k[:, None] + cols[None, :] * KTOT)
    return tl.dot(q, wt, acc, out_dtype=tl.int32)


@triton.jit
def _quad_epilogue(acc4, bias_ptr, out_ptr, hw_ptr, hb_ptr, head_ptr, n, yh, xh, H, W, validq,
                   COUT: tl.constexpr, RSHIFT: tl.constexpr, LO: tl.constexpr,
                   HI: tl.constexpr, OUT_XOR: tl.constexpr, WRITE_OUT: tl.constexpr,
                   HEAD: tl.constexpr, NCLS: tl.constexpr, NCLS_P: tl.constexpr,
                   H_RSHIFT: tl.constexpr, H_LO: tl.constexpr, H_HI: tl.constexpr,
                   H_XOR: tl.constexpr):
    """A quad program's bias, requantisation and stores in the accumulator's own layout
    (column s * COUT + c: sub-pixel s, channel c); the head is one dot with block-diagonal
    weights (``plan.HeadStage.quad``): no reshape of the tile to pixel rows."""
    c4 = tl.arange(0, 4 * COUT)
    ch = c4 % COUT
    sub = c4 // COUT
    yq = _requant(acc4 + tl.load(bias_ptr + ch)[None, :], RSHIFT, LO, HI)
    if WRITE_OUT:
        yy = 2 * yh[:, None] + (sub // 2)[None, :]
        xx = 2 * xh[:, None] + (sub % 2)[None, :]
        tl.store(out_ptr + ((n * (H + 2) + yy + 1) * (W + 2) + xx + 1) * COUT + ch[None, :],
                 (yq - OUT_XOR).to(tl.int8), mask=validq[:, None])
    if HEAD:
        j = tl.arange(0, 4 * NCLS_P)
        cls = j % NCLS_P
        sj = j // NCLS_P
        hw = tl.load(hw_ptr + c4[:, None] + j[None, :] * (4 * COUT))   # [4 COUT, 4 NCLS_P]
        hacc = tl.dot((yq - H_XOR).to(tl.int8), hw, out_dtype=tl.int32)
        hq = _requant(hacc + tl.load(hb_ptr + cls)[None, :], H_RSHIFT, H_LO, H_HI)
        yy = 2 * yh[:, None] + (sj // 2)[None, :]
        xx = 2 * xh[:, None] + (sj % 2)[None, :]
        tl.store(head_ptr + ((n * NCLS + cls[None, :]) * H + yy) * W + xx, hq.to(tl.int8),
                 mask=validq[:, None] & (cls < NCLS)[None, :])


@triton.jit
def conv3x3_kernel(a_ptr, b_ptr, w_ptr, bias_ptr, out_ptr, pool_ptr, hw_ptr, hb_ptr, head_ptr,
                   wu_ptr, qscale, H, W, TILES_X, TILES_PER_IMG,
                   CA: tl.constexpr, A_UP: tl.constexpr, A_RUNPX: tl.constexpr,
                   A_BK: tl.constexpr, CB: tl.constexpr, B_RUNPX: tl.constexpr,
                   B_BK: tl.constexpr, B_ROW0: tl.constexpr, KTOT: tl.constexpr,
                   COUT: tl.constexpr, RSHIFT: tl.constexpr, LO: tl.constexpr,
                   HI: tl.constexpr, OUT_XOR: tl.constexpr,
                   WRITE_OUT: tl.constexpr, WRITE_POOL: tl.constexpr, HEAD: tl.constexpr,
                   NCLS: tl.constexpr, NCLS_P: tl.constexpr, H_SPREAD: tl.constexpr,
                   H_RSHIFT: tl.constexpr, H_LO: tl.constexpr, H_HI: tl.constexpr,
                   H_XOR: tl.constexpr, TH: tl.constexpr, TW: tl.constexpr,
                   NS: tl.constexpr, VEC: tl.constexpr = 16, PAR: tl.constexpr = False,
                   PLANES: tl.constexpr = 1, IM2COL: tl.constexpr = False,
                   QLO: tl.constexpr = -128, QHI: tl.constexpr = 127,
                   RINT: tl.constexpr = True, GDC: tl.constexpr = False,
                   QUAD: tl.constexpr = False, WIN: tl.constexpr = 0,
                   SPLIT: tl.constexpr = False, QMAJOR: tl.constexpr = False):
    if GDC:
        # everything this kernel reads or overwrites was produced or read by its predecessors
        tl.extra.cuda.gdc_wait()
    pid = tl.program_id(0)
    if QUAD:
        # a program computes TH x TW quads (2 x 2 output pixels) of the half-resolution grid:
        # the accumulator's columns are (subpixel s = 2 i + j, channel), N = 4 * COUT
        n, ty, tx, yh, xh, par = _tile(pid, TILES_X, TILES_PER_IMG, TH, TW, False)
        validq = (yh < H // 2) & (xh < W // 2)
        acc4 = tl.zeros([TH * TW, 4 * COUT], dtype=tl.int32)
        if SPLIT:
            # gen5: each low-resolution tap once, times its unsummed weight blocks (one plane)
            acc4 = _acc_quad_split(acc4, a_ptr, w_ptr, KTOT, n, yh, xh, H, W, validq, CA, A_BK,
                                   4 * COUT, NS, VEC)
        else:
            acch = tl.zeros([TH * TW, 4 * COUT], dtype=tl.int32)
            acc4, acch = _acc_parity(acc4, acch, a_ptr, wu_ptr, n, yh, xh, H, W, validq, 0, CA,
                                     A_BK, 4 * COUT, PLANES, NS, VEC, 3)
        if CB > 0:
            acc4 = _acc_source(acc4, b_ptr, w_ptr, B_ROW0, KTOT, n, 2 * yh, 2 * xh, H, W, validq,
                               CB, False, B_RUNPX, B_BK, 4 * COUT, NS, VEC, 4)
        if not SPLIT and PLANES > 1:
            acc4 = acc4 + (acch << 7)
        if GDC:
            tl.extra.cuda.gdc_launch_dependents()
        _quad_epilogue(acc4, bias_ptr, out_ptr, hw_ptr, hb_ptr, head_ptr, n, yh, xh, H, W,
                       validq, COUT, RSHIFT, LO, HI, OUT_XOR, WRITE_OUT, HEAD, NCLS, NCLS_P,
                       H_RSHIFT, H_LO, H_HI, H_XOR)
    else:
        n, ty, tx, y, x, par = _tile(pid, TILES_X, TILES_PER_IMG, TH, TW,
                                     (2 if QMAJOR else 1) if WRITE_POOL else 0, PAR)
        valid = (y < H) & (x < W)
        acc = tl.zeros([TH * TW, COUT], dtype=tl.int32)
        if PAR:
            acch = tl.zeros([TH * TW, COUT], dtype=tl.int32)
            acc, acch = _acc_parity(acc, acch, a_ptr, wu_ptr, n, (y >> 1) + par // 2,
                                    (x >> 1) + par % 2, H, W, valid, par, CA, A_BK, COUT, PLANES,
                                    NS, VEC)
        elif IM2COL:
            acc = _acc_im2col(acc, a_ptr, w_ptr, KTOT, n, y, x, H, W, valid, qscale, CA, A_BK,
                              COUT, QLO, QHI, RINT)
        elif WIN > 0:
            acc = _acc_window(acc, a_ptr, w_ptr, KTOT, n, y, x, H, W, valid, WIN, COUT)
        else:
            acc = _acc_source(acc, a_ptr, w_ptr, 0, KTOT, n, y, x, H, W, valid, CA, A_UP,
                              A_RUNPX, A_BK, COUT, NS, VEC)
        if CB > 0:
            acc = _acc_source(acc, b_ptr, w_ptr, B_ROW0, KTOT, n, y, x, H, W, valid, CB, False,
                              B_RUNPX, B_BK, COUT, NS, VEC)
        if PAR:
            if PLANES > 1:
                acc = acc + (acch << 7)
        if GDC:
            # after the main loop: dependents launched earlier would hold SM slots idle
            tl.extra.cuda.gdc_launch_dependents()
        cols = tl.arange(0, COUT)
        acc = acc + tl.load(bias_ptr + cols)[None, :]
        yq = _requant(acc, RSHIFT, LO, HI)
        if WRITE_OUT:
            if WRITE_POOL and QMAJOR:
                # position-major -> raster order (neighbouring rows store neighbouring pixels):
                # row (2 qy + qx) * TH * TW / 4 + wy * TW / 2 + wx is pixel (2 wy + qy, 2 wx + qx)
                yo = tl.reshape(tl.permute(tl.reshape(yq, [2, 2, TH // 2, TW // 2, COUT]),
                                           (2, 0, 3, 1, 4)), [TH * TW, COUT])
                r = tl.arange(0, TH * TW)
                ys = ty * TH + r // TW
                xs = tx * TW + r % TW
                vs = (ys < H) & (xs < W)
            else:
                yo, ys, xs, vs = yq, y, x, valid
            obase = ((n * (H + 2) + ys + 1) * (W + 2) + xs + 1) * COUT
            tl.store(out_ptr + obase[:, None] + cols[None, :], (yo - OUT_XOR).to(tl.int8),
                     mask=vs[:, None])
        if WRITE_POOL:
            if QMAJOR:
                pooled = tl.max(tl.reshape(yq, [4, TH * TW // 4, COUT]), axis=0)
            else:
                pooled = tl.max(tl.reshape(yq, [TH * TW // 4, 4, COUT]), axis=1)
            pm = tl.arange(0, TH * TW // 4)
            py = ty * (TH // 2) + pm // (TW // 2)
            px = tx * (TW // 2) + pm % (TW // 2)
            pv = (py < H // 2) & (px < W // 2)
            pbase = ((n * (H // 2 + 2) + py + 1) * (W // 2 + 2) + px + 1) * COUT
            tl.store(pool_ptr + pbase[:, None] + cols[None, :], (pooled - OUT_XOR).to(tl.int8),
                     mask=pv[:, None])
        if HEAD:
            h8 = (yq - H_XOR).to(tl.int8)
            if H_SPREAD >= 2:
                h8 = tl.reshape(tl.join(h8, tl.zeros_like(h8)), [TH * TW, COUT * 2])
            if H_SPREAD >= 4:
                h8 = tl.reshape(tl.join(h8, tl.zeros_like(h8)), [TH * TW, COUT * 4])
            kh = tl.arange(0, COUT * H_SPREAD)
            jc = tl.arange(0, NCLS_P)
            hw = tl.load(hw_ptr + kh[:, None] + jc[None, :] * (COUT * H_SPREAD))  # [NCLS_P, KH]
            hacc = tl.dot(h8, hw, out_dtype=tl.int32) + tl.load(hb_ptr + jc)[None, :]
            hq = _requant(hacc, H_RSHIFT, H_LO, H_HI)
            optr = head_ptr + ((n * NCLS + jc[None, :]) * H + y[:, None]) * W + x[:, None]
            tl.store(optr, hq.to(tl.int8), mask=valid[:, None] & (jc < NCLS)[None, :])

"""Operands of the halo conv (``halo_conv.cu``, designs "gen6" / "gen7") and a numpy model.

The CUDA kernel multiplies with ``mma.sync`` (m16n8k32 / m16n8k16, s8 x s8 -> s32), whose
operands live in registers spread over the warp's 32 lanes in a fixed layout (PTX ISA,
"Matrix Fragments for mma.m16n8k32" / "mma.m16n8k16", integer types:
docs.nvidia.com/cuda/parallel-thread-execution). Lane ``l`` has group ``g = l // 4`` and
thread-in-group ``t = l % 4``:

* B (K x 8, "col"): byte ``i`` of register ``r`` holds ``B[16 r + 4 t + i, g]``;
* C/D (16 x 8 int32): element ``e`` holds ``D[g + 8 (e // 2), 2 t + e % 2]``;
* A (16 x K, "row"): byte ``i`` of register ``r`` holds ``A[g + 8 (r % 2), 16 (r // 2) + 4 t + i]``.

This module packs the plan's weights into B fragments once (the kernel then reads one 8-byte
word per lane per n-tile), packs the head so that the conv's accumulator layout is the head's A
operand as it stands, and models the kernel's tiles, halo addresses and K steps in numpy, so the
CPU tests check everything but the instructions themselves. gen7's first conv (the stem) has
its own model: the fp32 halo quantised as the kernel does, and its A bytes at the lane
addresses ``stem_step`` computes (:func:`model_stem`).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np

from tinyicenet.kernels.plan import STEM_CHANNELS, ConvStage, HeadStage, QuantStage, apply_requant

#: the kernel's source (package data)
SOURCE = "halo_conv.cu"
#: program tile of a halo conv (TH x TW output pixels, warps) where the runner's HALO_TILES
#: name none, and the tile of the traffic count (kernels/traffic.py)
TILE = (8, 32, 4)


def source() -> str:
    """The CUDA C++ source of the halo conv."""
    return resources.files("tinyicenet.kernels").joinpath(SOURCE).read_text()


def sections() -> tuple[str, str]:
    """The source's helper section and one stage's device code (split at its ``//@stage`` and
    ``//@kernel`` markers): what the fused kernel and gen8 compose from."""
    common, rest = source().split("//@stage\n")
    return common, rest.split("//@kernel\n")[0]


def ksteps(channels: int, up: bool) -> list[tuple[tuple[int, int], ...]]:
    """The K steps of a ``channels``-wide source (16, or a multiple of 32: the plan's padded
    widths), in kernel order: each one or two 16-channel slices (tap, first channel), for
    K = 16 or K = 32 (rows 0..15, then 16..31).

    A K = 32 step's second slice is the first one moved by a fixed step per source, so that
    each lane's ldmatrix address is one register plus a constant: the next 16 channels of the
    tap, or for a 16-channel same-resolution source the tap one row down (taps (0, dx) and
    (1, dx) per step, then the (2, dx) taps alone). A 16-channel upsampled source (rows
    shared by output pixel pairs) takes one K = 16 step per tap.
    """
    if channels == 16:
        if up:
            return [((t, 0),) for t in range(9)]
        return [((dx, 0), (3 + dx, 0)) for dx in range(3)] + [((6 + dx, 0),) for dx in range(3)]
    if channels % 32:
        raise ValueError(f"a halo conv source has 16 or a multiple of 32 channels, not {channels}")
    return [((t, c), (t, c + 16)) for t in range(9) for c in range(0, channels, 32)]


def sources(stage: ConvStage) -> tuple[Any, Any]:
    """(upsampled source or None, same-resolution source or None) of a halo stage."""
    up = next((s for s in stage.sources if s.up), None)
    same = next((s for s in stage.sources if not s.up), None)
    return up, same


def round128(n: int) -> int:
    """``n`` rounded up to 128 bytes (shared-memory buffers start at 128-byte offsets)."""
    return -(-n // 128) * 128


def smem_bytes(stage: ConvStage, th: int, tw: int) -> int:
    """Dynamic shared memory of one program of ``stage``: the weights and two halo buffers
    (the kernel's W_BYTES and HALO_BYTES), and for the stem its quantised halo (Q_BYTES)."""
    if is_stem(stage):   # fp32 planes of the 2 input channels; one 2-byte pair per pixel
        pixels = (th + 2) * (tw + 2)
        return (round128(32 * stage.cout_p) + 2 * round128(pixels * 2 * 4)
                + round128(pixels * 2))
    up, sk = sources(stage)
    cup, csk = (0 if s is None else s.channels for s in (up, sk))
    halo = (th // 2 + 2) * (tw // 2 + 2) * cup + (th + 2) * (tw + 2) * csk
    return round128(9 * (cup + csk) * stage.cout_p) + 2 * round128(halo)


def is_stem(stage: ConvStage) -> bool:
    """True for gen7's CUDA C++ first conv (its source is the float input, mode "stem")."""
    return stage.sources[0].mode == "stem"


def store_channels(cout: int, wide: bool) -> np.ndarray:
    """The output channel of each accumulator column ``8 j + n`` (n-tile j, C column n).

    Narrow (gen6 / gen7 as first built): column ``8 j + n`` is channel ``8 j + n``, so lane t
    holds channels 2t, 2t + 1 of each n-tile and stores 2 bytes at a time. Wide: within each
    pair of n-tiles (2p, 2p + 1), columns 2t, 2t + 1 of n-tile 2p are channels 16p + 4t,
    16p + 4t + 1 and those of n-tile 2p + 1 are 16p + 4t + 2, 16p + 4t + 3, so lane t holds four
    adjacent channels of a pixel and stores them as one 4-byte word (the kernel's WIDE)."""
    col = np.arange(cout)
    if not wide:
        return col
    j, n = col // 8, col % 8
    return 16 * (j // 2) + 4 * (n // 2) + 2 * (j % 2) + n % 2


def epilogue(cout: int, wide: bool) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's epilogue as ``halo_conv.cu`` writes it, transcribed on its own (not from
    :func:`store_channels`, which packs the weights, so the model tests compare the two):
    (the bias channel each accumulator column ``8 j + 2 t + e`` adds, as ``bias_r`` reads it;
    the accumulator column ``store_pixel`` writes at each channel)."""
    bias = np.empty(cout, dtype=np.int64)
    stored = np.arange(cout)                  # narrow: 2 bytes of n-tile j at channel 8 j + 2 t
    for j in range(cout // 8):
        for t in range(4):
            c = (j >> 1) * 16 + 4 * t + 2 * (j & 1) if wide else j * 8 + 2 * t
            bias[8 * j + 2 * t:][:2] = (c, c + 1)
    if wide:   # the word at channel 16 q + 4 t: columns 2t, 2t + 1 of n-tiles 2q, then 2q + 1
        for q in range(cout // 16):
            for t in range(4):
                stored[16 * q + 4 * t:][:4] = [16 * q + 2 * t, 16 * q + 2 * t + 1,
                                               16 * q + 8 + 2 * t, 16 * q + 9 + 2 * t]
    return bias, stored


def _lane_bytes(block: np.ndarray, regs: int) -> np.ndarray:
    """``[n_tiles, 32 lanes, regs * 4]`` B-fragment bytes of a ``[K, N]`` block."""
    k, n = block.shape
    lane = np.arange(32)
    g, t = lane // 4, lane % 4
    r = np.arange(regs)[:, None]
    i = np.arange(4)[None, :]
    rows = (16 * r + 4 * t[:, None, None] + i).reshape(32, -1)          # [lane, regs * 4]
    out = np.empty((n // 8, 32, regs * 4), dtype=np.int64)
    for j in range(n // 8):
        out[j] = block[rows, (8 * j + g)[:, None]]
    return out


def pack_conv(stage: ConvStage, wide: bool = False) -> np.ndarray:
    """The stage's weights in the kernel's K-step order as B fragments (int8, flat), their
    columns in the accumulator order of :func:`store_channels`.

    The stage's sources are "halo" sources (tap order, all channels of a tap in one run of
    rows: ``plan.pack_source`` with ``bk = channels``); the kernel walks the upsampled source
    first (a decoder's first), then K steps.
    """
    w = stage.weight.astype(np.int64)[:, store_channels(stage.cout_p, wide)]
    if is_stem(stage):   # one im2col K = 32 step (plan.pack_im2col rows)
        if stage.sources[0].channels != STEM_CHANNELS or w.shape[0] != 32:
            raise ValueError(f"{stage.name}: the stem takes {STEM_CHANNELS} channels in one "
                             f"K = 32 step, not {w.shape[0]} rows")
        return _lane_bytes(w, 2).ravel().astype(np.int8)
    parts, row0 = [], 0
    ups = [s.up for s in stage.sources]
    if any(s.mode != "halo" for s in stage.sources) or ups not in ([True], [False], [True, False]):
        raise ValueError(f"{stage.name}: not a halo stage (halo sources, an upsampled one first)")
    for src in stage.sources:
        for step in ksteps(src.channels, src.up):
            rows = np.concatenate([w[row0 + t * src.channels + c:][:16] for t, c in step])
            parts.append(_lane_bytes(rows, len(step)).ravel())
        row0 += 9 * src.channels
    if row0 != w.shape[0]:
        raise ValueError(f"{stage.name}: {w.shape[0]} weight rows, the halo sources use {row0}")
    return np.concatenate(parts).astype(np.int8)


def head_channels(cout_p: int, wide: bool = False) -> np.ndarray:
    """``[pairs, 4 t, 4 i]``: the conv channel whose value lane t's byte i of the head's A
    fragment holds: columns 2t, 2t + 1 of n-tile 2p, then of n-tile 2p + 1, of the
    accumulator (:func:`store_channels`; narrow: channels 2t, 2t + 1, 8 + 2t, 9 + 2t of the
    pair; wide: 4t .. 4t + 3)."""
    cols = np.array([0, 1, 8, 9])[None, None, :] + 2 * np.arange(4)[None, :, None]
    return store_channels(cout_p, wide)[16 * np.arange(cout_p // 16)[:, None, None] + cols]


def head_weight(head: HeadStage, cout_p: int) -> np.ndarray:
    """``[cout_p, classes_p]`` head weights, one row per conv channel."""
    return head.weight.astype(np.int64)[::head.spread][:cout_p]


def class_tiles(head: HeadStage) -> int:
    return -(-head.classes // 8)


def pack_head(head: HeadStage, cout_p: int, wide: bool = False) -> np.ndarray:
    """Head B fragments ``uint32 [pairs * class_tiles * 32]`` (m16n8k16, rows permuted as
    :func:`head_channels`)."""
    wh = head_weight(head, cout_p)
    ch = head_channels(cout_p, wide)                # [pairs, t, i]
    ct = class_tiles(head)
    lane = np.arange(32)
    g, t = lane // 4, lane % 4
    out = np.empty((ch.shape[0], ct, 32, 4), dtype=np.int64)
    for p in range(ch.shape[0]):
        for c in range(ct):
            out[p, c] = wh[ch[p, t], (8 * c + g)[:, None]]
    return out.astype(np.int8).view(np.uint32).ravel()


# --------------------------------------------------------------------------------------------
# numpy model of one kernel launch (CPU tests)
# --------------------------------------------------------------------------------------------
def _halo(flat: np.ndarray, hp: int, wp: int, c: int, y0: int, x0: int, rows: int,
          cols: int) -> np.ndarray:
    """The kernel's load_halo for one source of one image (``flat`` starts at the image):
    padded rows y0.., columns x0.., zero past the bordered buffer."""
    body = flat[:hp * wp * c].reshape(hp, wp, c)
    out = np.zeros((rows, cols, c), dtype=np.int64)
    ry, rx = min(rows, hp - y0), min(cols, wp - x0)
    out[:ry, :rx] = body[y0:y0 + ry, x0:x0 + rx]
    return out


def _unpack(frag: np.ndarray, kw: int, cout: int) -> np.ndarray:
    """Inverse of :func:`_lane_bytes` read through the B layout: ``[kw, cout]``."""
    f = frag.reshape(cout // 8, 32, kw // 16, 4)
    block = np.zeros((kw, cout), dtype=np.int64)
    for j in range(cout // 8):
        for lane in range(32):
            g, t = divmod(lane, 4)
            for r in range(kw // 16):
                for i in range(4):
                    block[16 * r + 4 * t + i, 8 * j + g] = f[j, lane, r, i]
    return block


def lane_addresses(up: bool, channels: int, tile: tuple[int, int, int],
                   step: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's ldmatrix row addresses of one K step, as ``lane_bases`` plus ``kstep``
    compute them: (tile pixel index ``[P]``, byte address in the source's halo ``[P, halves]``)
    for every pixel row P a warp's m-tiles give (the K = 32 step's second half comes from the
    lane base, not from ``step``: the test that the two agree is the model's)."""
    th, tw, warps = tile
    per = tw // 16
    mt = th * tw // 16 // warps
    c = channels
    uw, sw = tw // 2 + 2, tw + 2
    pair = sw * c if c == 16 else 16
    warp, t, m = np.meshgrid(np.arange(warps), np.arange(mt), np.arange(16), indexing="ij")
    warp, t, m = warp.ravel(), t.ravel(), m.ravel()
    row0 = warp * mt // per
    rt, cb = t // per, (t % per) * 16
    tap, ch = step[0]
    dy, dx = divmod(tap, 3)
    pixel = (row0 + rt) * tw + cb + m
    cols = []
    for h in range(len(step)):
        if up:
            base = ((row0 // 2) * uw + ((m + dx - 1) >> 1) + 1) * c + 16 * h
            off = ((((rt + dy - 1) >> 1) + 1) * uw + cb // 2) * c + ch
        else:
            base = (row0 * sw + m) * c + pair * h
            off = ((rt + dy) * sw + cb + dx) * c + ch
        cols.append(base + off)
    return pixel, np.stack(cols, axis=1)


def model_stage(stage: ConvStage, up_flat: np.ndarray | None, sk_flat: np.ndarray | None,
                n: int, h: int, w: int, tile: tuple[int, int, int] = TILE,
                wide: bool = False) -> np.ndarray:
    """What the kernel computes for stage ``stage`` at level size ``h x w``: the requantised
    conv output ``[n, h, w, cout_p]`` (before any head or pool), from the stored source
    buffers (``up_flat`` of the upsampled source, ``sk_flat`` of the same-resolution one).

    Walks the kernel's tiles, copies each halo as ``load_halo`` does (zero fill past the
    bordered buffer), and accumulates each K step from the bytes at the kernel's ldmatrix
    addresses (:func:`lane_addresses`), with weights read back through the B-fragment layout;
    bias, requantisation and stores in accumulator columns as the kernel's :func:`epilogue`.
    """
    th, tw, _ = tile
    cout = stage.cout_p
    frags = pack_conv(stage, wide).astype(np.int64)
    bias_ch, stored = epilogue(cout, wide)
    up, sk = sources(stage)
    hl, wl = h // 2, w // 2
    out = np.zeros((n, h, w, cout), dtype=np.int64)
    for b in range(n):
        upb = None if up is None else up_flat[b * (hl + 2) * (wl + 2) * up.channels:]
        skb = None if sk is None else sk_flat[b * (h + 2) * (w + 2) * sk.channels:]
        for y0 in range(0, h, th):
            for x0 in range(0, w, tw):
                hu = None if up is None else _halo(upb, hl + 2, wl + 2, up.channels, y0 // 2,
                                                   x0 // 2, th // 2 + 2, tw // 2 + 2)
                hs = None if sk is None else _halo(skb, h + 2, w + 2, sk.channels, y0, x0,
                                                   th + 2, tw + 2)
                acc = np.zeros((th * tw, cout), dtype=np.int64)
                pos = 0
                for src, halo in ((up, hu), (sk, hs)):
                    if src is None:
                        continue
                    flat = halo.ravel()
                    for step in ksteps(src.channels, src.up):
                        pixel, addr = lane_addresses(src.up, src.channels, tile, step)
                        a = flat[addr[:, :, None] + np.arange(16)].reshape(len(pixel), -1)
                        kw = 16 * len(step)
                        size = cout * kw
                        wk = _unpack(frags[pos:pos + size], kw, cout)
                        pos += size
                        acc[pixel] += a @ wk
                acc += stage.bias.astype(np.int64)[bias_ch]
                y = apply_requant(acc, stage.requant)[:, stored].reshape(th, tw, cout)
                yh, xw = min(th, h - y0), min(tw, w - x0)
                out[b, y0:y0 + yh, x0:x0 + xw] = y[:yh, :xw]
    return out


def quantise(quant: QuantStage, x: np.ndarray) -> np.ndarray:
    """The stem's quantiser as the kernel computes it, in fp32: round half to even of
    ``clamp(x * scale, lo, hi)``, NaN -> 0."""
    v = np.clip(np.asarray(x, np.float32) * np.float32(quant.input_scale), quant.lo, quant.hi)
    return np.where(np.isnan(v), 0, np.rint(v)).astype(np.int64)


def stem_addresses(tile: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The stem's A operand as ``stem_step`` loads it: (tile pixel index ``[P]``, byte
    address in the quantised halo ``[P, 32]``, -1 for the zero bytes of a 16-bit load) for
    every pixel row P of every warp's m-tiles. Row m of an m-tile is lane group m % 8,
    register m // 8; lane tq holds K bytes 4 tq .. (taps 2 tq, 2 tq + 1) and 16 + 4 tq ..
    (tap 8, the same for every tq: rows past 17 have zero weights)."""
    th, tw, warps = tile
    per, mt, sw = tw // 16, th * tw // 16 // warps, tw + 2
    warp, t, m = (a.ravel() for a in np.meshgrid(np.arange(warps), np.arange(mt),
                                                  np.arange(16), indexing="ij"))
    row0 = warp * mt // per
    g, r = m % 8, m // 8
    p = ((row0 * sw + g) + (t // per) * sw + (t % per) * 16) * 2 + 16 * r
    pixel = (row0 + t // per) * tw + (t % per) * 16 + m
    addr = np.full((pixel.size, 32), -1, dtype=np.int64)
    o8 = (2 * sw + 2) * 2
    for tq in range(4):
        t0, t1 = 2 * tq, 2 * tq + 1
        o0, o1 = ((t0 // 3) * sw + t0 % 3) * 2, ((t1 // 3) * sw + t1 % 3) * 2
        for i in range(2):
            addr[:, 4 * tq + i] = p + o0 + i
            addr[:, 4 * tq + 2 + i] = p + o1 + i
            addr[:, 16 + 4 * tq + i] = p + o8 + i
    return pixel, addr


def model_stem(stage: ConvStage, quant: QuantStage, x: np.ndarray,
               tile: tuple[int, int, int] = TILE, wide: bool = False) -> np.ndarray:
    """What the stem computes from the float input ``x`` ``[n, 2, h, w]``: the requantised
    first conv ``[n, h, w, cout_p]``. Walks its tiles, copies each fp32 halo (zeros outside
    the image), quantises it (:func:`quantise`) into channel pairs and multiplies the bytes at
    :func:`stem_addresses` with the weights read back through the B-fragment layout."""
    th, tw, _ = tile
    n, c, h, w = x.shape
    cout = stage.cout_p
    wk = _unpack(pack_conv(stage, wide).astype(np.int64), 32, cout)
    bias_ch, stored = epilogue(cout, wide)
    pixel, addr = stem_addresses(tile)
    out = np.zeros((n, h, w, cout), dtype=np.int64)
    pad = np.zeros((n, c, h + th + 2, w + tw + 2), dtype=np.float32)
    pad[:, :, 1:h + 1, 1:w + 1] = x
    for b in range(n):
        for y0 in range(0, h, th):
            for x0 in range(0, w, tw):
                raw = pad[b, :, y0:y0 + th + 2, x0:x0 + tw + 2]       # rows y0 - 1 ..
                q = quantise(quant, raw).transpose(1, 2, 0).ravel()   # pixel pairs
                a = np.where(addr >= 0, np.append(q, 0)[addr], 0)
                acc = np.zeros((th * tw, cout), dtype=np.int64)
                acc[pixel] = a @ wk
                acc += stage.bias.astype(np.int64)[bias_ch]
                y = apply_requant(acc, stage.requant)[:, stored].reshape(th, tw, cout)
                yh, xw = min(th, h - y0), min(tw, w - x0)
                out[b, y0:y0 + yh, x0:x0 + xw] = y[:yh, :xw]
    return out


def model_head(head: HeadStage, y: np.ndarray, wide: bool = False) -> np.ndarray:
    """The kernel's head: int8 logits ``[n, classes, h, w]`` of requantised conv outputs ``y``
    ``[n, h, w, cout_p]``. The A operand is the accumulator as the kernel holds it (columns,
    :func:`epilogue`): byte i of lane t for n-tile pair p is column 16 p + 2 t + (0, 1, 8, 9)[i];
    the B operand is :func:`pack_head` read back through the fragment layout."""
    n, h, w, cout = y.shape
    _, stored = epilogue(cout, wide)
    cols = np.empty((n * h * w, cout), dtype=np.int64)
    cols[:, stored] = y.reshape(-1, cout)
    k = np.arange(cout)                              # K order of the head's MMAs
    a_cols = 16 * (k // 16) + 2 * (k % 16 // 4) + np.array([0, 1, 8, 9])[k % 4]
    frag = pack_head(head, cout, wide).view(np.int8).astype(np.int64)
    ct = class_tiles(head)
    f = frag.reshape(cout // 16, ct, 32 * 4)
    wk = np.zeros((cout, 8 * ct), dtype=np.int64)    # B read back per lane: [K, classes]
    for p in range(cout // 16):
        for c in range(ct):
            wk[16 * p:16 * p + 16, 8 * c:8 * c + 8] = _unpack(f[p, c], 16, 8)
    a = cols[:, a_cols] - head.xor
    acc = a @ wk + np.pad(head.bias.astype(np.int64), (0, max(0, 8 * ct - head.bias.size)))[:8 * ct]
    out = apply_requant(acc, head.requant)[:, :head.classes]
    return out.reshape(n, h, w, head.classes).transpose(0, 3, 1, 2)

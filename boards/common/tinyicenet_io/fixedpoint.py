"""Fixed-point conversion and the AXI-stream word packing (numpy only, numpy<2 compatible).

Semantics (tinyicenet/README.md, "Integer semantics"): a tensor is ``int * 2**exp``; the input
quantizer is ``clamp(round_half_even(x / 2**e_in), -2**(b-1), 2**(b-1) - 1)``. :func:`quantize`
is its one definition: the board driver, the host's integer reference
(``tinyicenet.export.intref``), the GPU kernels' host-side emulation and the QONNX/hls4ml checks
all call it.

Word layout (../io_spec.md): one AXI-stream word per pixel, pixels row-major inside a tile,
value ``c`` of a pixel in lane ``c`` (lane = 8 bits for <= 8-bit values, 16 bits otherwise),
two's complement, little-endian (lane 0 = TDATA[7:0]), unused lanes zero. One DMA transfer
carries one tile; the IP raises TLAST on the tile's last output word.
"""

from __future__ import annotations

import numpy as np

from .errors import FormatError
from .iospec import IOSpec


def _lane_dtype(bits: int) -> np.dtype:
    return np.dtype(np.int8) if bits <= 8 else np.dtype("<i2")


def quantize(x: np.ndarray, exponent: int, bits: int) -> np.ndarray:
    """``x`` (float) -> signed integers of ``bits`` bits with LSB ``2**exponent``.

    Round half to even (``np.rint``) and saturate (+-inf saturate too). Multiplying by a power of
    two is exact in binary floating point, so every caller gets the same codes. NaN (no SAR)
    becomes 0, the value the scene loader writes for missing SAR (the z-scored mean): decided
    here once. Callers that must refuse NaN instead (the integer reference, a verification
    oracle that should not hide a caller who skipped the loader) check before calling.
    Returns int8 for <= 8 bits, else int16 (the lane types of the word layout).
    """
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return codes(x, exponent, lo, hi).astype(_lane_dtype(bits))


def codes(x: np.ndarray, exponent: int, lo: int, hi: int) -> np.ndarray:
    """:func:`quantize`'s rounding for any integer range ``[lo, hi]``, as float64 codes."""
    q = np.rint(np.asarray(x, dtype=np.float64) * (2.0 ** -exponent))
    q[np.isnan(q)] = 0.0
    return np.clip(q, lo, hi, out=q)


def dequantize(q: np.ndarray, exponent: int) -> np.ndarray:
    """Integers -> float32 values ``q * 2**exponent`` (exact for <= 16-bit integers)."""
    return (np.asarray(q, dtype=np.float32) * np.float32(2.0 ** exponent)).astype(np.float32)


def pack_tiles(q: np.ndarray, spec: IOSpec, out: np.ndarray | None = None) -> np.ndarray:
    """Quantized tiles ``[N, C, T, T]`` -> input words as bytes ``[N, T*T, in_word_bytes]``.

    ``out`` may be a (DMA) buffer of that shape and dtype uint8; it is filled in place.
    """
    n, c, h, w = q.shape
    if c != len(spec.channels) or h != spec.tile or w != spec.tile:
        raise FormatError(f"tiles of shape {tuple(q.shape)} do not match the io spec "
                         f"([N, {len(spec.channels)}, {spec.tile}, {spec.tile}])")
    shape = (n, h * w, spec.in_word_bytes)
    if out is None:
        out = np.zeros(shape, dtype=np.uint8)
    elif out.shape != shape or out.dtype != np.uint8:
        raise FormatError(f"input buffer has shape {out.shape} {out.dtype}, need {shape} uint8")
    lanes = np.ascontiguousarray(q.transpose(0, 2, 3, 1), dtype=_lane_dtype(spec.in_bits))
    raw = lanes.view(np.uint8).reshape(n, h * w, -1)
    out[..., : raw.shape[-1]] = raw
    out[..., raw.shape[-1]:] = 0
    return out


def unpack_outputs(words: np.ndarray, spec: IOSpec) -> np.ndarray:
    """Output words ``[N, T*T, out_word_bytes]`` (uint8) -> logits ``[N, K, T, T]`` (integers).

    Checks that every value fits the output bit width: a word-layout mismatch between the IP
    and the io spec shows up here instead of as silently wrong logits.
    """
    n, p, b = words.shape
    if p != spec.pixels or b != spec.out_word_bytes:
        raise FormatError(f"output words of shape {words.shape} do not match the io spec "
                         f"([N, {spec.pixels}, {spec.out_word_bytes}])")
    dtype = _lane_dtype(spec.out_bits)
    used = spec.classes * dtype.itemsize
    raw = np.ascontiguousarray(words[..., :used])
    vals = raw.view(dtype).reshape(n, spec.tile, spec.tile, spec.classes)
    lo, hi = -(2 ** (spec.out_bits - 1)), 2 ** (spec.out_bits - 1) - 1
    if vals.size and (vals.min() < lo or vals.max() > hi):
        raise FormatError(f"accelerator output holds values outside int{spec.out_bits} "
                         f"[{int(vals.min())}, {int(vals.max())}]: the IP's word layout does not "
                         "match the io spec")
    return np.ascontiguousarray(vals.transpose(0, 3, 1, 2))

"""Lowering of the integer TinyIceNet to the GPU kernels' plan (numpy only, runs anywhere).

The kernels compute exactly the integer reference (README 'Integer semantics'). What this
module decides, and why:

* **One kernel per conv, fused.** Conv + bias + requantisation (+ ReLU) + the 2x2 max-pool of
  the same tile (the encoder writes the full-resolution skip and the pooled tensor from one
  kernel); the decoder conv reads its upsampled input at ``(y // 2, x // 2)`` of the low-resolution
  tensor and its skip tensor directly (the upsampled / concatenated tensors never exist); the
  1x1 head is applied to the last decoder conv's tile in registers. A small first kernel
  quantises the float input into the same int8 layout.
* **Activations stay NHWC int8 with a border** (``[N, H + 2, W + 2, C]``): the 3x3 taps then
  need no bounds checks, and for narrow sources (C < 32) a run of neighbouring pixels of one
  row is one contiguous slice ("run" mode: P pixels from x-1, P * C >= 32 bytes, one K slice
  per kernel row; pixels past x+1 get zero weights).
* **u8 x s8 through a signed int8 MMA**: an unsigned 8-bit tensor is *stored* as ``a - 128``
  (the producer flips the top bit; the border holds -128, the stored form of 0), so every
  load feeds the MMA as is, and each consumer's bias absorbs ``128 * sum(w)``.
* **int32 accumulation is exact**: :func:`accumulator_bound` bounds every partial sum; a bias
  so large that the output saturates regardless is replaced by the smallest bias that
  saturates the same way (:func:`safe_bias`), and anything still over int32 is refused.

The designs (``lower(net, design=...)``), all exact; ``bench/gpu_kernels_notes.md`` has the
measurements behind each:

* ``"gen1"``: a quantise kernel, then one kernel per conv as above (the baseline).
* ``"gen2"`` (second generation, fewer gathered bytes and one launch fewer):

  - **parity decoders**: a 3x3 conv on a nearest-2x-upsampled tensor equals, for each output
    parity (y % 2, x % 2), a 2x2 conv on the low-resolution tensor with summed weights
    (:func:`pack_parity`); a program computes one parity class of a tile, so the upsampled
    source costs 4 taps instead of 9. Summed 8-bit weights need up to 10 bits: they are split
    into two int8 planes ``w = 128 * hi + lo`` multiplied with the same gathered operand
    (two accumulators, combined exactly before the bias);
  - **fused input quantiser**: the first conv reads the float input itself, quantises its
    3x3 x C_in window in registers and multiplies one K = 32 slice (im2col of 18 values
    for 2 input channels) instead of three K = 32 run slices of a stored int8 input.

* ``"gen3"``: gen2 with **quad decoders** where the accumulator stays narrow
  (``4 * cout_p <= QUAD_MAX_N``): a program computes 2 x 2 output quads as one GEMM with
  ``N = 4 * cout_p`` columns (:func:`pack_quad`): the upsampled source's 3 x 3 low-resolution
  taps serve all four pixels (9/4 taps per pixel instead of 4), and a run of 4 skip pixels per
  row covers the quad's columns exactly (4 rows per 4 pixels instead of 3 rows per pixel).

* ``"gen4"``: gen3 with a **windowed input** instead of the fused quantiser: the fused first
  conv quantises 32 values per pixel in registers and measured instruction-bound (Nsight
  Compute: 71 % of issue slots busy, 3 % of the MMA rate); here a quantise kernel stores, per
  pixel, the quantised 3-pixel row window (3 x C_in values, padded to a power of two >= 8
  bytes), and the first conv gathers 4 such rows per pixel (the fourth re-reads the first,
  with zero weights) as one K slice of 8-byte loads (:func:`pack_window`). One launch more.

* ``"gen5"``: gen4 with a **one-plane quad decoder** where the summed upsampled weights leave
  int8 (w8): the two planes doubled the MMA of that source and their two accumulators set the
  stage's registers (167 per thread, 3 programs per SM: ``bench/kernel_resources.py``). Here
  each of the 9 low-resolution taps is still gathered once but multiplied by its 1 (corner),
  2 (edge) or 4 (centre) *unsummed* weight blocks into one accumulator
  (:func:`pack_quad_split`): 16 K blocks instead of 18, 118 registers. w4 models (sums fit
  int8) lower as in gen4. Measured as fast as gen4, not faster (run 14), so not the default.

* ``"gen6"``: gen4's quantiser and first conv, every other conv a **halo conv** in CUDA C++
  (``halo_conv.cu``): a program copies the halo of its tile of each source into shared memory
  once and feeds every 3x3 tap's operand to ``mma.sync`` from there (ldmatrix), so each byte
  leaves L2 once per tile instead of once per tap; a decoder's upsampled source is read at
  ``(y // 2, x // 2)`` inside the tile, with the plain (unsummed) weights; the encoder's pool
  and the head run in the accumulator layout. Sources use mode ``"halo"``: tap order with all
  of a tap's channels in one run of rows (``bk = channels``), which the emulator executes as
  tap mode; :mod:`tinyicenet.kernels.fragments` repacks the rows into MMA fragments and
  models the kernel. Needs a CUDA device and CuPy (NVRTC).
* ``"gen7"``: gen6 with the **first conv in CUDA C++ as well** (2-channel inputs): it copies
  its tile's halo of the float input, quantises each pixel once into shared memory and
  multiplies gen2's im2col K = 32 slice (mode ``"stem"``: :func:`pack_im2col` rows, executed
  as ``"im2col"``), so neither the quantise kernel nor the stored input remain; optionally the
  whole network as one persistent kernel (``cuda_halo.FusedKernel``). Exact, but measured
  slower than gen6 for large calls (its first conv is bound by its epilogue's instructions,
  not its bytes), a little faster for small ones (the default there), and slower fused
  (bench/gpu_kernels_notes.md, runs 23-25).
* ``"gen8"``: gen7's plan run as **one kernel per output tile** (``net_tile.cu`` through
  :mod:`tinyicenet.kernels.net_tile`): each program computes its tile of the logits through
  every conv in shared memory, each stage over the region the stages after it read (halos
  recomputed), so no activation goes through global memory and a call is one launch. Needs
  gen7's stages (2 input channels) and a tile whose buffers fit in shared memory.

Everything here is plain integer bookkeeping, so CPU tests check it against the integer
reference through :mod:`tinyicenet.kernels.emulate`, which executes a plan with numpy in the
kernels' exact order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tinyicenet.errors import ExportError

INT32_MAX = 2**31 - 1
#: Channel counts of every stored activation are padded to a power of two >= this (tl.dot needs
#: N >= 16 in practice, and power-of-two strides keep loads 16-byte aligned).
MIN_CHANNELS = 16
#: K granule of an int8 tensor-core dot.
K_GRANULE = 32
#: the kernel designs :func:`lower` can produce (see the module docstring)
DESIGNS = ("gen1", "gen2", "gen3", "gen4", "gen5", "gen6", "gen7", "gen8")
#: the designs whose 3x3 convs after the first (gen7, gen8: all) are CUDA C++ halo convs
#: (gen8 runs them all in one kernel per tile)
HALO_DESIGNS = ("gen6", "gen7", "gen8")
#: the design :func:`lower` builds unless told otherwise
DEFAULT_DESIGN = "gen3"
#: the runner's default, per call: the fastest exact design measured for its size (below /
#: from AUTO_PIXELS full-resolution pixels per call; bench/gpu_kernels_notes.md), where the
#: CUDA C++ convs can run (CUDA and CuPy): gen7 for small calls (one launch fewer: 5 % more
#: images/s at 256² x 1 in run 25, 0.5-1 µs less GPU time in runs 23-24), gen6 for large ones
#: (gen7's first conv is slower there: runs 23-25); else AUTO_FALLBACK,
#: the fastest Triton-only designs (runs 10 and 14): gen3 for small calls (its fused quantiser
#: saves a launch, which counts at batch 1), gen4 for large ones (gen5 measured as gen4)
AUTO = "auto"
AUTO_DESIGNS = ("gen7", "gen6")
AUTO_FALLBACK = ("gen3", "gen4")
AUTO_PIXELS = 2 ** 22
#: gen3 uses a quad program for a decoder when its accumulator is at most this wide
#: (4 x padded output channels): at 128 columns the two int32 accumulators of a 64-quad tile
#: take 256 registers per thread and the quad decoder measured 1.5x slower than parity
QUAD_MAX_N = 64
#: input channels of gen7's CUDA C++ first conv (HH, HV): one 2-byte pair per pixel
STEM_CHANNELS = 2
#: widest im2col slice of the fused first conv (9 * C_in rounded up to a power of two >= 32);
#: wider inputs keep the separate quantise kernel
IM2COL_MAX_K = 128
#: widest stored row window of the gen4 input (3 x C_in values rounded up to a power of
#: two >= 8); wider inputs keep the plain quantised input
WINDOW_MAX = 32
#: kernel rows (dy + 1) that each low-resolution row r of parity p sums (see pack_parity)
PARITY_TAPS = {(0, 0): (0,), (0, 1): (1, 2), (1, 0): (0, 1), (1, 1): (2,)}
#: quadsplit's low-resolution taps (ry, rx) and, per tap, the 4 x 4 window positions (u, v)
#: whose unsummed weight blocks it multiplies: corners (1 block), edges (2), the centre (4)
SPLIT_TAPS = (((-1, -1), ((0, 0),)), ((-1, 1), ((0, 3),)), ((1, -1), ((3, 0),)),
              ((1, 1), ((3, 3),)),
              ((-1, 0), ((0, 1), (0, 2))), ((1, 0), ((3, 1), (3, 2))),
              ((0, -1), ((1, 0), (2, 0))), ((0, 1), ((1, 3), (2, 3))),
              ((0, 0), ((1, 1), (1, 2), (2, 1), (2, 2))))


# --------------------------------------------------------------------------------------------
# Input description: the integer network as the kernels need it
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntConv:
    """One integer conv: ``y = clamp(round_half_even((sum(q * w) + b) * 2**shift), lo, hi)``.

    ``weight`` is ``[C_out, C_in, k, k]`` integers (scale ``2**e_w``), ``bias`` ``[C_out]``
    integers in the accumulator scale ``2**(e_in + e_w)``, the output has scale ``2**e_out``
    and the range ``[lo, hi]``; ``[in_lo, in_hi]`` is the range of its input integers.
    """

    weight: np.ndarray
    bias: np.ndarray
    e_in: int
    e_w: int
    e_out: int
    lo: int
    hi: int
    in_lo: int
    in_hi: int

    @property
    def shift(self) -> int:
        """``e_in + e_w - e_out``: the accumulator is multiplied by ``2**shift``."""
        return int(self.e_in) + int(self.e_w) - int(self.e_out)

    @property
    def cout(self) -> int:
        return int(self.weight.shape[0])

    @property
    def cin(self) -> int:
        return int(self.weight.shape[1])

    @property
    def kernel(self) -> int:
        return int(self.weight.shape[2])


@dataclass(frozen=True)
class IntNet:
    """The integer TinyIceNet: encoder convs, bottleneck, decoder convs (index = level), head."""

    in_channels: int
    input_exp: int
    input_lo: int
    input_hi: int
    encoder: tuple[IntConv, ...]
    bottleneck: IntConv
    decoder: tuple[IntConv, ...]
    head: IntConv
    output_exp: int
    skips: bool
    name: str = "tinyicenet"
    num_classes: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def levels(self) -> int:
        return len(self.encoder)

    @property
    def stride(self) -> int:
        return 2 ** self.levels

    @property
    def classes(self) -> int:
        return self.head.cout

    def convs(self) -> list[tuple[str, IntConv]]:
        out = [(f"encoder{i}", c) for i, c in enumerate(self.encoder)]
        out.append(("bottleneck", self.bottleneck))
        out += [(f"decoder{i}", self.decoder[i]) for i in reversed(range(self.levels))]
        out.append(("head", self.head))
        return out


# --------------------------------------------------------------------------------------------
# Output: the plan
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """One input tensor of a conv as the kernel reads it.

    ``mode`` is ``"tap"`` (per kernel tap, ``bk`` channels per dot), ``"run"`` (per kernel
    row, ``run_px`` neighbouring pixels of ``channels`` each, starting at x - 1: a slice of
    ``bk = run_px * channels`` bytes), ``"parity"`` (an upsampled source read as a 2x2 conv per
    output parity on the low-resolution tensor, ``bk`` channels per dot; its weights live in
    ``ConvStage.up_weight``), ``"quadup"`` / ``"quadrun"`` / ``"quadtap"`` (a quad program's
    sources, :func:`pack_quad`), ``"quadsplit"`` (a quad program's upsampled source with
    unsummed weights, :func:`pack_quad_split`), ``"window"`` (the windowed input of gen4:
    ``channels`` bytes per pixel hold its quantised 3-pixel row window, one slice of
    ``bk = 4 * channels``, :func:`pack_window`), ``"halo"`` (gen6: tap order with
    ``bk = channels``, read by the CUDA C++ halo conv), ``"im2col"`` (the float network input,
    quantised in the kernel: one slice of ``bk`` = 9 * channels rounded up to a power of two
    >= 32, row ``t * channels + c`` for tap t) or ``"stem"`` (gen7: im2col read by the CUDA
    C++ first conv, 2 channels).
    ``cin0`` is where its channels start in the conv's input channels; ``real`` how many are
    real (the rest of ``channels`` is zero padding).
    """

    buffer: str
    channels: int
    real: int
    cin0: int
    up: bool
    mode: str
    bk: int
    run_px: int = 0

    @property
    def float_input(self) -> bool:
        """True for the float network input, quantised by the conv itself (im2col / stem)."""
        return self.mode in ("im2col", "stem")

    @property
    def chunks(self) -> int:
        """K slices (one dot each) of this source."""
        if self.mode == "run":
            return 3
        if self.mode == "quadrun":
            return 4
        if self.mode in ("im2col", "stem", "window"):
            return 1
        taps = {"parity": 4, "quadtap": 16, "quadsplit": 16}.get(self.mode, 9)
        return taps * (-(-self.channels // self.bk))

    @property
    def rows(self) -> int:
        """Rows of the packed weight matrix this source contributes."""
        return self.chunks * self.bk


@dataclass(frozen=True)
class Requant:
    """Right shift by ``rshift`` (round half to even; negative = left shift), clamp to [lo, hi]."""

    rshift: int
    lo: int
    hi: int


@dataclass(frozen=True)
class HeadStage:
    """The 1x1 head fused into the last decoder conv."""

    weight: np.ndarray        # int8 [K, classes_p]: rows interleaved to K >= 32 (see pack_head);
    #                           a quad stage's: [4 * C, 4 * classes_p], one block per sub-pixel
    bias: np.ndarray          # int32 [classes_p]
    requant: Requant
    xor: int                  # offset applied to the decoder's activations before the dot
    classes: int
    classes_p: int
    spread: int               # 32 // C when the activation has fewer than 32 channels, else 1
    #                           (1 for a quad head)
    quad: bool = False        # applied per quad (the quad stage's accumulator layout)


@dataclass(frozen=True)
class QuantStage:
    """Input quantiser: float NCHW -> int8 NHWC with a zero border (buffer ``input``)."""

    in_channels: int
    channels: int             # stored channels (power of two; the rest are zeros)
    input_scale: float        # 2 ** -input_exp (exact in fp32)
    lo: int
    hi: int
    #: stored per pixel: its 3-pixel row window (byte p * in_channels + c = channel c of
    #: pixel x + p - 1, zero outside the image) instead of its own channels (gen4)
    window: bool = False


@dataclass(frozen=True)
class ConvStage:
    """A 3x3 conv reading one or two int8 sources, writing full and/or pooled outputs.

    Its sources are stored with offset ``xor`` (value - xor); it stores its own outputs with
    offset ``out_xor``.
    """

    name: str
    level: int                # output resolution level (H / 2**level)
    sources: tuple[Source, ...]
    weight: np.ndarray        # int8 [sum(rows), cout_p]
    bias: np.ndarray          # int32 [cout_p]
    requant: Requant
    xor: int
    out_xor: int
    cout: int
    cout_p: int
    out: str | None
    pool: str | None
    head: HeadStage | None
    #: parity source weights, int8 ``[4 parities, planes, rows, cout_p]`` (``planes`` 1, or 2
    #: for ``128 * hi + lo`` when summed weights leave int8); None without a parity source
    up_weight: np.ndarray | None = None

    @property
    def up_planes(self) -> int:
        return 0 if self.up_weight is None else int(self.up_weight.shape[1])

    @property
    def halo(self) -> bool:
        """True when the stage runs as a CUDA C++ halo conv (gen6: its sources are "halo";
        gen7's first conv, "stem", too)."""
        return self.sources[0].mode in ("halo", "stem")

    @property
    def quad(self) -> bool:
        """True when a program computes 2 x 2 output quads (N = 4 * cout_p columns)."""
        return any(s.mode.startswith("quad") for s in self.sources)


@dataclass(frozen=True)
class Plan:
    """Everything the runner needs: stages in launch order and the buffers they use."""

    quant: QuantStage
    stages: tuple[ConvStage, ...]
    buffers: dict[str, tuple[int, int, int]]   # name -> (level, channels, stored offset)
    classes: int
    output_exp: int
    in_channels: int
    stride: int
    skips: bool
    name: str
    design: str = "gen1"

    @property
    def quant_fused(self) -> bool:
        """True when the first conv quantises the float input itself (no quantise kernel)."""
        return any(s.float_input for st in self.stages for s in st.sources)


# --------------------------------------------------------------------------------------------
# Helpers (each tested on the CPU)
# --------------------------------------------------------------------------------------------
def resolve_design(design: str | None, pixels: int, cuda_cpp: bool = True) -> str:
    """The design a call of ``pixels`` full-resolution pixels runs: ``design`` itself, or for
    None / :data:`AUTO` the size's choice in :data:`AUTO_DESIGNS` (:data:`AUTO_FALLBACK`
    where the CUDA C++ kernels cannot run: ``cuda_cpp=False``). gen8 is never chosen: at
    256² x 1 it measured no faster than gen7 (4-7 % more queued images/s, a synchronised p50
    0.7-1.8 µs higher) at 21-26 % more energy per image, and slower from 4 images per call on
    (bench/gpu_kernels_notes.md, runs 32-35 and 45)."""
    if design in (None, AUTO):
        return (AUTO_DESIGNS if cuda_cpp else AUTO_FALLBACK)[pixels >= AUTO_PIXELS]
    return design


def pad_channels(c: int) -> int:
    """Stored channel count: the next power of two, at least MIN_CHANNELS."""
    p = MIN_CHANNELS
    while p < c:
        p *= 2
    return p


def requant_of(conv: IntConv) -> Requant:
    return Requant(rshift=-int(conv.shift), lo=int(conv.lo), hi=int(conv.hi))


def round_shift(acc: np.ndarray, rshift: int) -> np.ndarray:
    """``round_half_even(acc * 2**-rshift)`` on integers (what the kernels compute)."""
    acc = np.asarray(acc, dtype=np.int64)
    if rshift <= 0:
        return acc << (-rshift)
    q = acc >> rshift
    rem = acc - (q << rshift)
    half = 1 << (rshift - 1)
    return q + ((rem > half) | ((rem == half) & ((q & 1) == 1))).astype(np.int64)


def apply_requant(acc: np.ndarray, rq: Requant) -> np.ndarray:
    """Kernel requantisation (with the pre-clamp that keeps a left shift inside int32)."""
    acc = np.asarray(acc, dtype=np.int64)
    if rq.rshift < 0:
        acc = np.clip(acc, rq.lo - 1, rq.hi + 1)
    return np.clip(round_shift(acc, rq.rshift), rq.lo, rq.hi)


def accumulator_bound(weight: np.ndarray, in_lo: int, in_hi: int, xor: int) -> np.ndarray:
    """Per output channel, the largest |partial sum| of ``(q - xor) * w`` over any input."""
    w = np.abs(np.asarray(weight, dtype=np.int64).reshape(weight.shape[0], -1))
    amax = max(abs(in_lo - xor), abs(in_hi - xor))
    return w.sum(axis=1) * amax


def safe_bias(bias: np.ndarray, bound: np.ndarray, rq: Requant, what: str) -> np.ndarray:
    """The effective int32 bias: ``bias`` itself, or one that saturates the same way.

    If ``bias - bound`` already rounds above ``hi`` (or ``bias + bound`` below ``lo``) for
    every input, the output is the clamp limit whatever the sum, and the smallest bias with
    that property gives identical outputs while keeping the accumulator inside int32.
    """
    if rq.rshift > 30:
        raise ExportError(f"{what}: requantisation shift {rq.rshift} is wider than the GPU "
                          "kernels' int32 rounding (at most 30)")
    bias = np.asarray(bias, dtype=np.int64).copy()
    unit = 2 ** max(rq.rshift, 0)
    top = bound + (rq.hi + 1) * unit          # any acc >= this gives hi
    bottom = -bound + (rq.lo - 1) * unit      # any acc <= this gives lo
    high = bias - bound >= (rq.hi + 1) * unit
    low = bias + bound <= (rq.lo - 1) * unit
    bias[high] = top[high]
    bias[low] = bottom[low]
    # the kernels round with one biased shift: acc + half must stay inside int32 as well
    worst = np.abs(bias) + bound + (2 ** (rq.rshift - 1) if rq.rshift > 0 else 0)
    if np.any(worst > INT32_MAX):
        c = int(np.argmax(worst))
        raise ExportError(f"{what}: output channel {c} can reach |accumulator| {int(worst[c])}, "
                          "over int32; the GPU kernels accumulate in int32")
    return bias.astype(np.int32)


def xor_for(in_lo: int, in_hi: int) -> int:
    """Offset that maps the input range into int8: 128 for unsigned 8-bit, else 0."""
    if in_lo >= -128 and in_hi <= 127:
        return 0
    if in_lo >= 0 and in_hi <= 255:
        return 128
    raise ExportError(f"activation range [{in_lo}, {in_hi}] does not fit 8 bits")


def choose_source(buffer: str, channels: int, real: int, cin0: int, up: bool) -> Source:
    """Read mode for a source: 'run' for narrow full-resolution tensors, else 'tap'."""
    if not up and channels < K_GRANULE and channels & (channels - 1) == 0:
        run_px = max(4, K_GRANULE // channels)
        return Source(buffer, channels, real, cin0, up, "run", run_px * channels, run_px)
    bk = 64 if channels % 64 == 0 else K_GRANULE
    return Source(buffer, channels, real, cin0, up, "tap", bk)


def halo_source(src: Source) -> Source:
    """``src`` read by a halo conv (gen6): tap order, all of a tap's channels in one slice."""
    return replace(src, mode="halo", bk=src.channels, run_px=0)


def input_channels(c: int) -> int:
    """Stored channels of the quantised input: a power of two, at least 8.

    A run slice needs a power of two; 8 bytes per pixel keep its start 8-byte aligned, so the
    loads vectorise (2-channel pixels would give 2-byte loads).
    """
    p = 8
    while p < c:
        p *= 2
    return p if p < K_GRANULE else pad_channels(c)


def pack_source(weight: np.ndarray, src: Source) -> np.ndarray:
    """Rows of the packed weight matrix ``[rows, C_out]`` for one source, in kernel order.

    tap mode: for tap t (dy = t // 3 - 1, dx = t % 3 - 1), for chunk j, for kk < bk:
        channel j * bk + kk (zero row if padding).
    run mode: for dy, for pixel p in 0..run_px-1 (dx = p - 1), for channel c: zero if p > 2.
    """
    cout = weight.shape[0]
    w = np.zeros((cout, src.channels, 3, 3), dtype=np.int64)
    w[:, :src.real] = weight[:, src.cin0:src.cin0 + src.real]
    if src.mode == "run":
        rows = np.zeros((3, src.run_px, src.channels, cout), dtype=np.int64)
        for d in range(3):
            for p in range(3):
                rows[d, p] = w[:, :, d, p].T
        return rows.reshape(-1, cout)
    nch = -(-src.channels // src.bk)
    rows = np.zeros((9, nch * src.bk, cout), dtype=np.int64)
    for t in range(9):
        rows[t, :src.channels] = w[:, :, t // 3, t % 3].T
    return rows.reshape(-1, cout)


def pack_parity(weight: np.ndarray, src: Source) -> np.ndarray:
    """Parity weights ``[4, planes, rows, C_out]`` of an upsampled source (``mode="parity"``).

    Output pixel (y, x) with parity p = 2 * (y % 2) + x % 2 reads low-resolution pixel
    ``(y // 2 + y % 2 - 1 + ry, x // 2 + x % 2 - 1 + rx)`` for tap r = 2 * ry + rx, which the
    nearest upsample repeats under the kernel rows ``PARITY_TAPS[y % 2, ry]`` (and columns
    likewise): the tap's weight is their sum. Rows: for tap r, for chunk j, for kk < bk:
    channel j * bk + kk. With sums outside int8, plane 0 holds ``lo = ((s + 64) mod 128) - 64``
    and plane 1 ``hi = (s - lo) / 128``, so that ``s = 128 * hi + lo``.
    """
    cout = weight.shape[0]
    w = np.zeros((cout, src.channels, 3, 3), dtype=np.int64)
    w[:, :src.real] = weight[:, src.cin0:src.cin0 + src.real]
    nch = -(-src.channels // src.bk)
    rows = np.zeros((4, 4, nch * src.bk, cout), dtype=np.int64)
    for p in range(4):
        py, px = divmod(p, 2)
        for r in range(4):
            ry, rx = divmod(r, 2)
            summed = sum(w[:, :, dy, dx] for dy in PARITY_TAPS[py, ry]
                         for dx in PARITY_TAPS[px, rx])
            rows[p, r, :src.channels] = summed.T
    return split_planes(rows.reshape(4, -1, cout), axis=1)


def split_planes(rows: np.ndarray, axis: int) -> np.ndarray:
    """``rows`` as one int8 plane, or two (``lo``, ``hi`` with rows = 128 * hi + lo) stacked
    along a new ``axis`` when some value leaves int8."""
    rows = np.expand_dims(rows, axis)
    if np.abs(rows).max(initial=0) <= 127:
        return rows
    lo = np.mod(rows + 64, 128) - 64
    hi = (rows - lo) // 128
    if np.abs(hi).max(initial=0) > 127:
        raise ExportError("summed weights need more than two int8 planes")
    return np.concatenate([lo, hi], axis=axis)


def summed_fits_int8(weight: np.ndarray, src: Source, cout_p: int) -> bool:
    """True when a quad program's summed upsampled weights (``quadup``) fit one int8 plane."""
    return bool(np.abs(pack_quad(weight, src, cout_p)).max(initial=0) <= 127)


def pack_quad(weight: np.ndarray, src: Source, cout_p: int) -> np.ndarray:
    """Rows ``[rows, 4 * cout_p]`` of a quad program's source (column block s = 2 i + j is
    output pixel (2 Yq + i, 2 Xq + j) of quad (Yq, Xq)).

    ``quadup`` (upsampled source, low-resolution taps (Yq + ry, Xq + rx), ry, rx in -1..1):
    for tap t = 3 (ry + 1) + (rx + 1), chunk, kk; the weight is the parity sum of
    :func:`pack_parity` where the tap is one of subpixel (i, j)'s 2 x 2 taps, else 0.
    ``quadrun`` / ``quadtap`` (full-resolution pixels (2 Yq - 1 + u, 2 Xq - 1 + v), u, v in
    0..3): per row u a run of 4 pixels v, or per tap t = 4 u + v, chunk, kk; the weight is
    w[dy = u - 1 - i, dx = v - 1 - j] where that lies in the 3 x 3 window.
    Split into int8 planes by the caller (:func:`split_planes`).
    """
    cout = weight.shape[0]
    w = np.zeros((cout, src.channels, 3, 3), dtype=np.int64)
    w[:, :src.real] = weight[:, src.cin0:src.cin0 + src.real]
    C = src.channels
    nch = 1 if src.mode == "quadrun" else -(-C // src.bk)
    side = 3 if src.mode == "quadup" else 4
    width = C if src.mode == "quadrun" else nch * src.bk
    rows = np.zeros((side, side, width, 4, cout_p), dtype=np.int64)
    for i in range(2):
        for j in range(2):
            s = 2 * i + j
            for u in range(side):
                for v in range(side):
                    if src.mode == "quadup":
                        ry, rx = u - i, v - j            # parity tap (0..1) of subpixel (i, j)
                        if not (0 <= ry <= 1 and 0 <= rx <= 1):
                            continue
                        blk = sum(w[:, :, dy, dx] for dy in PARITY_TAPS[i, ry]
                                  for dx in PARITY_TAPS[j, rx])
                    else:
                        dy, dx = u - 1 - i, v - 1 - j
                        if not (-1 <= dy <= 1 and -1 <= dx <= 1):
                            continue
                        blk = w[:, :, dy + 1, dx + 1]
                    rows[u, v, :C, s, :cout] = blk.T
    return rows.reshape(-1, 4 * cout_p)


def pack_quad_split(weight: np.ndarray, src: Source, cout_p: int) -> np.ndarray:
    """Rows ``[src.rows, 4 * cout_p]`` (16 blocks of ``ceil(C / bk) * bk``) of a ``quadsplit``
    source (gen5): the unsummed weights of the upsampled tensor's 4 x 4 window (:func:`pack_quad`'s
    ``quadtap`` rows, as if the upsampled tensor were stored) grouped by the low-resolution tap
    that each window position reads, in :data:`SPLIT_TAPS` order: for tap, for chunk, for block,
    for kk < bk. A tap is gathered once and multiplied by each of its blocks."""
    nch = -(-src.channels // src.bk)
    full = pack_quad(weight, Source(src.buffer, src.channels, src.real, src.cin0, True,
                                    "quadtap", src.bk), cout_p)
    full = full.reshape(4, 4, nch, src.bk, 4 * cout_p)
    rows = [full[u, v, j] for _, blocks in SPLIT_TAPS for j in range(nch) for u, v in blocks]
    return np.concatenate(rows, axis=0)


def pack_im2col(weight: np.ndarray, src: Source) -> np.ndarray:
    """Rows ``[bk, C_out]`` of the fused first conv: row ``t * C + c`` is tap t, channel c."""
    cout, cin = weight.shape[:2]
    rows = np.zeros((src.bk, cout), dtype=np.int64)
    for t in range(9):
        rows[t * cin:(t + 1) * cin] = weight[:, :, t // 3, t % 3].T
    return rows


def window_bytes(c: int) -> int:
    """Stored bytes per pixel of a 3-pixel row window of ``c`` channels (power of two >= 8)."""
    return input_channels(3 * c)


def pack_window(weight: np.ndarray, src: Source) -> np.ndarray:
    """Rows ``[4 * channels, C_out]`` of the gen4 first conv: row ``r * channels + p * C + c``
    is kernel row r (dy = r - 1), column p (dx = p - 1), channel c; row block 3 (the re-read
    first row) and the window's padding bytes are zero."""
    cout, cin = weight.shape[:2]
    rows = np.zeros((4, src.channels, cout), dtype=np.int64)
    for r in range(3):
        for p in range(3):
            rows[r, p * cin:(p + 1) * cin] = weight[:, :, r, p].T
    return rows.reshape(-1, cout)


def parity_partial_bounds(up_weight: np.ndarray, other_rows: np.ndarray, amax_up: int,
                          amax_other: int, bias: np.ndarray) -> tuple[int, int]:
    """Largest |value| of the two accumulators of a parity stage (lo + other sources + bias,
    and 128 * hi), over any input: both must stay inside int32."""
    lo = np.abs(up_weight[:, 0].astype(np.int64)).sum(axis=1) * amax_up      # [4, cout]
    other = np.abs(other_rows.astype(np.int64)).sum(axis=0) * amax_other     # [cout]
    first = int((lo + other[None, :] + np.abs(bias.astype(np.int64))[None, :]).max(initial=0))
    second = 0
    if up_weight.shape[1] > 1:
        second = int((np.abs(up_weight[:, 1].astype(np.int64)).sum(axis=1) * amax_up * 128)
                     .max(initial=0))
    return first, second


def pack_head(head: IntConv, channels: int) -> tuple[np.ndarray, int]:
    """Head weights as ``[K, classes]`` rows matching the kernel's widening of a narrow tile.

    With fewer than 32 activation channels the kernel interleaves zeros (``tl.join``) until
    K = 32, so real channel c sits at row ``c * spread``.
    """
    spread = max(1, K_GRANULE // channels)
    w = np.zeros((channels * spread, head.cout), dtype=np.int64)
    w[np.arange(head.cin) * spread] = head.weight[:, :, 0, 0].T
    return w, spread


def _pad_cols(a: np.ndarray, cols: int) -> np.ndarray:
    out = np.zeros((a.shape[0], cols), dtype=a.dtype)
    out[:, :a.shape[1]] = a
    return out


def _pad_vec(a: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=a.dtype)
    out[:a.shape[0]] = a
    return out


def _check_conv(name: str, conv: IntConv, cin: int, kernel: int) -> None:
    if conv.weight.ndim != 4 or conv.cin != cin or conv.kernel != kernel \
            or conv.weight.shape[3] != kernel:
        raise ExportError(f"{name}: weight shape {tuple(conv.weight.shape)} is not "
                          f"[C_out, {cin}, {kernel}, {kernel}]")
    if conv.bias.shape != (conv.cout,):
        raise ExportError(f"{name}: bias shape {tuple(conv.bias.shape)} is not ({conv.cout},)")
    if np.abs(conv.weight).max(initial=0) > 127:
        raise ExportError(f"{name}: weights exceed the int8 range")


# --------------------------------------------------------------------------------------------
# Lowering
# --------------------------------------------------------------------------------------------
def lower(net: IntNet, design: str | None = None) -> Plan:
    """Turn the integer network into kernel stages with packed weights and safe biases.

    ``design`` is one of :data:`DESIGNS` (module docstring; default :data:`DEFAULT_DESIGN`).
    """
    design = DEFAULT_DESIGN if design is None else design
    if design not in DESIGNS:
        raise ExportError(f"{net.name}: unknown kernel design {design!r}; "
                          f"choose one of {', '.join(DESIGNS)}")
    gen = DESIGNS.index(design) + 1   # each design builds on the one before (module docstring)
    gen2 = gen >= 2
    L = net.levels
    if L < 1 or len(net.decoder) != L:
        raise ExportError(f"{net.name}: needs as many decoder convs as encoder convs, got "
                          f"{len(net.encoder)} and {len(net.decoder)}")
    if not (-128 <= net.input_lo <= 0 <= net.input_hi <= 127):
        raise ExportError(f"{net.name}: input range [{net.input_lo}, {net.input_hi}] is not an "
                          "int8 range holding 0 (the kernels quantise the zero padding as 0.0)")
    scale = float(2.0 ** -net.input_exp)
    if not np.isfinite(scale) or not np.float32(scale) == scale or np.float32(scale) == 0:
        raise ExportError(f"{net.name}: input exponent {net.input_exp} is out of fp32 range")
    stem = gen >= 7 and net.in_channels == STEM_CHANNELS
    window = gen >= 4 and not stem and window_bytes(net.in_channels) <= WINDOW_MAX
    cin_buf = window_bytes(net.in_channels) if window else input_channels(net.in_channels)
    quant = QuantStage(in_channels=net.in_channels, channels=cin_buf, input_scale=scale,
                       lo=int(net.input_lo), hi=int(net.input_hi), window=window)
    im2col_k = K_GRANULE  # a power of two (tl.arange) covering the 9 * C_in window
    while im2col_k < 9 * net.in_channels:
        im2col_k *= 2
    # gen4 without a window (wide inputs) keeps gen3's fused quantiser where that fits
    fuse_quant = gen2 and not window and im2col_k <= IM2COL_MAX_K
    buffers: dict[str, tuple[int, int, int]] = {}
    if not fuse_quant:
        buffers["input"] = (0, cin_buf, 0)
    stages: list[ConvStage] = []

    def stored_offset(s: Source) -> int:
        return 0 if s.float_input else buffers[s.buffer][2]

    def conv_stage(name: str, level: int, conv: IntConv, sources: list[Source],
                   out: str | None, pool: str | None, head: HeadStage | None) -> ConvStage:
        cin = sum(s.real for s in sources)
        _check_conv(name, conv, cin, 3)
        xor = xor_for(conv.in_lo, conv.in_hi)
        out_xor = xor_for(conv.lo, conv.hi)
        for s in sources:
            if stored_offset(s) != xor:
                raise ExportError(f"{name}: source {s.buffer} is stored with offset "
                                  f"{stored_offset(s)}, the conv expects {xor}")
        rqc = requant_of(conv)
        coutp = pad_channels(conv.cout)
        up_weight = None
        packed = []
        if any(s.mode.startswith("quad") for s in sources):
            return quad_stage(name, level, conv, sources, out, head, xor, out_xor, rqc, coutp)
        for s in sources:
            if s.mode == "parity":
                up_weight = pack_parity(conv.weight, s)
            elif s.float_input:
                packed.append(pack_im2col(conv.weight, s))
            elif s.mode == "window":
                packed.append(pack_window(conv.weight, s))
            else:
                packed.append(pack_source(conv.weight, s))
        wp = (np.concatenate(packed, axis=0) if packed
              else np.zeros((0, conv.cout), dtype=np.int64))
        corr = xor * conv.weight.astype(np.int64).reshape(conv.cout, -1).sum(axis=1)
        b = safe_bias(conv.bias.astype(np.int64) + corr,
                      accumulator_bound(conv.weight, conv.in_lo, conv.in_hi, xor), rqc, name)
        if up_weight is not None:
            amax = max(abs(conv.in_lo - xor), abs(conv.in_hi - xor))
            up_weight = np.stack([_pad_cols(up_weight[p, k], coutp)
                                  for p in range(4) for k in range(up_weight.shape[1])]) \
                .reshape(4, up_weight.shape[1], -1, coutp)
            first, second = parity_partial_bounds(up_weight, _pad_cols(wp, coutp), amax, amax,
                                                  _pad_vec(b, coutp))
            if max(first, second) > INT32_MAX:
                raise ExportError(f"{name}: a parity accumulator can reach "
                                  f"{max(first, second)}, over int32")
            up_weight = up_weight.astype(np.int8)
        for buf in (out, pool):
            if buf is not None:
                buffers[buf] = (level + (buf == pool), coutp, out_xor)
        return ConvStage(name=name, level=level, sources=tuple(sources),
                         weight=_pad_cols(wp, coutp).astype(np.int8), bias=_pad_vec(b, coutp),
                         requant=rqc, xor=xor, out_xor=out_xor, cout=conv.cout, cout_p=coutp,
                         out=out, pool=pool, head=head, up_weight=up_weight)

    def quad_stage(name: str, level: int, conv: IntConv, sources: list[Source],
                   out: str | None, head: HeadStage | None, xor: int, out_xor: int,
                   rqc: Requant, coutp: int) -> ConvStage:
        summed = sources[0].mode == "quadup"
        up = (split_planes(pack_quad(conv.weight, sources[0], coutp), 0)[None] if summed
              else np.zeros((1, 1, 0, 4 * coutp), dtype=np.int64))
        other = [pack_quad_split(conv.weight, s, coutp) if s.mode == "quadsplit"
                 else pack_quad(conv.weight, s, coutp) for s in sources[int(summed):]]
        wp = np.concatenate(other, axis=0) if other else np.zeros((0, 4 * coutp), np.int64)
        corr = xor * conv.weight.astype(np.int64).reshape(conv.cout, -1).sum(axis=1)
        b = _pad_vec(safe_bias(conv.bias.astype(np.int64) + corr,
                               accumulator_bound(conv.weight, conv.in_lo, conv.in_hi, xor),
                               rqc, name), coutp)
        amax = max(abs(conv.in_lo - xor), abs(conv.in_hi - xor))
        first, second = parity_partial_bounds(up, wp, amax, amax, np.tile(b, 4))
        if max(first, second) > INT32_MAX:
            raise ExportError(f"{name}: a quad accumulator can reach {max(first, second)}, "
                              "over int32")
        if out is not None:
            buffers[out] = (level, coutp, out_xor)
        return ConvStage(name=name, level=level, sources=tuple(sources),
                         weight=wp.astype(np.int8), bias=b, requant=rqc, xor=xor,
                         out_xor=out_xor, cout=conv.cout, cout_p=coutp, out=out, pool=None,
                         head=head, up_weight=up.astype(np.int8) if summed else None)

    # -- encoder levels -------------------------------------------------------------------------
    prev, prev_c, prev_real = "input", cin_buf, net.in_channels
    for i in range(L):
        conv = net.encoder[i]
        out = f"skip{i}" if net.skips else None
        if i == 0 and fuse_quant:
            src = Source("x", net.in_channels, net.in_channels, 0, False,
                         "stem" if stem else "im2col", im2col_k)
        elif i == 0 and window:
            src = Source("input", cin_buf, net.in_channels, 0, False, "window", 4 * cin_buf)
        else:
            src = choose_source(prev, prev_c, prev_real, 0, up=False)
            if gen >= 6:
                src = halo_source(src)
        stages.append(conv_stage(f"encoder{i}", i, conv, [src], out, f"pool{i}", None))
        prev, prev_c, prev_real = f"pool{i}", pad_channels(conv.cout), conv.cout

    # -- bottleneck --------------------------------------------------------------------------
    conv = net.bottleneck
    src = choose_source(prev, prev_c, prev_real, 0, up=False)
    if gen >= 6:
        src = halo_source(src)
    stages.append(conv_stage("bottleneck", L, conv, [src], "bottleneck", None, None))
    prev, prev_c, prev_real = "bottleneck", pad_channels(conv.cout), conv.cout

    # -- decoder levels L-1..0 (level 0 carries the head) -------------------------------------
    for i in reversed(range(L)):
        conv = net.decoder[i]
        halo = gen >= 6
        quad = 3 <= gen < 6 and 4 * pad_channels(conv.cout) <= QUAD_MAX_N
        up = choose_source(prev, prev_c, prev_real, 0, up=True)
        if halo:
            up = halo_source(up)
        elif gen2:
            up = Source(up.buffer, up.channels, up.real, 0, True,
                        "quadup" if quad else "parity", up.bk)
        if quad and gen >= 5 and not summed_fits_int8(conv.weight, up, pad_channels(conv.cout)):
            up = Source(up.buffer, up.channels, up.real, 0, True, "quadsplit", up.bk)
        sources = [up]
        if net.skips:
            skip = choose_source(f"skip{i}", buffers[f"skip{i}"][1], net.encoder[i].cout,
                                 prev_real, up=False)
            if halo:
                skip = halo_source(skip)
            elif quad:   # a run of 4 pixels covers the quad's 4 columns exactly
                skip = (Source(skip.buffer, skip.channels, skip.real, skip.cin0, False,
                               "quadrun", 4 * skip.channels, 4) if skip.mode == "run" else
                        Source(skip.buffer, skip.channels, skip.real, skip.cin0, False,
                               "quadtap", skip.bk))
            sources.append(skip)
        head = _head_stage(net, pad_channels(conv.cout), quad) if i == 0 else None
        out = None if i == 0 else f"decoder{i}"
        stages.append(conv_stage(f"decoder{i}", i, conv, sources, out, None, head))
        prev, prev_c, prev_real = out or "", pad_channels(conv.cout), conv.cout

    return Plan(quant=quant, stages=tuple(stages), buffers=buffers, classes=net.head.cout,
                output_exp=int(net.output_exp), in_channels=net.in_channels, stride=net.stride,
                skips=net.skips, name=net.name, design=design)


def _head_stage(net: IntNet, channels: int, quad: bool) -> HeadStage:
    head = net.head
    _check_conv("head", head, net.decoder[0].cout, 1)
    xor = xor_for(head.in_lo, head.in_hi)
    rq = requant_of(head)
    w, spread = pack_head(head, channels)
    classes_p = pad_channels(head.cout)
    w = _pad_cols(w, classes_p)
    if quad:   # one dot per quad (no reshape to pixel rows): block s is sub-pixel s
        w, spread = np.kron(np.eye(4, dtype=np.int64), w[::spread]), 1
    corr = xor * head.weight.astype(np.int64).reshape(head.cout, -1).sum(axis=1)
    b = safe_bias(head.bias.astype(np.int64) + corr,
                  accumulator_bound(head.weight, head.in_lo, head.in_hi, xor), rq, "head")
    return HeadStage(weight=w.astype(np.int8), bias=_pad_vec(b, classes_p), requant=rq, xor=xor,
                     classes=head.cout, classes_p=classes_p, spread=spread, quad=quad)

"""Design gen8: the whole integer TinyIceNet per output tile in one launch (``net_tile.cu``).

gen7's plan (the same stages, sources and packed weights), run as one kernel in which each
program computes one tile of the logits through every conv, each stage over the region of its
output that the stages after it read, in shared memory. At batch 1 the per-stage designs spend
3-5 µs per stage on a chain of launch, L2 loads, MMA and stores whatever the work
(bench/gpu_kernels_notes.md, runs 24-30); here that chain is one launch and one input load,
for recomputed halos: at the default 16 x 32 tile the first conv runs over 36 x 52 pixels.

This module sizes the regions (:func:`geometry`), lays out shared memory, writes the kernel
(:func:`kernel_source`: one struct of constants per phase and the call sequence after
``net_tile.cu``), and models the kernel in numpy (:func:`model`: each conv phase's operand
bytes at the kernel's lane addresses, in the kernel's K-step order), so the CPU tests hold
its geometry, padding, pooling, upsampling and K steps to the integer reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from tinyicenet.errors import ConfigError
from tinyicenet.kernels import fragments as F
from tinyicenet.kernels.plan import ConvStage, Plan, apply_requant

#: the kernel's own source (package data); halo_conv.cu's helper section comes first
SOURCE = "net_tile.cu"
#: TH x TW logits per program, warps: 128 programs for a 256² image (an H200 has 132 SMs);
#: 16 warps measured 1.3 µs faster than 8 at 256² x 1 (bench/gpu_kernels_notes.md, run 34)
TILE = (16, 32, 16)
#: shared memory one program may use on Hopper (sm_90: 227 KB per block)
MAX_SMEM = 227 * 1024


def group_size(n_tiles: int) -> int:
    """At most this many m-tiles per warp and group for a stage of ``n_tiles`` n-tiles: 4, and
    fewer where the accumulators would pass 64 registers (8 n-tiles: 2; 16: 1)."""
    return max(1, min(4, 16 // n_tiles))


@dataclass(frozen=True)
class Region:
    """Pixels ``rows x cols`` at resolution level ``level`` from ``(oy, ox)``, relative to the
    tile's origin at that level (full-resolution origin ``>> level``)."""

    level: int
    oy: int
    ox: int
    rows: int
    cols: int

    @property
    def pixels(self) -> int:
        return self.rows * self.cols

    def grow(self) -> Region:
        """The 3x3 conv's source region: one more pixel on every side."""
        return Region(self.level, self.oy - 1, self.ox - 1, self.rows + 2, self.cols + 2)

    def halve(self) -> Region:
        """The low-resolution pixels a nearest-2x upsample of this region reads."""
        y0, x0 = self.oy >> 1, self.ox >> 1
        y1, x1 = (self.oy + self.rows - 1) >> 1, (self.ox + self.cols - 1) >> 1
        return Region(self.level + 1, y0, x0, y1 - y0 + 1, x1 - x0 + 1)

    def double(self) -> Region:
        """The full-resolution pixels a 2x2 pool of this region reads."""
        return Region(self.level - 1, 2 * self.oy, 2 * self.ox, 2 * self.rows, 2 * self.cols)

    def union(self, other: Region) -> Region:
        y0, x0 = min(self.oy, other.oy), min(self.ox, other.ox)
        y1 = max(self.oy + self.rows, other.oy + other.rows)
        x1 = max(self.ox + self.cols, other.ox + other.cols)
        return Region(self.level, y0, x0, y1 - y0, x1 - x0)

    def offset_in(self, outer: Region) -> tuple[int, int]:
        """This region's origin inside ``outer`` (which must contain it)."""
        dy, dx = self.oy - outer.oy, self.ox - outer.ox
        if self.level != outer.level or dy < 0 or dx < 0 or dy + self.rows > outer.rows \
                or dx + self.cols > outer.cols:
            raise AssertionError(f"{self} is not inside {outer}")
        return dy, dx


@dataclass(frozen=True)
class Geometry:
    """Where every stage of one program runs and where its data lives.

    ``conv``: each stage's output region; ``buffers``: name -> (region, channels, stored
    offset, shared-memory offset) for ``input`` (2-byte channel pairs), ``encoder<i>`` (the
    encoder's output, its skip and pool source), ``pooled<i>`` (level i) and
    ``upsampled<i>`` (the stage of level i + 1 written out at level i); ``weights``: stage
    name -> shared-memory offset; ``smem``: bytes in all."""

    tile: tuple[int, int, int]
    conv: dict[str, Region]
    buffers: dict[str, tuple[Region, int, int, int]]
    weights: dict[str, int]
    smem: int


def pixel_bytes(channels: int) -> int:
    """Bytes from one pixel to the next in a buffer (``net_tile.cu``'s phase constants PB,
    UPB, SPB and OPB): 16 more than the channels from 32 channels on, so that the 8 pixels an
    ldmatrix matrix reads fall on distinct shared-memory bank groups instead of 2- and 4-way
    conflicts (decoder1 3.6 µs instead of 4.6 at 256² x 1: bench/gpu_kernels_notes.md,
    run 34)."""
    return channels + 16 if channels >= 32 else channels


def weight_bytes(stage: ConvStage) -> int:
    """Bytes of the stage's packed weights (fragments.pack_conv)."""
    if F.is_stem(stage):
        return 32 * stage.cout_p
    return 9 * sum(s.channels for s in stage.sources) * stage.cout_p


def levels(plan: Plan) -> int:
    """Encoder levels of the plan's network (its stride is 2 ** levels)."""
    return plan.stride.bit_length() - 1


def check_plan(plan: Plan) -> dict[str, ConvStage]:
    """The plan's stages by name, or ConfigError where gen8 cannot run it: it needs gen7's
    stages (a CUDA C++ first conv on 2 input channels, halo convs after it)."""
    stages = {s.name: s for s in plan.stages}
    names = ([f"encoder{i}" for i in range(levels(plan))] + ["bottleneck"]
             + [f"decoder{i}" for i in reversed(range(levels(plan)))])
    if list(stages) != names or not F.is_stem(plan.stages[0]) \
            or not all(s.halo for s in plan.stages):
        raise ConfigError(f"{plan.name}: design gen8 runs gen7's stages (a 2-channel input, "
                          "CUDA C++ convs throughout); this plan has "
                          f"{', '.join(s.name for s in plan.stages)}")
    return stages


def geometry(plan: Plan, tile: tuple[int, int, int] = TILE) -> Geometry:
    """Regions and shared-memory layout of one program of ``plan`` on ``tile``."""
    stages = check_plan(plan)
    th, tw, warps = (int(v) for v in tile)
    depth = levels(plan)
    if th <= 0 or tw <= 0 or th % plan.stride or tw % plan.stride or warps <= 0:
        raise ConfigError(f"gen8 tile {tile}: TH and TW must be positive multiples of the "
                          f"model stride {plan.stride}, warps positive")
    conv: dict[str, Region] = {}
    up_need: dict[int, Region] = {}
    region = Region(0, 0, 0, th, tw)
    for lv in range(depth):                  # decoders top down: each reads region + 1
        conv[f"decoder{lv}"] = region
        up_need[lv] = region.grow()
        region = up_need[lv].halve()
    conv["bottleneck"] = region
    pooled = {depth: region.grow()}
    for lv in reversed(range(depth)):        # encoders: their pool and their skip
        need = pooled[lv + 1].double()
        if plan.skips:
            need = need.union(up_need[lv])
        conv[f"encoder{lv}"] = need
        if lv:
            pooled[lv] = need.grow()
    regions = {"input": (conv["encoder0"].grow(), 2, 0)}
    for lv in range(depth):
        s = stages[f"encoder{lv}"]
        regions[f"encoder{lv}"] = (conv[f"encoder{lv}"], s.cout_p, s.out_xor)
        regions[f"pooled{lv + 1}"] = (pooled[lv + 1], s.cout_p, s.out_xor)
        src = stages["bottleneck" if lv + 1 == depth else f"decoder{lv + 1}"]
        regions[f"upsampled{lv}"] = (up_need[lv], src.cout_p, src.out_xor)
    offset, weights = 0, {}
    for s in plan.stages:
        weights[s.name] = offset
        offset += F.round128(weight_bytes(s))
    buffers = {}
    for name, (reg, ch, xor) in regions.items():
        buffers[name] = (reg, ch, xor, offset)
        offset += F.round128(reg.pixels * pixel_bytes(ch))
    return Geometry((th, tw, warps), conv, buffers, weights, offset)


def fitted_geometry(plan: Plan, tile: tuple[int, int, int] = TILE) -> Geometry:
    """:func:`geometry`, or ConfigError where its buffers do not fit in a program's shared
    memory."""
    geo = geometry(plan, tile)
    if geo.smem > MAX_SMEM:
        raise ConfigError(f"{plan.name}: design gen8 on tile {tuple(tile)} needs {geo.smem} "
                          f"bytes of shared memory per program, over {MAX_SMEM}: give a "
                          'smaller tiles={"network": (TH, TW, warps)}')
    return geo


def eligible(plan: Plan, tile: tuple[int, int, int] = TILE) -> bool:
    """True when gen8 can run ``plan`` on ``tile`` (its stages, and shared memory)."""
    try:
        fitted_geometry(plan, tile)
    except ConfigError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# The kernel
# --------------------------------------------------------------------------------------------
def m_tiles(region: Region) -> int:
    """16-pixel m-tiles of a phase over ``region`` (the last one padded)."""
    return -(-region.pixels // 16)


def _struct(name: str, fields: dict[str, int | bool]) -> str:
    body = " ".join(f"static constexpr {'bool' if isinstance(v, bool) else 'int'} {k} = "
                    f"{str(v).lower() if isinstance(v, bool) else v};"
                    for k, v in fields.items())
    return f"struct {name} {{ {body} }};\n"


def _sources(stage: ConvStage, geo: Geometry) -> list[tuple[str, int, int, bool]]:
    """(buffer, byte offset of the view in it, pitch, upsampled) of each source of ``stage``,
    in K-step order: the view is the source pixel under output (0, 0)'s tap (0, 0)."""
    src_region = geo.conv[stage.name].grow()
    out = []
    for s in stage.sources:
        if s.up:
            name = f"upsampled{stage.level}"
        elif stage.name.startswith("decoder"):
            name = f"encoder{stage.level}"
        else:   # an encoder after the first, or the bottleneck
            name = f"pooled{stage.level}"
        reg, ch, _, _ = geo.buffers[name]
        dy, dx = src_region.offset_in(reg)
        if ch != s.channels:
            raise AssertionError(f"{stage.name}: source {name} has {ch} channels, not {s.channels}")
        out.append((name, (dy * reg.cols + dx) * pixel_bytes(ch), reg.cols, s.up))
    return out


def _epilogue(stage: ConvStage, geo: Geometry) -> tuple[int, str | None, dict[str, int]]:
    """(EPI kind, destination buffer, its constants) of ``stage``."""
    region = geo.conv[stage.name]
    if stage.head is not None:
        hd = stage.head
        return 2, None, dict(NCLS=hd.classes, NCLS_T=F.class_tiles(hd),
                             H_RSHIFT=hd.requant.rshift, H_LO=hd.requant.lo,
                             H_HI=hd.requant.hi, H_XOR=hd.xor)
    if stage.name.startswith("encoder"):
        return 0, stage.name, {}
    dst = f"upsampled{stage.level - 1}"
    reg = geo.buffers[dst][0]
    return 1, dst, dict(UROWS=reg.rows, UCOLS=reg.cols, UOY=2 * region.oy - reg.oy,
                        UOX=2 * region.ox - reg.ox)


def kernel_source(plan: Plan, tile: tuple[int, int, int] = TILE, wide: bool = False,
                  clocks: bool = False) -> str:
    """CUDA source of kernel ``net_tile`` for ``plan`` on ``tile``: halo_conv.cu's helpers,
    net_tile.cu, the phase constants and the kernel (arguments: the float input, per stage its
    packed weights and bias, the head's fragments and bias, the logits, H, W, tiles per row,
    tiles per image, the input scale). ``clocks``: one more argument, ``uint64 [programs,
    len(phase_labels(plan))]``, where thread 0 of each program writes the global timer after
    each phase (a profile; off in the runner)."""
    geo = fitted_geometry(plan, tile)
    th, tw, warps = geo.tile
    common = F.sections()[0]
    net = resources.files("tinyicenet.kernels").joinpath(SOURCE).read_text()
    q = plan.quant
    parts = [f"#define THREADS {32 * warps}\n#define WARPS {warps}\n", common, net, "\n"]
    inp = geo.buffers["input"][0]
    parts.append(_struct("Q0", dict(OY=inp.oy, OX=inp.ox, ROWS=inp.rows, COLS=inp.cols,
                                    LO=q.lo, HI=q.hi)))
    body: list[str] = []
    labels = phase_labels(plan)

    def at(name: str, extra: int = 0) -> str:
        return f"smem + {geo.buffers[name][3] + extra}"

    stamps = iter(range(len(labels)))

    def stamp() -> None:
        k = next(stamps)
        if clocks:
            body.append(f"    stamp(clocks, {k}, {len(labels)});\n")

    n = len(plan.stages)
    stamp()
    for k, s in enumerate(plan.stages):
        body.append(f"    stage_weights<{weight_bytes(s)}>(smem + {geo.weights[s.name]}, w{k});\n")
    body.append(f"    load_input<Q0>({at('input')}, x, t, qscale);\n")
    for k, s in enumerate(plan.stages):
        region = geo.conv[s.name]
        nt = s.cout_p // 8
        epi, dst, extra = _epilogue(s, geo)
        fields: dict[str, int | bool] = dict(
            NT=nt, NPIX=region.pixels, COLS=region.cols,
            MB=min(group_size(nt), -(-m_tiles(region) // warps)),
            RSHIFT=s.requant.rshift, LO=s.requant.lo, HI=s.requant.hi, OUT_XOR=s.out_xor,
            WIDE=bool(wide), EPI=epi, LEVEL=s.level, OY=region.oy, OX=region.ox,
            OPB=pixel_bytes(s.cout_p), **extra)
        if s.level and not s.name.startswith("decoder"):   # its pooled source first
            reg, ch, xor, _ = geo.buffers[f"pooled{s.level}"]
            ereg = geo.buffers[f"encoder{s.level - 1}"][0]
            sy, sx = reg.double().offset_in(ereg)
            parts.append(_struct(f"P{k}", dict(C=ch, PB=pixel_bytes(ch), ROWS=reg.rows,
                                                COLS=reg.cols, LEVEL=reg.level, OY=reg.oy,
                                                OX=reg.ox, SPITCH=ereg.cols, SOY=sy, SOX=sx,
                                                XOR=xor)))
            body.append("    __syncthreads();\n")
            stamp()
            body.append(f"    pool_phase<P{k}>({at(f'encoder{s.level - 1}')}, "
                        f"{at(f'pooled{s.level}')}, t);\n")
        body.append(f"    cp_wait<{n - 1 - k}>();\n    __syncthreads();\n")
        stamp()
        wsm = f"smem_u32(smem + {geo.weights[s.name]})"
        out = at(dst) if dst else "nullptr"
        if F.is_stem(s):
            fields["QPITCH"] = inp.cols
            parts.append(_struct(f"S{k}", fields))
            body.append(f"    stem_phase<S{k}>(smem_u32({at('input')}), {wsm}, b{k}, {out}, t);\n")
            continue
        views = {True: "0u", False: "0u"}
        for name, off, pitch, up in _sources(s, geo):
            fields["UPITCH" if up else "SPITCH"] = pitch
            fields["UPB" if up else "SPB"] = pixel_bytes(geo.buffers[name][1])
            views[up] = f"smem_u32({at(name, off)})"
        up, sk = F.sources(s)
        fields.update(CUP=up.channels if up else 0, CSK=sk.channels if sk else 0)
        for key in ("UPITCH", "SPITCH", "UPB", "SPB"):
            fields.setdefault(key, 0)
        parts.append(_struct(f"S{k}", fields))
        head = "hfrag, hbias, logits" if epi == 2 else "nullptr, nullptr, nullptr"
        body.append(f"    conv_phase<S{k}>({views[True]}, {views[False]}, {wsm}, b{k}, {out}, "
                    f"{head}, t);\n")
    if clocks:
        body.append("    __syncthreads();\n")
        stamp()
    params = ", ".join(f"const i8* __restrict__ w{k}, const int* __restrict__ b{k}"
                       for k in range(n))
    parts.append(
        f'extern "C" __global__ void __launch_bounds__({32 * warps}, 1) net_tile('
        f"const float* __restrict__ x, {params}, const u32* __restrict__ hfrag, "
        "const int* __restrict__ hbias, i8* __restrict__ logits, int H, int W, int tiles_x, "
        "int tiles_img, float qscale" + (", unsigned long long* clocks" if clocks else "")
        + ") {\n"
        "    extern __shared__ __align__(128) i8 smem[];\n"
        "    const int n = blockIdx.x / tiles_img, r = blockIdx.x - n * tiles_img;\n"
        f"    const Tile t{{n, (r / tiles_x) * {th}, (r % tiles_x) * {tw}, H, W}};\n"
        + "".join(body) + "}\n")
    return "".join(parts)


def phase_labels(plan: Plan) -> list[str]:
    """What each stamp of :func:`kernel_source` with ``clocks`` ends: "start", then the
    input load (with the first weights), each stage, each pool before its conv."""
    out, prev = ["start"], "input"
    for s in plan.stages:
        out += [prev, f"pool{s.level}"] if s.level and not s.name.startswith("decoder") \
            else [prev]
        prev = s.name
    return out + [prev]


# --------------------------------------------------------------------------------------------
# numpy model of one launch (CPU tests)
# --------------------------------------------------------------------------------------------
def kernel_steps(channels: int, up: bool) -> list[tuple[tuple[int, int], ...]]:
    """The K steps of one source as ``for_each_kstep`` loops over them (transcribed from the
    kernel, not from ``fragments.ksteps``, which packs the weights: a model that reads the
    packed weights in this order tests that the two agree): per step, its (tap, channel)
    slices of 16, one for K = 16, two for K = 32."""
    if channels == 16 and up:
        return [((tap, 0),) for tap in range(9)]
    if channels == 16:
        return ([((dx, 0), (3 + dx, 0)) for dx in range(3)]
                + [((6 + dx, 0),) for dx in range(3)])
    return [((tap, c0), (tap, c0 + 16)) for tap in range(9) for c0 in range(0, channels, 32)]


def region_addresses(npix: int, cols: int, pitch: int, channels: int, up: bool,
                     step: tuple[tuple[int, int], ...], stride: int) -> np.ndarray:
    """The kernel's ldmatrix row addresses of one K step (``region_bases`` plus the step's
    offset in ``region_source``), bytes from the source view (``stride`` bytes per pixel):
    ``[npix, halves]`` for the region's pixels (the K = 32 step's second half from the lane
    base, not from ``step``)."""
    p = np.arange(npix)
    r, c = p // cols, p % cols
    pair = (0 if up else pitch * stride) if channels == 16 else 16
    tap, ch = step[0]
    off = ((tap // 3) * pitch + tap % 3) * stride + ch
    base = (r * pitch + c) * stride + off
    return np.stack([base + pair * h for h in range(len(step))], axis=1)


def _inside(region: Region, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """``[rows, cols]``: which pixels of ``region`` (tile at full-resolution y0, x0) lie in
    the image of h x w full-resolution pixels."""
    lv = region.level
    y = (y0 >> lv) + region.oy + np.arange(region.rows)
    x = (x0 >> lv) + region.ox + np.arange(region.cols)
    return ((y >= 0) & (y < h >> lv))[:, None] & ((x >= 0) & (x < w >> lv))[None, :]


def _conv(stage: ConvStage, views: list[tuple[np.ndarray, int, int, bool]], region: Region,
          frags: np.ndarray) -> np.ndarray:
    """Accumulators ``[pixels, cout_p]`` of a conv phase from its source views (stored buffer
    ``[pixels, channels]``, view offset, pitch, upsampled), K step by K step at the kernel's
    addresses in the buffer laid out as in shared memory (:func:`pixel_bytes`)."""
    cout = stage.cout_p
    acc = np.zeros((region.pixels, cout), dtype=np.int64)
    pos = 0
    for (buf, off, pitch, up), src in zip(views, stage.sources):
        stride = pixel_bytes(src.channels)
        flat = np.zeros((len(buf), stride), dtype=np.int64)
        flat[:, :src.channels] = buf
        flat = flat.ravel()
        for step in kernel_steps(src.channels, up):
            addr = off + region_addresses(region.pixels, region.cols, pitch, src.channels, up,
                                          step, stride)
            a = flat[addr[:, :, None] + np.arange(16)].reshape(region.pixels, -1)
            kw = 16 * len(step)
            wk = F._unpack(frags[pos:pos + cout * kw], kw, cout)
            pos += cout * kw
            acc += a @ wk
    return acc


def model(plan: Plan, x: np.ndarray, tile: tuple[int, int, int] = TILE,
          wide: bool = False) -> np.ndarray:
    """What the gen8 kernel computes: int8 logits ``[n, classes, h, w]`` for float input ``x``.

    Per program: the quantised input region, then each phase as the kernel runs it (the
    stem's A bytes at ``stem_step``'s lane offsets, conv phases at :func:`region_addresses`,
    weights read back through the B layout, bias and stores by ``fragments.epilogue``); pools
    and upsampled copies on the stored values, the stored form of 0 outside the image; the
    head by ``fragments.model_head``."""
    geo = geometry(plan, tile)
    th, tw, _ = geo.tile
    n, _, h, w = x.shape
    frags = {s.name: F.pack_conv(s, wide).astype(np.int64) for s in plan.stages}
    logits = np.zeros((n, plan.classes, h, w), dtype=np.int64)
    xf = np.asarray(x, np.float32)
    for b in range(n):
        for y0 in range(0, h, th):
            for x0 in range(0, w, tw):
                bufs: dict[str, np.ndarray] = {}
                inp = geo.buffers["input"][0]
                raw = np.zeros((2, inp.rows, inp.cols), np.float32)
                ys, xs = y0 + inp.oy + np.arange(inp.rows), x0 + inp.ox + np.arange(inp.cols)
                ok = _inside(inp, y0, x0, h, w)
                raw[:, ok] = xf[b][:, ys.clip(0, h - 1)][:, :, xs.clip(0, w - 1)][:, ok]
                q = np.where(ok, F.quantise(plan.quant, raw), 0)          # [2, rows, cols]
                bufs["input"] = q.transpose(1, 2, 0).reshape(-1, 2)
                for s in plan.stages:
                    region = geo.conv[s.name]
                    if F.is_stem(s):
                        acc = _stem(bufs["input"].ravel(), region, inp.cols, frags[s.name],
                                    s.cout_p)
                    else:
                        if s.name.startswith("encoder") or s.name == "bottleneck":
                            _pool(bufs, geo, s.level, y0, x0, h, w)
                        views = [(bufs[name], off, pitch, up)
                                 for name, off, pitch, up in _sources(s, geo)]
                        acc = _conv(s, views, region, frags[s.name])
                    bias_ch, stored = F.epilogue(s.cout_p, wide)
                    v = apply_requant(acc + s.bias.astype(np.int64)[bias_ch], s.requant)
                    v = v[:, stored]                                     # channel order
                    keep = _inside(region, y0, x0, h, w).ravel()
                    if s.head is not None:
                        y = v.reshape(1, region.rows, region.cols, -1)
                        lg = F.model_head(s.head, y, wide)[0]
                        yh, xw = min(th, h - y0), min(tw, w - x0)
                        logits[b, :, y0:y0 + yh, x0:x0 + xw] = lg[:, :yh, :xw]
                        continue
                    stored_v = np.where(keep[:, None], v, 0) - s.out_xor
                    epi, dst, _ = _epilogue(s, geo)
                    if epi == 0:
                        bufs[dst] = stored_v
                    else:
                        ureg, ch, _, _ = geo.buffers[dst]
                        # upsampled pixel (y, x) copies output pixel ((y + oy) >> 1) - region
                        yy = ((ureg.oy + np.arange(ureg.rows)) >> 1) - region.oy
                        xx = ((ureg.ox + np.arange(ureg.cols)) >> 1) - region.ox
                        grid = stored_v.reshape(region.rows, region.cols, ch)
                        bufs[dst] = grid[yy][:, xx].reshape(-1, ch)
    return logits.astype(np.int8)


def _stem(q: np.ndarray, region: Region, qpitch: int, frags: np.ndarray,
          cout: int) -> np.ndarray:
    """The stem phase's accumulators: the A bytes ``stem_phase`` loads (two 16-bit loads per
    lane for taps 2 tq, 2 tq + 1, one for tap 8) times the im2col weights."""
    p = np.arange(region.pixels)
    base = ((p // region.cols) * qpitch + p % region.cols) * 2
    a = np.zeros((region.pixels, 32), dtype=np.int64)
    for tq in range(4):
        k0, k1 = 2 * tq, 2 * tq + 1
        o0 = ((k0 // 3) * qpitch + k0 % 3) * 2
        o1 = ((k1 // 3) * qpitch + k1 % 3) * 2
        o8 = (2 * qpitch + 2) * 2
        for i in range(2):
            a[:, 4 * tq + i] = q[base + o0 + i]
            a[:, 4 * tq + 2 + i] = q[base + o1 + i]
            a[:, 16 + 4 * tq + i] = q[base + o8 + i]
    return a @ F._unpack(frags, 32, cout)


def _pool(bufs: dict[str, np.ndarray], geo: Geometry, level: int, y0: int, x0: int, h: int,
          w: int) -> None:
    """``pool_phase`` into ``pooled<level>`` from ``encoder<level - 1>``."""
    reg, ch, xor, _ = geo.buffers[f"pooled{level}"]
    ereg = geo.buffers[f"encoder{level - 1}"][0]
    sy, sx = reg.double().offset_in(ereg)
    e = bufs[f"encoder{level - 1}"].reshape(ereg.rows, ereg.cols, ch)
    win = e[sy:sy + 2 * reg.rows, sx:sx + 2 * reg.cols]
    pooled = win.reshape(reg.rows, 2, reg.cols, 2, ch).max(axis=(1, 3))
    keep = _inside(reg, y0, x0, h, w)
    bufs[f"pooled{level}"] = np.where(keep[:, :, None], pooled, -xor).reshape(-1, ch)


"""Work and bytes of each kernel stage of a plan: the two numbers behind a roofline per stage.

For a stage at its output resolution (``pixels`` output pixels):

* ``macs``: multiply-accumulates of the network itself (real channels, 3x3 taps, head);
* ``mma_macs``: what the tensor cores execute for the plan's packing (padded channels, run
  slices' zero pixels, parity taps and planes, im2col padding): ``rows x cout_p`` per pixel;
* ``gathered_bytes``: bytes the kernel copies from global memory into its operand tiles (every
  tap re-reads its bytes: the im2col traffic that L2 serves; a halo conv copies its tile's
  halo once, counted at fragments.TILE), plus what it writes;
* ``compulsory_bytes``: each input tensor read once, each output written once (the fewest
  bytes any design with these stored tensors moves).

Counting only (numpy-free arithmetic on the plan); the benchmark divides by measured stage
times and compares with the measured ceilings (int8 GEMM rate, copy bandwidth). gen8 runs the
network as one kernel: :func:`network_traffic` counts it as one stage, ``network``, whose
``mma_macs`` include the halos each program recomputes.
"""

from __future__ import annotations

from typing import Any

from tinyicenet.kernels import net_tile
from tinyicenet.kernels.fragments import TILE
from tinyicenet.kernels.plan import ConvStage, Plan


def _source_bytes_per_pixel(src: Any) -> tuple[int, int]:
    """(gathered, compulsory) bytes per output pixel of one source."""
    if src.mode == "im2col":
        return 9 * src.channels * 4, src.channels * 4          # fp32 input
    if src.mode == "stem":   # the fp32 halo of the program's tile (at fragments.TILE)
        th, tw, _ = TILE
        return (th + 2) * (tw + 2) * src.channels * 4 / (th * tw), src.channels * 4
    compulsory = src.channels / 4 if src.up else src.channels   # low-res: a quarter per pixel
    if src.mode == "run":
        return 3 * src.bk, compulsory
    if src.mode in ("quadrun", "window"):  # 4 rows: of a 4-pixel run per quad / of a window
        return src.bk, compulsory
    if src.mode == "halo":   # the program's halo, copied once (at fragments.TILE)
        th, tw, _ = TILE
        halo = (th // 2 + 2) * (tw // 2 + 2) if src.up else (th + 2) * (tw + 2)
        return halo * src.channels / (th * tw), compulsory
    nch = -(-src.channels // src.bk)
    taps = {"parity": 4, "quadup": 9 / 4, "quadsplit": 9 / 4, "quadtap": 4}.get(src.mode, 9)
    return taps * nch * src.bk, compulsory


def stage_traffic(plan: Plan, n: int, h: int, w: int) -> dict[str, dict[str, float]]:
    """Per stage name: pixels, macs, mma_macs, gathered_bytes, compulsory_bytes for a batch of
    ``n`` images of ``h`` x ``w`` (plus ``quantize`` when the plan has a quantise kernel)."""
    out: dict[str, dict[str, float]] = {}
    if not plan.quant_fused:
        px = n * h * w
        c = plan.quant.channels
        b = px * (4 * plan.in_channels + c)
        out["quantize"] = {"pixels": px, "macs": 0, "mma_macs": 0, "gathered_bytes": b,
                           "compulsory_bytes": b}
    for stage in plan.stages:
        out[stage.name] = _stage(stage, n * (h >> stage.level) * (w >> stage.level))
    return out


def _stage(stage: ConvStage, px: int) -> dict[str, float]:
    real_in = sum(s.real for s in stage.sources)
    macs = 9 * real_in * stage.cout
    if stage.quad:   # per quad: rows x 4 cout_p (+ the hi plane of the upsampled source)
        up = stage.sources[0]
        mma = (stage.weight.shape[0] + up.rows * stage.up_planes) * stage.cout_p
    else:
        rows = sum(s.rows for s in stage.sources if s.mode != "parity")
        mma = rows * stage.cout_p
    gathered = compulsory = 0
    for s in stage.sources:
        g, c = _source_bytes_per_pixel(s)
        gathered += g
        compulsory += c
        if s.mode == "parity":
            mma += s.rows * stage.cout_p * stage.up_planes   # the hi plane reuses the tile
    written = 0
    if stage.out:
        written += stage.cout_p
    if stage.pool:
        written += stage.cout_p / 4
    if stage.head is not None:
        macs += stage.head.classes * stage.cout
        mma += stage.head.weight.size // (4 if stage.head.quad else 1)   # per pixel
        written += stage.head.classes
    return {"pixels": px, "macs": macs * px, "mma_macs": mma * px,
            "gathered_bytes": (gathered + written) * px,
            "compulsory_bytes": (compulsory + written) * px}


def network_traffic(plan: Plan, n: int, h: int, w: int,
                    tile: tuple[int, int, int] = net_tile.TILE) -> dict[str, dict[str, float]]:
    """gen8's one stage, ``network``, for a batch of ``n`` images of ``h`` x ``w``: the
    network's own macs; mma_macs over each program's regions (padded m-tiles, halos
    recomputed); gathered bytes: each program's fp32 input region and packed weights, and the
    logits; compulsory: the input once and the logits."""
    geo = net_tile.geometry(plan, tile)
    th, tw, _ = geo.tile
    programs = n * -(-h // th) * -(-w // tw)
    per_program = 0
    for s in plan.stages:
        mma = net_tile.weight_bytes(s) + (s.head.weight.size if s.head is not None else 0)
        per_program += net_tile.m_tiles(geo.conv[s.name]) * 16 * mma
    macs = sum(v["macs"] for v in stage_traffic(plan, n, h, w).values())
    px = n * h * w
    logits = px * plan.classes
    inp = geo.buffers["input"][0].pixels * 4 * plan.in_channels
    weights = sum(net_tile.weight_bytes(s) for s in plan.stages)
    return {"network": {"pixels": px, "macs": macs, "mma_macs": programs * per_program,
                        "gathered_bytes": programs * (inp + weights) + logits,
                        "compulsory_bytes": px * 4 * plan.in_channels + logits}}

"""``IntTinyIceNetGPU``: the integer TinyIceNet on a CUDA GPU through the custom kernels.

Triton kernels (``triton_conv``), except the gen6 design's 3x3 convs after the first and gen7's
every conv (2-channel inputs; others keep gen6's first conv), which are CUDA C++
(``halo_conv.cu`` through ``cuda_halo``); gen7 can also run a call as one fused persistent
kernel (``fused=True``); gen8 runs a call as one kernel in which each program computes the
whole network for one output tile (``net_tile.cu``).

Built from the integer reference model (or an :class:`~tinyicenet.kernels.plan.IntNet`); its
int8 output equals the reference's value for value. Per input shape it keeps the bordered
activation buffers and, for CUDA tensors, CUDA graphs of the whole launch sequence (the
network is a handful of short kernels: at batch 1 launch gaps would dominate).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyicenet.errors import ConfigError
from tinyicenet.kernels import fragments, net_tile
from tinyicenet.kernels import cuda_halo
from tinyicenet.kernels.cuda_halo import FusedKernel, HaloKernel, NetTileKernel, check_tile
from tinyicenet.kernels.fragments import sources
from tinyicenet.kernels.emulate import SLACK
from tinyicenet.kernels.plan import (AUTO, AUTO_FALLBACK, DESIGNS, HALO_DESIGNS, IntNet, Plan,
                                     lower, resolve_design)

INDEX_LIMIT = 2**31 - 1024  # the kernels index with int32
#: graphs kept per input shape that read the caller's tensor in place (keyed by its address);
#: beyond that, one more graph copies the input into its own static buffer first
GRAPHS_IN_PLACE = 4


def wide_stores(design: str, wide: bool) -> bool | None:
    """The store layout a call of ``design`` runs with the option ``wide``: None where the
    design has no halo convs (the layout is theirs alone)."""
    return bool(wide) if design in HALO_DESIGNS else None


@dataclass
class _Lowered:
    """One design's plan and its device tensors (per stage: weight, bias, head weight, head
    bias, parity/quad weights)."""

    design: str
    plan: Plan
    tensors: list[list[Any]]
    quad_stages: set[str]
    halo_stages: set[str] = field(default_factory=set)


@dataclass
class _State:
    n: int
    h: int
    w: int
    low: _Lowered
    buffers: dict[str, Any]
    out: Any
    static_in: Any = None
    #: the fused kernel's grid-wait counters (None: one launch per stage)
    sync: Any = None
    graphs: OrderedDict = field(default_factory=OrderedDict)   # input address -> CUDAGraph
    copy_graph: Any = None


def describe(model: Any) -> IntNet:
    """The kernels' view of an integer model: an IntNet as is, else the integer reference."""
    if isinstance(model, IntNet):
        return model
    from tinyicenet.kernels.adapt import from_intref
    return from_intref(model)


class IntTinyIceNetGPU:
    """Run the integer TinyIceNet with custom kernels.

    ``forward_int(x)`` takes float32 ``[N, C, H, W]`` (the network input before its quantiser)
    and returns the head's int8 logits ``[N, classes, H, W]``; calling the object returns them
    dequantised (float32, ``int * 2**output_exp``). With ``graphs=True`` each call replays a
    CUDA graph: one that reads the given tensor where it lies (a few input addresses per shape
    are remembered), else one that first copies it into a static buffer.
    """

    #: default launch shape: TH x TW output pixels per program (128 rows of the MMA), warps
    TILE = (8, 16, 4)
    #: shapes that measured fastest per stage on an H200 for large inputs (bench notes, v2)
    LARGE_TILES = {"encoder0": (8, 32, 4, 3), "encoder1": (8, 32, 4, 3),
                   "bottleneck": (8, 32, 4, 3), "decoder1": (16, 16, 8, 3),
                   "decoder0": (8, 32, 4, 3)}
    #: full-resolution pixels per call from which LARGE_TILES apply (256² x 64 = 4.2 M)
    LARGE_PIXELS = 2 ** 22
    #: gen2-gen5 shapes for large inputs (parity decoders: TH x TW pixels of one parity
    #: class): the fastest per stage over 1024² x 16 and 256² x 64 in run 10 (bench notes)
    LARGE_TILES_GEN2 = {"encoder0": (8, 32, 4, 3), "encoder1": (8, 32, 4, 3),
                        "bottleneck": (8, 16, 8, 4), "decoder1": (8, 16, 4, 3),
                        "decoder0": (8, 32, 4, 3)}
    #: quad decoders (gen3-gen5) of small calls: TH x TW quads (4 x the pixels, N = 4 x
    #: channels), 4 pipeline stages (fastest at 1024² x 16 and at 256² x 1 in run 7)
    QUAD_TILE = (8, 16, 4, 4)
    #: quad decoders of large calls: 4 x 32 quads (fastest at 1024² x 16 and 256² x 64 in
    #: run 13)
    LARGE_QUAD_TILE = (4, 32, 4, 4)
    #: software-pipelining depth of the K loops
    STAGES = 3
    #: programmatic dependent launches by default (measured: bench/gpu_kernels_notes.md)
    PDL = False
    #: the halo convs' 4-byte output stores by default (fragments.store_channels): 2.2 % less
    #: kernel time at 1024² x 16, 1.1 µs less GPU time at 256² x 1 (run 30, bench notes)
    WIDE = True
    QUANT_BLOCK = 256
    #: halo convs (gen6, gen7, CUDA C++): TH x TW output pixels per program, warps; per stage for
    #: (small, large) calls, the fastest of nine shapes at 256² x 1 and at 1024² x 16 in run 20;
    #: gen7's first conv (encoder0) of five to nine shapes in runs 23-24; small calls'
    #: decoder0 of 13 shapes in run 44 (bench notes)
    HALO_TILE = fragments.TILE
    #: gen8's program: TH x TW logits, warps (:data:`net_tile.TILE`; ``tiles={"network": ...}``)
    NET_TILE = net_tile.TILE
    HALO_TILES = ({"encoder0": (8, 16, 4), "encoder1": (8, 16, 4), "bottleneck": (8, 16, 4),
                   "decoder1": (8, 16, 4), "decoder0": (8, 16, 4)},
                  {"encoder0": (16, 32, 4), "encoder1": (8, 16, 2), "bottleneck": (8, 16, 2),
                   "decoder1": (8, 16, 2), "decoder0": (8, 16, 1)})

    def __init__(self, model: Any, device: Any = "cuda", *, graphs: bool = True,
                 tiles: dict[str, tuple[int, ...]] | None = None,
                 stages: int | None = None, design: str | None = None,
                 pdl: bool | None = None, fused: bool = False,
                 wide: bool | None = None) -> None:
        """``tiles`` overrides the launch shape per stage name (or ``"*"`` for all):
        ``(TH, TW, warps)``, ``(TH, TW, warps, pipeline stages)`` or ``(..., stages, vec)``
        with ``vec`` the widest activation copy in bytes (16: cp.async bypassing L1;
        8: cached in L1, where the other taps find the data again). ``design`` picks the
        kernel design (``plan.DESIGNS``, or ``"auto"``, the default: per call size,
        ``plan.resolve_design``); ``pdl`` launches
        every conv as a programmatic dependent launch (Hopper; default :attr:`PDL`, never in
        Triton's interpreter). ``fused`` runs each call whose every conv is CUDA C++ (gen7,
        2-channel inputs; under "auto", its small calls) as one persistent kernel with
        grid-wide waits between the stages, on the small calls' tiles unless ``tiles`` says
        otherwise (measured slower than per-stage launches at every size tried:
        bench/gpu_kernels_notes.md, so off by default). ``wide`` packs the halo convs'
        output columns for 4-byte stores (default :attr:`WIDE`). A named tile for a halo conv
        (gen6 / gen7: encoder0 too in gen7) must suit it (:func:`cuda_halo.check_tile`);
        gen8's program tile is ``tiles["network"]`` (default :attr:`NET_TILE`), and gen8 refuses
        a net or tile whose buffers do not fit in shared memory."""
        import torch
        from tinyicenet.kernels import triton_conv  # (fail early without triton)

        self.num_stages = int(stages or self.STAGES)
        self.tiles: dict[str, tuple[int, int, int, int, int]] = {}
        for name, t in (tiles or {}).items():
            t = tuple(int(v) for v in t)
            th, tw = t[0], t[1]
            if len(t) not in (3, 4, 5) or th % 2 or tw % 2 or th * tw < 16 \
                    or (th * tw) & (th * tw - 1) or (len(t) == 5 and t[4] not in (4, 8, 16)):
                raise ConfigError(f"launch tile {t} for {name}: give (TH, TW, warps[, stages"
                                  "[, vec]]) with even sides, a power-of-two pixel count >= 16 "
                                  "and vec 4, 8 or 16")
            self.tiles[name] = (th, tw, t[2], t[3] if len(t) > 3 else self.num_stages,
                                t[4] if len(t) > 4 else 16)
        self.net = describe(model)
        self.design = design or AUTO
        if self.design != AUTO and self.design not in DESIGNS:
            raise ConfigError(f"unknown kernel design {self.design!r}; choose auto or one of "
                              f"{', '.join(DESIGNS)}")
        self.device = torch.device(device)
        #: the CUDA C++ kernels (gen6 - gen8) need a CUDA device and CuPy ("auto" falls back
        #: without);
        #: on "meta" (kernel_resources.py, which compiles them with nvcc) they count as there
        self.cuda_cpp = self.device.type == "meta" or (self.device.type == "cuda"
                                                       and cuda_halo.available())
        if self.design in HALO_DESIGNS and self.device.type not in ("cuda", "meta"):
            raise ConfigError(f"kernel design {self.design} runs CUDA C++ kernels: it needs a "
                              f"CUDA device (and CuPy), not {self.device.type}")
        self.fused = bool(fused)
        self.wide = self.WIDE if wide is None else bool(wide)
        if self.fused and self.design not in (AUTO, "gen7"):
            raise ConfigError(f"fused=True runs gen7's CUDA C++ convs as one kernel; design "
                              f"{self.design} launches each stage")
        if self.design == AUTO and self.device.type == "cuda" and not self.cuda_cpp:
            warnings.warn("CuPy is not installed: the kernels run the Triton-only designs "
                          f"{' / '.join(AUTO_FALLBACK)} instead of gen7 / gen6 (pip install "
                          "cupy-cuda13x, or cupy-cuda12x for CUDA 12)", stacklevel=2)
        self._lowered: dict[str, _Lowered] = {}
        self._gen8_tile: tuple[int, int, int] | None = None
        if self.design == "gen8":
            self._net_tile()   # fail early where gen8 cannot run this net
        #: the plan of small calls; shape-independent facts (classes, stride) are any plan's
        self.plan: Plan = self._lower(self.resolve(0)).plan
        self.pdl = (self.PDL if pdl is None else bool(pdl)) and self.device.type == "cuda" \
            and not triton_conv.INTERPRETED
        self.graphs = bool(graphs) and self.device.type == "cuda"
        self.output_scale = float(2.0 ** self.plan.output_exp)

        self._dummy = torch.zeros(256, dtype=torch.int8, device=self.device)
        self._halo_kernels: dict[tuple, Any] = {}
        #: SMs of the GPU, for the halo convs' persistent grids (None off CUDA)
        self._sms = (torch.cuda.get_device_properties(self.device).multi_processor_count
                     if self.device.type == "cuda" else None)
        self._states: dict[tuple[int, int, int], _State] = {}
        #: (tensor, address, shape, graph, output) of the last in-place graph call
        self._fast: tuple | None = None

    # -- public ----------------------------------------------------------------------------
    @property
    def classes(self) -> int:
        return self.plan.classes

    def __call__(self, x: Any) -> Any:
        return self.forward_int(x).float() * self.output_scale

    def forward_int(self, x: Any, *, copy: bool = True) -> Any:
        """int8 head output ``[N, classes, H, W]`` for float32 input ``x`` ``[N, C, H, W]``.

        With ``copy=False`` the result is the shape's output buffer, overwritten by the next
        call of the same shape.
        """
        fast = self._fast
        if fast is not None and x is fast[0] and x.data_ptr() == fast[1] \
                and x.shape == fast[2]:
            # the same tensor as the last call (batch-1 serving, benchmarks): skip the checks
            # and lookups, which cost as much host time as the kernels take at batch 1
            fast[3].replay()
            return fast[4].clone() if copy else fast[4]
        import torch

        x_in = x
        x = self._check_input(x)
        n, _, h, w = x.shape
        step = self._max_batch(h, w)
        if n > step:
            return torch.cat([self.forward_int(x[i:i + step], copy=True)
                              for i in range(0, n, step)])
        state = self._state(n, h, w)
        if not self.graphs:
            self._launch(state, x)
        else:
            graph = self._graph_for(state, x)
            graph.replay()
            if graph is not state.copy_graph and x is x_in:
                self._fast = (x, x.data_ptr(), x.shape, graph, state.out)
        return state.out.clone() if copy else state.out

    def wide_stores(self, pixels: int) -> bool | None:
        """Whether a call of ``pixels`` stores 4 bytes at a time (:func:`wide_stores`)."""
        return wide_stores(self.resolve(pixels), self.wide)

    def resolve(self, pixels: int) -> str:
        """The design a call of ``pixels`` full-resolution pixels runs (``plan.resolve_design``)."""
        return resolve_design(self.design, pixels, self.cuda_cpp)

    def state(self, n: int, h: int, w: int) -> _State:
        """Buffers (and graphs, once captured) for input shape ``[n, C, h, w]``."""
        return self._state(n, h, w)

    # -- internals ------------------------------------------------------------------------
    def _lower(self, design: str) -> _Lowered:
        """The plan of ``design`` and its weights on the device (built once)."""
        low = self._lowered.get(design)
        if low is not None:
            return low
        import torch

        def dev(a: np.ndarray, dtype: Any) -> Any:
            return torch.as_tensor(np.ascontiguousarray(a), device=self.device).to(dtype)

        plan = lower(self.net, design)
        tensors = []
        halo = {s.name for s in plan.stages if s.halo}
        for s in plan.stages:
            # transposed to [C_out, K]: K-major, as the int8 wgmma reads its B operand; a halo
            # conv's weights and head as mma.sync B fragments
            w = fragments.pack_conv(s, self.wide) if s.name in halo else s.weight.T
            t = [dev(w, torch.int8), dev(s.bias, torch.int32), None, None, None]
            if s.head is not None:
                hw = (fragments.pack_head(s.head, s.cout_p, self.wide).view(np.int32)
                      if s.name in halo
                      else s.head.weight.T)
                t[2:4] = [dev(hw, torch.int32 if s.name in halo else torch.int8),
                          dev(s.head.bias, torch.int32)]
            if s.up_weight is not None:   # [4, planes, rows, cout] -> [4, planes, cout, rows]
                t[4] = dev(s.up_weight.transpose(0, 1, 3, 2), torch.int8)
            tensors.append(t)
        low = _Lowered(design, plan, tensors, {s.name for s in plan.stages if s.quad}, halo)
        self._lowered[design] = low
        return low

    def _check_input(self, x: Any) -> Any:
        import torch

        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if x.ndim != 4 or x.shape[1] != self.plan.in_channels:
            raise ConfigError(f"input of shape {tuple(x.shape)} is not [N, "
                              f"{self.plan.in_channels}, H, W]")
        h, w = x.shape[-2:]
        s = self.plan.stride
        if h % s or w % s or h == 0 or w == 0:
            raise ConfigError(f"input of {h}x{w} pixels is not a positive multiple of the model "
                              f"stride {s}: pad to {-(-h // s) * s}x{-(-w // s) * s}")
        return x.to(device=self.device, dtype=torch.float32).contiguous()

    def _max_batch(self, h: int, w: int) -> int:
        per_image = [self.plan.in_channels * h * w, self.plan.classes * h * w]
        for pixels in (0, INDEX_LIMIT):   # the designs of small and of large calls
            plan = self._lower(self.resolve(pixels)).plan
            for level, ch, _ in plan.buffers.values():
                per_image.append(((h >> level) + 2) * ((w >> level) + 2) * ch)
        return max(1, INDEX_LIMIT // max(per_image))

    def _state(self, n: int, h: int, w: int) -> _State:
        import torch

        key = (n, h, w)
        state = self._states.get(key)
        if state is None:
            low = self._lower(self.resolve(n * h * w))
            bufs = {}
            for name, (level, ch, offset) in ({} if low.design == "gen8"   # all on chip
                                              else low.plan.buffers).items():
                size = n * ((h >> level) + 2) * ((w >> level) + 2) * ch + SLACK
                # the border (never written) holds the stored form of 0
                bufs[name] = torch.full((size,), -offset, dtype=torch.int8, device=self.device)
            out = torch.empty((n, self.plan.classes, h, w), dtype=torch.int8, device=self.device)
            state = _State(n, h, w, low, bufs, out)
            if self._fuses(low, n * h * w):
                state.sync = torch.zeros(len(low.plan.stages), dtype=torch.int32,
                                         device=self.device)
            self._states[key] = state
        return state

    def _tile(self, name: str, pixels: int = 0) -> tuple[int, int, int, int, int]:
        if name in self.tiles or "*" in self.tiles:
            return self.tiles.get(name, self.tiles.get("*"))
        low = self._lower(self.resolve(pixels))
        large = self.LARGE_TILES if low.design == "gen1" else self.LARGE_TILES_GEN2
        if name in low.quad_stages:
            return (*(self.LARGE_QUAD_TILE if pixels >= self.LARGE_PIXELS else self.QUAD_TILE), 16)
        if pixels >= self.LARGE_PIXELS and name in large:
            return (*large[name], 16)
        return (*self.TILE, self.num_stages, 16)

    def _fuses(self, low: _Lowered, pixels: int) -> bool:
        """True when a call runs as one fused kernel: :attr:`fused`, and every stage a halo
        conv (gen7; other designs launch per stage)."""
        if not self.fused or len(low.halo_stages) < len(low.plan.stages):
            return False
        warps = {self._halo_tile(s, 0)[2] for s in low.plan.stages}
        if len(warps) > 1:
            raise ConfigError("a fused call needs one warp count for every stage's tile, not "
                              f"{sorted(warps)}")
        return True

    def _halo_tile(self, stage: Any, pixels: int) -> tuple[int, int, int]:
        """A halo conv's tile: its own override, else ``"*"`` where that suits the kernel,
        else the size's default (:attr:`HALO_TILES`)."""
        tile = self.HALO_TILES[pixels >= self.LARGE_PIXELS].get(stage.name, self.HALO_TILE)
        if stage.name in self.tiles:
            tile = self.tiles[stage.name][:3]
            if not check_tile(tile):
                raise ConfigError(f"launch tile {tile} for {stage.name} (a halo conv): give "
                                  "even TH, TW a multiple of 16 and whole pairs of tile rows "
                                  "per warp")
        elif "*" in self.tiles and check_tile(self.tiles["*"][:3]):
            tile = self.tiles["*"][:3]
        return tile

    def _halo_kernel(self, low: _Lowered, stage: Any, pixels: int) -> HaloKernel:
        """The compiled halo conv of ``stage`` at its tile (:meth:`_halo_tile`)."""
        tile = self._halo_tile(stage, pixels)
        key = (low.design, stage.name, tile)
        kernel = self._halo_kernels.get(key)
        if kernel is None:
            kernel = self._halo_kernels[key] = HaloKernel(stage, tile, low.plan.quant,
                                                          pdl=self.pdl, wide=self.wide)
        return kernel

    @staticmethod
    def _grid(h: int, w: int, th: int, tw: int) -> tuple[int, int]:
        tiles_x = -(-w // tw)
        return tiles_x, -(-h // th) * tiles_x

    def _launch(self, state: _State, x: Any) -> None:
        for _, launch in self.launches(state, x):
            launch()

    def launches(self, state: _State, x: Any) -> list[tuple[str, Any]]:
        """The kernel launches of one forward pass, as (stage name, no-argument callable)."""
        return [(name, lambda k=kernel, g=grid, a=args, kw=kwargs: k[g](*a, **kw))
                for name, kernel, grid, args, kwargs in self.launch_specs(state, x)]

    def launch_specs(self, state: _State, x: Any) -> list[tuple[str, Any, tuple[int],
                                                              tuple, dict[str, Any]]]:
        """One forward pass as (stage name, kernel, grid, arguments, keyword arguments), the
        kernel a Triton kernel or a :class:`~tinyicenet.kernels.cuda_halo.HaloKernel`: what
        :meth:`launches` calls, and what ``bench/kernel_resources.py`` compiles."""
        from tinyicenet.kernels.triton_conv import INTERPRETED, conv3x3_kernel, quantize_kernel

        n, h, w = state.n, state.h, state.w
        bufs, dummy = state.buffers, self._dummy
        plan = state.low.plan
        q = plan.quant
        if state.sync is not None:
            return [self._fused_spec(state, x)]
        if state.low.design == "gen8":
            return [self._net_tile_spec(state, x)]
        out: list[tuple[str, Any, tuple[int], tuple, dict[str, Any]]] = []
        if not plan.quant_fused:
            blocks = -(-(h * w) // self.QUANT_BLOCK)
            qargs = (x, bufs["input"], h, w, blocks, q.input_scale)
            qkw = dict(CIN=q.in_channels, CP=q.channels, QLO=q.lo, QHI=q.hi,
                       BLOCK=self.QUANT_BLOCK, RINT=not INTERPRETED, WIN=q.window,
                       num_warps=4)
            out.append(("quantize", quantize_kernel, (n * blocks,), qargs, qkw))
        for stage, tensors in zip(plan.stages, state.low.tensors):
            hl, wl = h >> stage.level, w >> stage.level
            if stage.name in state.low.halo_stages:
                kernel = self._halo_kernel(state.low, stage, n * h * w)
                args, tiles = self._halo_args(state, stage, tensors, kernel.tile, x)
                grid = (tiles if self._sms is None else kernel.programs(tiles, self._sms),)
                out.append((stage.name, kernel, grid, args, {}))
                continue
            th, tw, warps, ns, vec = self._tile(stage.name, n * h * w)
            a = stage.sources[0]
            b = stage.sources[1] if len(stage.sources) > 1 else None
            par = a.mode == "parity"
            quad = stage.quad
            if par or quad:   # tiles of the half-resolution grid (parity: once per class)
                tiles_x, tiles = self._grid(hl // 2, wl // 2, th, tw)
            else:
                tiles_x, tiles = self._grid(hl, wl, th, tw)
            hd = stage.head
            wmain = tensors[0] if tensors[0].numel() else dummy
            args = (
                x if a.mode == "im2col" else bufs[a.buffer], bufs[b.buffer] if b else dummy,
                wmain, tensors[1],
                bufs[stage.out] if stage.out else dummy,
                bufs[stage.pool] if stage.pool else dummy,
                tensors[2] if hd else dummy, tensors[3] if hd else dummy,
                state.out if hd else dummy,
                dummy if tensors[4] is None else tensors[4], q.input_scale,
                hl, wl, tiles_x, tiles)
            kw = dict(
                CA=a.channels, A_UP=a.up, A_RUNPX=a.run_px, A_BK=a.bk,
                CB=b.channels if b else 0, B_RUNPX=b.run_px if b else 0,
                B_BK=b.bk if b else 32, B_ROW0=0 if a.mode in ("parity", "quadup") else a.rows,
                KTOT=stage.weight.shape[0],
                COUT=stage.cout_p, RSHIFT=stage.requant.rshift, LO=stage.requant.lo,
                HI=stage.requant.hi, OUT_XOR=stage.out_xor, WRITE_OUT=stage.out is not None,
                WRITE_POOL=stage.pool is not None, HEAD=hd is not None,
                NCLS=hd.classes if hd else 1, NCLS_P=hd.classes_p if hd else 16,
                H_SPREAD=hd.spread if hd else 1, H_RSHIFT=hd.requant.rshift if hd else 0,
                H_LO=hd.requant.lo if hd else 0, H_HI=hd.requant.hi if hd else 0,
                H_XOR=hd.xor if hd else 0, TH=th, TW=tw, NS=ns, VEC=vec, PAR=par,
                PLANES=max(stage.up_planes, 1), IM2COL=a.mode == "im2col", QLO=q.lo,
                QHI=q.hi, RINT=not INTERPRETED, GDC=self.pdl, QUAD=quad,
                WIN=a.channels if a.mode == "window" else 0,
                SPLIT=a.mode == "quadsplit",
                # position-major pooling only where it keeps a window in one thread (kernel doc)
                QMAJOR=stage.pool is not None and (th * tw // 4) % (16 * warps) == 0,
                num_warps=warps)
            if self.pdl:
                kw["launch_pdl"] = True
            out.append((stage.name, conv3x3_kernel, (n * tiles * (4 if par else 1),), args, kw))
        return out

    def _halo_args(self, state: _State, stage: Any, tensors: list[Any],
                   tile: tuple[int, int, int], x: Any) -> tuple[tuple, int]:
        """A halo conv's kernel arguments (``halo_conv.cu``'s STAGE_PARAMS) over TH x TW
        tiles, and its tile count. The stem reads the float input ``x`` as its source."""
        th, tw, _ = tile
        hl, wl = state.h >> stage.level, state.w >> stage.level
        tiles_x = -(-wl // tw)
        tiles_img = -(-hl // th) * tiles_x
        tiles = state.n * tiles_img
        bufs, dummy = state.buffers, self._dummy
        stem = fragments.is_stem(stage)
        up, same = (None, None) if stem else sources(stage)
        hd = stage.head is not None
        args = (bufs[up.buffer] if up else dummy,
                x if stem else bufs[same.buffer] if same else dummy,
                tensors[0], tensors[1], bufs[stage.out] if stage.out else dummy,
                bufs[stage.pool] if stage.pool else dummy, tensors[2] if hd else dummy,
                tensors[3] if hd else dummy, state.out if hd else dummy, hl, wl, tiles_x,
                tiles_img, tiles, float(state.low.plan.quant.input_scale))
        return args, tiles

    def _fused_spec(self, state: _State, x: Any) -> tuple:
        """The one launch of a fused call: every stage's arguments, then the counters."""
        low = state.low
        specs = [(s, self._halo_tile(s, 0)) for s in low.plan.stages]   # small calls' tiles
        key = (low.design, "network", tuple(t for _, t in specs))
        kernel = self._halo_kernels.get(key)
        if kernel is None:
            kernel = self._halo_kernels[key] = FusedKernel(specs, low.plan.quant, self.wide)
        args, most = [], 0
        for (stage, tile), tensors in zip(specs, low.tensors):
            a, tiles = self._halo_args(state, stage, tensors, tile, x)
            args += a
            most = max(most, tiles)
        grid = (most if self._sms is None else min(most, kernel.resident(self._sms)),)
        return "network", kernel, grid, (*args, state.sync), {}

    def _net_tile(self) -> tuple[int, int, int]:
        """gen8's program tile: ``tiles["network"]``, else ``"*"`` where gen8 can run it, else
        :attr:`NET_TILE`; ConfigError where gen8 cannot run this net on it (checked once)."""
        if self._gen8_tile is not None:
            return self._gen8_tile
        plan = self._lower("gen8").plan
        tile = self.NET_TILE
        if "network" in self.tiles:
            tile = self.tiles["network"][:3]
        elif "*" in self.tiles and net_tile.eligible(plan, self.tiles["*"][:3]):
            tile = self.tiles["*"][:3]
        net_tile.fitted_geometry(plan, tile)
        self._gen8_tile = tuple(int(v) for v in tile)
        return self._gen8_tile

    def _net_tile_spec(self, state: _State, x: Any) -> tuple:
        """The one launch of a gen8 call: one program per output tile."""
        low = state.low
        tile = self._net_tile()
        key = (low.design, "network", tile)
        kernel = self._halo_kernels.get(key)
        if kernel is None:
            kernel = self._halo_kernels[key] = NetTileKernel(low.plan, tile, self.wide)
        tiles_x, tiles_img = self._grid(state.h, state.w, *tile[:2])
        args = [x]
        for t in low.tensors:
            args += t[:2]
        head = low.tensors[-1]
        args += [head[2], head[3], state.out, state.h, state.w, tiles_x, tiles_img,
                 float(low.plan.quant.input_scale)]
        return "network", kernel, (state.n * tiles_img,), tuple(args), {}

    def _capture(self, state: _State, x: Any) -> Any:
        import torch

        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # compile and load every kernel before capturing
            self._launch(state, x)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._launch(state, x)
        return graph

    def _graph_for(self, state: _State, x: Any) -> Any:
        """A graph reading ``x`` in place (its address is remembered), else the copying one."""
        key = (x.data_ptr(), tuple(x.stride()))
        graph = state.graphs.get(key)
        if graph is not None:
            state.graphs.move_to_end(key)
            return graph
        if len(state.graphs) < GRAPHS_IN_PLACE:
            graph = self._capture(state, x)
            state.graphs[key] = graph
            return graph
        if state.copy_graph is None:
            import torch
            state.static_in = torch.empty_like(x)
            state.copy_graph = self._capture(state, state.static_in)
        state.static_in.copy_(x)
        return state.copy_graph

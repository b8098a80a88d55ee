"""Compile and launch the halo conv (``halo_conv.cu``, design gen6) through CuPy's NVRTC.

One :class:`HaloKernel` per stage and tile: the stage's constants become ``-D``
definitions, so each compile is specialised like a Triton constexpr kernel (CuPy caches the
binary on disk). ``kernel[grid](*args)`` launches on PyTorch's current stream, so the runner's
CUDA graphs capture it with the Triton kernels around it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from tinyicenet.errors import ConfigError, ToolNotFoundError
from tinyicenet.kernels.fragments import class_tiles, smem_bytes, source, sources
from tinyicenet.kernels.occupancy import programs_per_sm
from tinyicenet.kernels.plan import ConvStage

#: shared memory a kernel may use without opting in
DEFAULT_SHARED = 48 * 1024


def available() -> bool:
    """True when CuPy, which compiles and launches the kernel, is installed."""
    return importlib.util.find_spec("cupy") is not None


def check_tile(tile: tuple[int, int, int]) -> bool:
    """True when (TH, TW, warps) suits the kernel: even rows, 16-pixel columns, and the
    16-pixel m-tiles split evenly over the warps in whole pairs of tile rows."""
    th, tw, warps = tile
    if th % 2 or tw % 16 or warps <= 0 or (th * tw // 16) % warps:
        return False
    return (th * tw // 16 // warps) % (2 * tw // 16) == 0


def defines(stage: ConvStage, tile: tuple[int, int, int]) -> dict[str, int]:
    """The kernel's compile-time constants for ``stage`` (see the head of the .cu file)."""
    if not check_tile(tile):
        raise ConfigError(f"{stage.name}: halo tile {tile} needs even TH, TW a multiple of 16 "
                          "and whole pairs of tile rows per warp")
    th, tw, warps = tile
    up, sk = sources(stage)
    rq = stage.requant
    d = dict(CUP=up.channels if up else 0, CSK=sk.channels if sk else 0, COUT=stage.cout_p,
             TH=th, TW=tw, WARPS=warps, RSHIFT=rq.rshift, LO=rq.lo, HI=rq.hi,
             OUT_XOR=stage.out_xor, WRITE_OUT=int(stage.out is not None),
             POOL=int(stage.pool is not None), HEAD=int(stage.head is not None))
    if stage.head is not None:
        hd = stage.head
        d.update(NCLS=hd.classes, NCLS_T=class_tiles(hd), H_RSHIFT=hd.requant.rshift,
                 H_LO=hd.requant.lo, H_HI=hd.requant.hi, H_XOR=hd.xor)
    return d


def options(stage: ConvStage, tile: tuple[int, int, int]) -> tuple[str, ...]:
    """Compiler options (NVRTC and nvcc alike)."""
    return ("-std=c++17",) + tuple(f"-D{k}={v}" for k, v in defines(stage, tile).items())


class HaloKernel:
    """The halo conv compiled for one stage and tile (compiled at the first launch)."""

    def __init__(self, stage: ConvStage, tile: tuple[int, int, int]) -> None:
        self.name = stage.name
        self.tile = tuple(int(v) for v in tile)
        self.options = options(stage, self.tile)
        up, sk = sources(stage)
        self.shared = smem_bytes(up.channels if up else 0, sk.channels if sk else 0,
                                 stage.cout_p, self.tile[0], self.tile[1])
        self.threads = 32 * self.tile[2]
        self._fn: Any = None
        self._streams: dict[int, Any] = {}

    def _function(self) -> Any:
        if self._fn is None:
            try:
                import cupy
            except ImportError:
                raise ToolNotFoundError("the gen6 kernel design needs CuPy (pip install "
                                        "cupy-cuda13x, or cupy-cuda12x for CUDA 12)") from None
            fn = cupy.RawModule(code=source(), options=self.options).get_function("halo_conv")
            if self.shared > DEFAULT_SHARED:
                fn.max_dynamic_shared_size_bytes = self.shared
            self._fn = fn
        return self._fn

    def programs(self, tiles: int, sms: int, registers: int | None = None) -> int:
        """Persistent grid: as many programs as fit on the GPU at once, at most one per tile
        (``registers`` per thread: the compiled kernel's unless given). The kernel's shared
        memory is all dynamic (``self.shared``)."""
        regs = int(self._function().num_regs) if registers is None else registers
        return max(1, min(tiles, sms * max(programs_per_sm(regs, self.tile[2], self.shared), 1)))

    def __getitem__(self, grid: tuple[int, ...]) -> Any:
        return lambda *args: self.launch(grid, args)

    def launch(self, grid: tuple[int, ...], args: tuple) -> None:
        """Launch on PyTorch's current CUDA stream (tensors pass as their addresses)."""
        import cupy
        import numpy as np
        import torch

        fn = self._function()
        ptr = torch.cuda.current_stream().cuda_stream
        stream = self._streams.get(ptr)
        if stream is None:
            stream = self._streams[ptr] = cupy.cuda.ExternalStream(ptr)
        cargs = tuple(np.uint64(a.data_ptr()) if isinstance(a, torch.Tensor) else np.int32(a)
                      for a in args)
        with stream:
            fn((int(grid[0]),), (self.threads,), cargs, shared_mem=self.shared)

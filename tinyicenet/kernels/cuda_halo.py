"""Compile and launch the CUDA C++ kernels through CuPy: the halo convs (``halo_conv.cu``,
designs gen6 / gen7) and the whole network per tile (``net_tile.cu``, gen8).

One :class:`HaloKernel` per stage and tile: the stage's constants become ``-D``
definitions, so each compile is specialised like a Triton constexpr kernel (CuPy caches the
binary on disk). A :class:`FusedKernel` composes several stages (each the source's stage
section in its own namespace, with its own constants) into one persistent kernel that waits
grid-wide between them: one launch per forward pass. ``kernel[grid](*args)`` launches on
PyTorch's current stream, so the runner's CUDA graphs capture it with any Triton kernels
around it. A halo kernel built with ``pdl=True`` is a programmatic dependent launch (Hopper):
``cuLaunchKernelEx`` with the programmatic stream serialisation attribute (CUDA Driver API,
docs.nvidia.com/cuda/cuda-driver-api, "CUlaunchConfig"), called through ctypes since CuPy's
launch takes no attributes.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
from typing import Any

import numpy as np

from tinyicenet.errors import ConfigError, ToolNotFoundError
from tinyicenet.kernels import net_tile
from tinyicenet.kernels.fragments import (class_tiles, is_stem, sections, smem_bytes, source,
                                          sources)
from tinyicenet.kernels.occupancy import programs_per_sm
from tinyicenet.kernels.plan import ConvStage, Plan, QuantStage

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


def defines(stage: ConvStage, tile: tuple[int, int, int],
            quant: QuantStage | None = None, wide: bool = False) -> dict[str, int]:
    """The kernel's compile-time constants for ``stage`` (see the head of the .cu file);
    the stem also needs the plan's input quantiser ``quant``; ``wide``: 4-byte output stores
    (the weights packed with ``fragments.pack_conv(stage, wide=True)``)."""
    if is_stem(stage) and quant is None:
        raise ConfigError(f"{stage.name}: the stem needs the input quantiser")
    if not check_tile(tile):
        raise ConfigError(f"{stage.name}: halo tile {tile} needs even TH, TW a multiple of 16 "
                          "and whole pairs of tile rows per warp")
    th, tw, warps = tile
    up, sk = (None, None) if is_stem(stage) else sources(stage)
    rq = stage.requant
    d = dict(CUP=up.channels if up else 0, CSK=sk.channels if sk else 0, COUT=stage.cout_p,
             TH=th, TW=tw, WARPS=warps, RSHIFT=rq.rshift, LO=rq.lo, HI=rq.hi,
             OUT_XOR=stage.out_xor, WRITE_OUT=int(stage.out is not None),
             POOL=int(stage.pool is not None), HEAD=int(stage.head is not None),
             WIDE=int(wide))
    if is_stem(stage):
        d.update(STEM=1, QLO=quant.lo, QHI=quant.hi)
    if stage.head is not None:
        hd = stage.head
        d.update(NCLS=hd.classes, NCLS_T=class_tiles(hd), H_RSHIFT=hd.requant.rshift,
                 H_LO=hd.requant.lo, H_HI=hd.requant.hi, H_XOR=hd.xor)
    d["SMEM_BYTES"] = smem_bytes(stage, th, tw)   # the kernel asserts its layout against it
    return d


def options(stage: ConvStage, tile: tuple[int, int, int],
            quant: QuantStage | None = None, wide: bool = False) -> tuple[str, ...]:
    """Compiler options (NVRTC and nvcc alike)."""
    return ("-std=c++17",) + tuple(f"-D{k}={v}"
                                   for k, v in defines(stage, tile, quant, wide).items())


#: macros the stage section defines from its constants (undefined after each fused stage)
DERIVED = ("SMEM_BYTES", "STEM", "HEAD", "POOL", "WRITE_OUT", "NCLS", "NCLS_T", "H_RSHIFT",
           "H_LO", "H_HI", "H_XOR", "NT", "MT_PER_WARP", "UH", "UW", "SH", "SW", "UP_BYTES",
           "SK_BYTES", "W_BYTES", "Q_BYTES", "HALO_BYTES")


def fused_source(specs: list[tuple[ConvStage, tuple[int, int, int]]],
                 quant: QuantStage, wide: bool = False) -> str:
    """CUDA source of one kernel ``tinyicenet_net`` running ``specs`` (stage, tile) in order:
    each stage's section of ``halo_conv.cu`` in namespace ``s<i>`` with its constants, and a
    grid-wide wait after every stage but the last. All tiles need the same warps."""
    common, stage_code = sections()
    warps = {t[2] for _, t in specs}
    if len(warps) != 1:
        raise ConfigError(f"a fused kernel needs one warp count per program, not {sorted(warps)}")
    parts = [common]
    for i, (stage, tile) in enumerate(specs):
        d = defines(stage, tile, quant, wide)
        parts.append(f"namespace s{i} {{\n" + "".join(f"#define {k} {v}\n" for k, v in d.items())
                     + stage_code + "".join(f"#undef {k}\n" for k in dict.fromkeys([*d, *DERIVED]))
                     + f"}}  // namespace s{i}\n")
    params = ", ".join(f"STAGE_PARAMS({i})" for i in range(len(specs)))
    waits = len(specs) - 1
    body = "".join(f"    s{i}::conv_tiles(STAGE_ARGS({i}), smem);\n"
                   + (f"    grid_stage_done(sync + {i});\n" if i < waits else "")
                   for i in range(len(specs)))
    parts.append(f'extern "C" __global__ void __launch_bounds__({warps.pop() * 32}) '
                 f"tinyicenet_net({params}, unsigned* sync) {{\n"
                 "    extern __shared__ __align__(128) i8 smem[];\n" + body
                 + f"    grid_exit(sync, {waits});\n}}\n")
    return "".join(parts)


#: CUlaunchAttributeID of cuda.h: a launch that may overlap its predecessor's end
PROGRAMMATIC_STREAM_SERIALIZATION = 6


class LaunchAttribute(ctypes.Structure):
    """cuda.h's CUlaunchAttribute: an id, padding to 8 bytes, a 64-byte value union (only its
    leading int is set here)."""

    _fields_ = [("id", ctypes.c_int), ("pad", ctypes.c_char * 4),
                ("value", ctypes.c_int), ("value_pad", ctypes.c_char * 60)]


class LaunchConfig(ctypes.Structure):
    """cuda.h's CUlaunchConfig."""

    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3),
                ("shared", ctypes.c_uint), ("stream", ctypes.c_void_p),
                ("attrs", ctypes.POINTER(LaunchAttribute)), ("num_attrs", ctypes.c_uint)]


def kernel_args(args: tuple[Any, ...]) -> list[np.generic]:
    """``args`` as the kernel's signature takes them: tensors as their 64-bit addresses, floats
    as fp32, other numbers as int32 (what CuPy's launch takes, and :func:`kernel_params`)."""
    import torch

    return [np.uint64(a.data_ptr()) if isinstance(a, torch.Tensor)
            else np.float32(a) if isinstance(a, float) else np.int32(a) for a in args]


def kernel_params(values: list[np.generic]) -> tuple[Any, list[Any]]:
    """``void**`` kernel parameters pointing at ctypes copies of ``values``
    (:func:`kernel_args`), and those copies (to keep alive for the call)."""
    held = [np.ctypeslib.as_ctypes_type(v.dtype)(v.item()) for v in values]
    return (ctypes.c_void_p * len(held))(*(ctypes.addressof(v) for v in held)), held


@functools.cache
def _libcuda() -> Any:
    lib = ctypes.CDLL("libcuda.so.1")
    lib.cuLaunchKernelEx.argtypes = (ctypes.POINTER(LaunchConfig), ctypes.c_void_p,
                                     ctypes.c_void_p, ctypes.c_void_p)
    lib.cuGetErrorName.argtypes = (ctypes.c_int, ctypes.POINTER(ctypes.c_char_p))
    return lib


def launch_programmatic(function: int, grid: int, threads: int, shared: int, stream: int,
                        values: list[np.generic]) -> None:
    """Launch CUfunction ``function`` with ``values`` (:func:`kernel_args`) as a programmatic
    dependent launch on ``stream``."""
    attr = LaunchAttribute(id=PROGRAMMATIC_STREAM_SERIALIZATION, value=1)
    config = LaunchConfig((ctypes.c_uint * 3)(grid, 1, 1), (ctypes.c_uint * 3)(threads, 1, 1),
                          shared, stream, ctypes.pointer(attr), 1)
    params, _held = kernel_params(values)
    rc = _libcuda().cuLaunchKernelEx(ctypes.byref(config), function, params, None)
    if rc:
        name = ctypes.c_char_p()
        _libcuda().cuGetErrorName(rc, ctypes.byref(name))
        raise RuntimeError(f"cuLaunchKernelEx failed: {(name.value or b'?').decode()} ({rc})")


class _Compiled:
    """A kernel compiled by NVRTC at its first launch, launched on PyTorch's stream."""

    #: launched as a cooperative kernel (the driver refuses a grid that cannot be resident)
    cooperative = False
    #: launched as a programmatic dependent launch (compiled with GDC)
    pdl = False

    name: str
    threads: int
    shared: int
    options: tuple[str, ...]
    code: str
    entry: str

    def __init__(self) -> None:
        self._fn: Any = None
        self._streams: dict[int, Any] = {}

    def _function(self) -> Any:
        if self._fn is None:
            try:
                import cupy
            except ImportError:
                raise ToolNotFoundError("the gen6 - gen8 kernel designs need CuPy (pip install "
                                        "cupy-cuda13x, or cupy-cuda12x for CUDA 12)") from None
            fn = cupy.RawModule(code=self.code, options=self.options,
                                enable_cooperative_groups=self.cooperative
                                ).get_function(self.entry)
            if self.shared > DEFAULT_SHARED:
                fn.max_dynamic_shared_size_bytes = self.shared
            self._fn = fn
        return self._fn

    @property
    def registers(self) -> int:
        """Registers per thread of the compiled kernel."""
        return int(self._function().num_regs)

    def resident(self, sms: int, registers: int | None = None) -> int:
        """Programs that fit on the GPU at once (``registers`` per thread: the compiled
        kernel's unless given; all shared memory is dynamic, ``self.shared``)."""
        regs = self.registers if registers is None else registers
        return sms * max(programs_per_sm(regs, self.threads // 32, self.shared), 1)

    def programs(self, tiles: int, sms: int, registers: int | None = None) -> int:
        """Persistent grid: as many programs as fit on the GPU at once, at most one per tile."""
        return max(1, min(tiles, self.resident(sms, registers)))

    def __getitem__(self, grid: tuple[int, ...]) -> Any:
        return lambda *args: self.launch(grid, args)

    def launch(self, grid: tuple[int, ...], args: tuple) -> None:
        """Launch on PyTorch's current CUDA stream (tensors pass as their addresses, floats as
        fp32, other numbers as int32)."""
        import cupy
        import torch

        fn = self._function()
        ptr = torch.cuda.current_stream().cuda_stream
        values = kernel_args(args)
        if self.pdl:
            launch_programmatic(fn.kernel.ptr, int(grid[0]), self.threads, self.shared, ptr,
                                values)
            return
        stream = self._streams.get(ptr)
        if stream is None:
            stream = self._streams[ptr] = cupy.cuda.ExternalStream(ptr)
        with stream:
            fn((int(grid[0]),), (self.threads,), tuple(values), shared_mem=self.shared)


class HaloKernel(_Compiled):
    """The halo conv compiled for one stage and tile; ``pdl``: a programmatic dependent
    launch (compiled with GDC, launched with :func:`launch_programmatic`); ``wide``: 4-byte
    output stores (:func:`defines`)."""

    entry = "halo_conv"

    def __init__(self, stage: ConvStage, tile: tuple[int, int, int],
                 quant: QuantStage | None = None, *, pdl: bool = False,
                 wide: bool = False) -> None:
        super().__init__()
        self.name = stage.name
        self.tile = tuple(int(v) for v in tile)
        self.pdl = bool(pdl)
        self.options = (options(stage, self.tile, quant, wide)
                        + (("-DGDC=1",) if self.pdl else ()))
        self.code = source()
        self.shared = smem_bytes(stage, self.tile[0], self.tile[1])
        self.threads = 32 * self.tile[2]


class FusedKernel(_Compiled):
    """Several halo stages in one persistent kernel (:func:`fused_source`). Its arguments
    are each stage's :class:`HaloKernel` arguments in order, then the grid-wait counters
    (``waits + 1`` int32 zeros, left zero by every launch); every program must be resident
    at once, so the grid is at most :meth:`resident`."""

    entry = "tinyicenet_net"
    cooperative = True

    def __init__(self, specs: list[tuple[ConvStage, tuple[int, int, int]]],
                 quant: QuantStage, wide: bool = False) -> None:
        super().__init__()
        self.name = "network"
        self.tiles = [tuple(int(v) for v in t) for _, t in specs]
        self.code = fused_source(specs, quant, wide)
        self.options = ("-std=c++17",)
        self.shared = max(smem_bytes(s, t[0], t[1]) for s, t in specs)
        self.threads = 32 * self.tiles[0][2]
        self.waits = len(specs) - 1

    def resident(self, sms: int, registers: int | None = None) -> int:
        """Programs resident at once: the occupancy formula, and no more than the driver's
        own count where CuPy exposes it (a grid past it would wait forever)."""
        n = super().resident(sms, registers)
        if registers is None:
            try:
                from cupy.cuda import driver
                per_sm = driver.occupancyMaxActiveBlocksPerMultiprocessor(
                    self._function().kernel.ptr, self.threads, self.shared)
                n = min(n, sms * int(per_sm))
            except (ImportError, AttributeError):   # the cooperative launch still checks
                pass
        return n


class EmptyKernel(_Compiled):
    """A kernel without work, launched as a halo conv is (:func:`launch_programmatic` with
    ``pdl``): what a chain of launches costs by itself, the floor under per-stage designs."""

    entry = "empty_stage"

    def __init__(self, threads: int = 128, pdl: bool = True) -> None:
        super().__init__()
        self.name = "empty"
        self.threads, self.shared, self.pdl = int(threads), 0, bool(pdl)
        self.options = ("-std=c++17",) + (("-DGDC=1",) if self.pdl else ())
        # the halo convs' own dependency (halo_conv.cu's gdc_wait_then_release), nothing else
        self.code = (sections()[0]
                     + 'extern "C" __global__ void empty_stage() { gdc_wait_then_release(); }\n')


class NetTileKernel(_Compiled):
    """The whole network per output tile (design gen8, :mod:`~tinyicenet.kernels.net_tile`)
    for ``plan`` on ``tile`` (TH, TW, warps). Arguments: the float input, per stage its packed
    weights and bias, the head's fragments and bias, the logits, H, W, tiles per row, tiles per
    image, the input scale; one program per tile. ``clocks``: the profile of
    :func:`net_tile.kernel_source` (one more argument)."""

    entry = "net_tile"

    def __init__(self, plan: Plan, tile: tuple[int, int, int], wide: bool = False,
                 clocks: bool = False) -> None:
        super().__init__()
        self.name = "network"
        self.tile = tuple(int(v) for v in tile)
        self.code = net_tile.kernel_source(plan, self.tile, wide, clocks)
        self.options = ("-std=c++17",)
        self.shared = net_tile.geometry(plan, self.tile).smem
        self.threads = 32 * self.tile[2]

    def programs(self, tiles: int, sms: int, registers: int | None = None) -> int:
        """One program per tile: the grid is not persistent."""
        return tiles

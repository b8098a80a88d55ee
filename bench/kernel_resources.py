"""Registers, spills and shared memory of every GPU kernel of a design, without the GPU.

Compiles each kernel of one forward pass (``IntTinyIceNetGPU.launch_specs``: the stages, their
launch shapes and constants for the given input shape) ahead of time for an NVIDIA
architecture with Triton (the CUDA C++ halo convs of gen6 with ``nvcc``, same options as
the run-time NVRTC compile), and reads the resources from the cubin with the ``cuobjdump`` that
Triton bundles. The compile gets the specialisation the JIT would give (pointers and integer
arguments divisible by 16 marked so): without it no load vectorises, nothing is pipelined and
the figures say nothing about the kernels that run. On the H200 these matched Nsight Compute
and the device's ``n_regs`` (``bench/gpu_kernels_notes.md``, runs 9 and 13).

Usage (repository root; needs Triton and the CPU build of PyTorch, no GPU)::

    python bench/kernel_resources.py --design gen5 --shape 16x1024x1024 [--model w8a8 | M.npz]
        [--arch 90] [--json out.json]

Prints one line per kernel: stage, grid, launch shape (TH x TW, or the quantise kernel's
block), registers per thread, stack bytes (spills), shared memory bytes, and how many programs
per SM those allow on Hopper.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

def _signature(value: Any) -> str:
    import torch
    if isinstance(value, torch.Tensor):
        return "*" + {torch.int8: "i8", torch.int32: "i32", torch.float32: "fp32"}[value.dtype]
    return "fp32" if isinstance(value, float) else "i32"


def _model(spec: str) -> Any:
    from tinyicenet.errors import ConfigError
    if spec.endswith(".npz"):
        from tinyicenet.export.intref import load_intref
        return load_intref(spec)
    from tinyicenet.kernels.synthetic import random_intmodel
    m = re.fullmatch(r"w(\d)a(\d)", spec)
    if not m:
        raise ConfigError(f"model {spec!r} is neither an .npz file nor w<W>a<A>")
    return random_intmodel(weight_bits=int(m[1]), act_bits=int(m[2]), seed=0)


def kernel_resources(model: Any, design: str, n: int, h: int, w: int,
                     arch: int = 90, sms: int = 132) -> list[dict[str, Any]]:
    """One row per kernel of a forward pass of ``model`` on ``[n, C, h, w]`` inputs (``sms``:
    the GPU's SMs, for the persistent grid of a halo conv)."""
    import torch
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from tinyicenet.errors import ConfigError, ToolNotFoundError, VerificationError
    from tinyicenet.kernels.cuda_halo import FusedKernel, HaloKernel, NetTileKernel
    from tinyicenet.kernels.occupancy import programs_per_sm
    from tinyicenet.kernels.runner import IntTinyIceNetGPU
    cuobjdump = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    if not cuobjdump.is_file():
        raise ToolNotFoundError(f"cuobjdump is not in Triton's NVIDIA backend ({cuobjdump})")
    # meta tensors: the arguments' types and shapes without allocating the buffers
    runner = IntTinyIceNetGPU(model, device="meta", graphs=False, design=design)
    s = runner.plan.stride
    if min(n, h, w) < 1 or h % s or w % s:
        raise ConfigError(f"input {n} x {h} x {w} is not positive with sides a multiple of the "
                          f"model stride {s}")
    x = torch.empty(n, runner.plan.in_channels, h, w, device="meta")
    rows = []
    for name, kernel, grid, args, kwargs in runner.launch_specs(runner.state(n, h, w), x):
        if isinstance(kernel, (HaloKernel, FusedKernel, NetTileKernel)):
            rows.append(_halo_row(kernel, int(grid[0]), arch, cuobjdump, sms))
            continue
        kwargs = dict(kwargs)
        warps = kwargs.pop("num_warps")
        names = kernel.arg_names
        signature = {names[i]: _signature(a) for i, a in enumerate(args)}
        signature.update({k: "constexpr" for k in kwargs})
        attrs = {(i,): [["tt.divisibility", 16]] for i, a in enumerate(args)
                 if isinstance(a, torch.Tensor) or (isinstance(a, int) and a % 16 == 0)}
        src = ASTSource(fn=kernel, signature=signature, attrs=attrs,
                        constexprs={(names.index(k),): v for k, v in kwargs.items()})
        stages = kwargs.get("NS", 1)
        try:
            compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32),
                                      options={"num_warps": warps, "num_stages": stages})
        except Exception as exc:  # noqa: BLE001 - Triton raises many kinds; report the first line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise VerificationError(f"{name}: Triton did not compile it for sm_{arch}: "
                                    f"{first}") from None
        regs, stack = _cubin_usage(name, compiled.asm["cubin"], cuobjdump)
        shared = int(compiled.metadata.shared)
        tile = [kwargs["TH"], kwargs["TW"]] if "TH" in kwargs else [kwargs["BLOCK"], 1]
        rows.append({"stage": name, "grid": int(grid[0]), "warps": warps, "stages": stages,
                     "tile": tile, "registers": regs,
                     "stack_bytes": stack, "shared_bytes": shared,
                     "programs_per_sm": programs_per_sm(regs, warps, shared)})
    return rows


def _cubin_usage(name: str, cubin_bytes: bytes, cuobjdump: Path) -> tuple[int, int]:
    """(registers per thread, stack bytes) of a cubin, read with cuobjdump."""
    from tinyicenet.errors import VerificationError
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        cubin.write_bytes(cubin_bytes)
        proc = subprocess.run([str(cuobjdump), "--dump-resource-usage", str(cubin)],
                              capture_output=True, text=True)
    found = [re.search(rf"{key}:(\d+)", proc.stdout) for key in ("REG", "STACK")]
    if proc.returncode or not all(found):
        raise VerificationError(f"{name}: cuobjdump gave no resource usage "
                                f"(exit {proc.returncode})")
    return int(found[0][1]), int(found[1][1])


def _halo_row(kernel: Any, tiles: int, arch: int, cuobjdump: Path, sms: int) -> dict[str, Any]:
    """A halo conv (gen6 / gen7), a fused network kernel or gen8's network kernel compiled
    with nvcc (the source and options of its NVRTC compile); its grid is the one the runner
    launches for ``tiles`` tiles on ``sms`` SMs."""
    import shutil

    from tinyicenet.errors import ToolNotFoundError, VerificationError
    from tinyicenet.kernels.occupancy import programs_per_sm
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise ToolNotFoundError(f"{kernel.name}: the CUDA C++ halo conv needs nvcc on PATH "
                                "to be compiled here")
    with tempfile.TemporaryDirectory() as tmp:
        src, cubin = Path(tmp) / "halo.cu", Path(tmp) / "halo.cubin"
        src.write_text(kernel.code)
        proc = subprocess.run([nvcc, "-cubin", f"-arch=sm_{arch}", *kernel.options, "-o",
                               str(cubin), str(src)], capture_output=True, text=True)
        if proc.returncode:
            first = (proc.stderr.strip().splitlines() or ["no message"])[0]
            raise VerificationError(f"{kernel.name}: nvcc did not compile it: {first}")
        regs, stack = _cubin_usage(kernel.name, cubin.read_bytes(), cuobjdump)
    warps = kernel.threads // 32
    from tinyicenet.kernels.cuda_halo import FusedKernel
    tile = ([list(t[:2]) for t in kernel.tiles] if isinstance(kernel, FusedKernel)
            else list(kernel.tile[:2]))
    return {"stage": kernel.name, "grid": kernel.programs(tiles, sms, regs), "warps": warps,
            "stages": 2, "tile": tile, "registers": regs,
            "stack_bytes": stack, "shared_bytes": kernel.shared,
            "programs_per_sm": programs_per_sm(regs, warps, kernel.shared)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--design", default="auto")
    p.add_argument("--shape", default="16x1024x1024", help="N x H x W of the input")
    p.add_argument("--model", default="w8a8", help="w<W>a<A> (synthetic) or an intref .npz")
    p.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 90")
    p.add_argument("--sms", type=int, default=132,
                   help="the GPU's SMs (132 on an H100 / H200 SXM): a halo conv's grid")
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args(argv)
    try:
        import triton  # noqa: F401
    except ImportError:
        print("error: Triton is not installed (pip install triton)", file=sys.stderr)
        return 2
    try:
        n, h, w = (int(v) for v in a.shape.lower().split("x"))
    except ValueError:
        print(f"error: --shape {a.shape!r} is not N x H x W", file=sys.stderr)
        return 2
    from tinyicenet.errors import TinyIceNetError
    os.environ.pop("TRITON_INTERPRET", None)   # before triton_conv is imported: compile, not run
    try:
        rows = kernel_resources(_model(a.model), a.design, n, h, w, a.arch, a.sms)
    except TinyIceNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for r in rows:
        print(f"{r['stage']:11s} grid {r['grid']:7d}  tile {r['tile'][0]}x{r['tile'][1]} "
              f"w{r['warps']} s{r['stages']}  {r['registers']:3d} registers  "
              f"{r['stack_bytes']:4d} B stack  {r['shared_bytes']:6d} B shared  "
              f"{r['programs_per_sm']} per SM")
    if a.json:
        tmp = Path(a.json).with_suffix(".tmp")
        tmp.write_text(json.dumps({"design": a.design, "shape": [n, h, w], "arch": a.arch,
                                   "model": a.model, "kernels": rows}, indent=1) + "\n")
        tmp.replace(a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

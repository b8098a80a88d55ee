"""GPU benchmark of the custom integer kernels against PyTorch, in one run (issues 6, 10).

On one CUDA GPU, for the same integer TinyIceNet and the same inputs:

* exactness: the kernels' int8 head output against the integer reference
  (``tinyicenet.export.intref``) on fresh random inputs (and scene tiles with ``--scenes``),
  for every model checked (``--check``: w8a8 / w4a4, with and without skips);
* ceilings of this card, measured here: bf16 matrix product (torch), int8 matrix product
  (a Triton int8 GEMM, and ``torch._int_mm``), device copy bandwidth;
* idle power, then per configuration (``--configs``, default 256x256 batch 1, 256x256 batch 64,
  1024x1024 batch 16) and variant (eager fp32, eager fp16, ``torch.compile(mode=
  'max-autotune')`` fp16, the kernels: ``kernels`` is the runner's default, the fastest exact
  design; ``kernels-gen1`` the first generation;
  ``kernels-<design>[-pdl|-nopdl][-fused|-unfused][-wide|-narrow]`` any other), measured by
  ``tinyicenet.bench.harness`` (the one measurement loop of the project):
  **throughput** and NVML energy from ``--repetitions`` queued windows of ``--window``
  seconds (calls back to back, one device synchronisation per window), **latency**
  p50/p99 from synchronised single calls after each window; achieved TOP/s against the
  measured ceilings; with ``--stages`` per-stage times, TOP/s and bytes per pixel
  (``tinyicenet.kernels.traffic``) against the ceilings; ``--latency-probe`` splits batch-1
  latency into host, synchronisation and GPU time;
* ratios against the **fastest PyTorch variant of each configuration** (named in the record
  as ``baseline``), and the issue's targets; optional per-stage kernel times (``--stages``).

A variant that cannot run here (no Triton: no kernels, no torch.compile) or fails is dropped:
the output says so and the record lists it under ``dropped`` with the reason.

The float variants run the float twin (``tinyicenet.kernels.float_twin``): the same topology
and dequantised weights in plain PyTorch. "Scene" here is one input image of the configured
size (a 1024 x 1024 image covers a 400 km EW scene at 400 m); every result also carries
per-tile figures in the project's bench schema.

Usage (repository root, package not installed)::

    # here (Brevitas, netCDF4): integer models from Brevitas and generated-scene tiles
    python bench/bench_gpu_kernels.py --prepare out/gpu_kernels
    # on the GPU machine (carry out/gpu_kernels):
    M=out/gpu_kernels; PYTHONPATH=. python bench/bench_gpu_kernels.py \
        --model $M/tinyicenet_w8a8.npz --scenes $M/scenes.npz \
        --check $M/tinyicenet_w8a8.npz,$M/tinyicenet_w4a4.npz \
        --out bench/results/gpu_kernels_h200.json

Without ``--model`` / ``--check`` files it runs on seeded synthetic integer models.
``--device cpu`` runs the eager variants on the CPU through the same code (smoke test of the
script; kernels, torch.compile, ceilings and exactness are dropped there, not for records).

Prints a short table last; ``--quick`` shortens windows for smoke runs (not for records).
With ``--out X.json`` the full record goes to ``X.json`` and the measurements alone, in the
project's bench schema, to ``X_bench.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VARIANTS = ("eager-fp32", "eager-fp16", "compile-fp16", "kernels-gen1", "kernels")
#: kernel variants: ``kernels`` is the runner's default (the fastest exact path), the others
#: name a design (``tinyicenet.kernels.plan.DESIGNS``) and ``-pdl`` / ``-nopdl`` the launches
KERNEL_PREFIX = "kernels"
DEFAULT_CONFIGS = "256x1,256x64,1024x16"
CHECKS = ("w8a8", "w4a4", "w8a8_noskip", "w4a4_noskip")


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------
def synthetic(tag: str, seed: int = 0) -> Any:
    from tinyicenet.kernels.synthetic import random_intmodel
    bits, _, noskip = tag.partition("_")
    w, a = int(bits[1]), int(bits[3])
    return random_intmodel(weight_bits=w, act_bits=a, skips=noskip != "noskip", seed=seed)


def load_model(spec: str) -> tuple[Any, str]:
    """An IntModel from ``spec``: an ``.npz`` integer reference file or a synthetic tag."""
    if spec.endswith(".npz"):
        from tinyicenet.export.intref import load_intref
        return load_intref(spec), Path(spec).name
    return synthetic(spec), f"synthetic_{spec}"


# ------------------------------------------------------------------------------------------
# exactness
# ------------------------------------------------------------------------------------------
def kernel_options(variant: str) -> dict[str, Any]:
    """Runner options of a kernel variant name:
    ``kernels[-<design>][-pdl|-nopdl][-fused|-unfused][-wide|-narrow]``."""
    parts = variant.split("-")[1:]
    opts: dict[str, Any] = {}
    for part in parts:
        if part in ("pdl", "nopdl"):
            opts["pdl"] = part == "pdl"
        elif part in ("fused", "unfused"):
            opts["fused"] = part == "fused"
        elif part in ("wide", "narrow"):
            opts["wide"] = part == "wide"
        else:
            opts["design"] = part
    return opts


def stage_design(variant: str, pixels: int) -> tuple[str, bool | None]:
    """(design, 4-byte stores) a kernel variant runs for a call of ``pixels`` (``None``:
    a design without halo convs, where the store layout does not apply)."""
    from tinyicenet.kernels.cuda_halo import available
    from tinyicenet.kernels.plan import resolve_design
    from tinyicenet.kernels.runner import IntTinyIceNetGPU, wide_stores
    opts = kernel_options(variant)
    design = resolve_design(opts.get("design"), pixels, available())
    return design, wide_stores(design, opts.get("wide", IntTinyIceNetGPU.WIDE))


def is_kernels(variant: str) -> bool:
    return variant == KERNEL_PREFIX or variant.startswith(KERNEL_PREFIX + "-")


def check_exact(model: Any, label: str, scenes: np.ndarray | None, seed: int,
                options: dict[str, Any] | None = None) -> dict[str, Any]:
    import torch

    from tinyicenet.kernels.runner import IntTinyIceNetGPU

    options = dict(options or {})
    runner = IntTinyIceNetGPU(model, device="cuda", graphs=True, **options)
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, np.ndarray]] = [
        ("random 3x256x256", (rng.standard_normal((3, 2, 256, 256)) * rng.uniform(0.5, 3))
         .astype(np.float32)),
        ("random 2x72x200", (rng.standard_normal((2, 2, 72, 200)) * 4).astype(np.float32)),
        ("random 1x4x4", (rng.standard_normal((1, 2, 4, 4)) * 4).astype(np.float32)),
        ("random 2x36x44", (rng.standard_normal((2, 2, 36, 44)) * 2).astype(np.float32)),
    ]
    sat = (rng.standard_normal((1, 2, 64, 64)) * 40).astype(np.float32)  # saturating input
    cases.append(("saturating 1x64x64", sat))
    if scenes is not None:
        cases.append((f"scene tiles {scenes.shape[0]}x{scenes.shape[2]}x{scenes.shape[3]}",
                      scenes))
    out = {"model": label, "runner": {"design": runner.design, "pdl": runner.pdl,
                                          "wide": runner.wide},
           "cases": []}
    for name, x in cases:
        ref = np.concatenate([model.run_int(model.quantize_input(x[i:i + 4]))
                              for i in range(0, len(x), 4)])
        got = runner.forward_int(torch.from_numpy(x).cuda()).cpu().numpy()
        got_nograph = IntTinyIceNetGPU(model, graphs=False, **options).forward_int(
            torch.from_numpy(x).cuda()).cpu().numpy() if name.startswith("random 2") else got
        diff = int((got.astype(np.int64) != ref).sum()) + int(
            (got_nograph.astype(np.int64) != ref).sum())
        out["cases"].append({"input": name, "values": int(ref.size), "differing": diff,
                             "distinct_outputs": int(np.unique(ref).size)})
    out["differing"] = sum(c["differing"] for c in out["cases"])
    del runner
    return out


# ------------------------------------------------------------------------------------------
# ceilings
# ------------------------------------------------------------------------------------------
def _time_cuda(fn: Callable[[], Any], reps: int, warmup: int = 3) -> float:
    """Median seconds of ``fn`` over ``reps`` event-timed calls."""
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def measure_peaks() -> dict[str, Any]:
    import torch
    import triton
    import triton.language as tl

    @triton.jit
    def mm_i8(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr,
              BK: tl.constexpr, GROUP: tl.constexpr):
        pid = tl.program_id(0)
        num_m = tl.cdiv(M, BM)
        num_n = tl.cdiv(N, BN)
        in_group = GROUP * num_n
        group = pid // in_group
        first_m = group * GROUP
        size_m = tl.minimum(num_m - first_m, GROUP)
        pid_m = first_m + (pid % in_group) % size_m
        pid_n = (pid % in_group) // size_m
        rm = pid_m * BM + tl.arange(0, BM)
        rn = pid_n * BN + tl.arange(0, BN)
        rk = tl.arange(0, BK)
        a_ptrs = a_ptr + rm[:, None] * K + rk[None, :]
        b_ptrs = b_ptr + rk[:, None] + rn[None, :] * K   # B stored [N, K]: K-major
        acc = tl.zeros([BM, BN], dtype=tl.int32)
        for _ in range(0, K, BK):
            acc = tl.dot(tl.load(a_ptrs), tl.load(b_ptrs), acc, out_dtype=tl.int32)
            a_ptrs += BK
            b_ptrs += BK
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)

    out: dict[str, Any] = {}
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    t = _time_cuda(lambda: a @ b, 10)
    out["bf16_matmul_tflops"] = 2 * n ** 3 / t / 1e12
    del a, b
    ai = torch.randint(-128, 128, (n, n), device="cuda", dtype=torch.int8)
    bi = torch.randint(-128, 128, (n, n), device="cuda", dtype=torch.int8)
    c = torch.empty(n, n, device="cuda", dtype=torch.int32)
    best, tried = 0.0, {}
    for bm, bn, bk, warps, stages in ((128, 256, 128, 8, 3), (128, 128, 128, 4, 4),
                                      (256, 128, 128, 8, 3), (128, 256, 64, 8, 4)):
        grid = (triton.cdiv(n, bm) * triton.cdiv(n, bn),)
        try:
            t = _time_cuda(lambda: mm_i8[grid](ai, bi, c, n, n, n, BM=bm, BN=bn, BK=bk, GROUP=8,
                                               num_warps=warps, num_stages=stages), 10)
        except Exception as exc:  # a config the compiler refuses: skip it, say so
            tried[f"{bm}x{bn}x{bk}/w{warps}/s{stages}"] = f"failed: {type(exc).__name__}"
            continue
        tops = 2 * n ** 3 / t / 1e12
        tried[f"{bm}x{bn}x{bk}/w{warps}/s{stages}"] = round(tops, 1)
        best = max(best, tops)
    ref = (ai[:256].double() @ bi[:256].double().T).to(torch.int64)  # exact below 2**53
    out["int8_triton_correct"] = bool(torch.equal(ref, c[:256, :256].to(torch.int64)))
    out["int8_matmul_tops"] = best
    out["int8_triton_configs"] = tried
    try:
        t = _time_cuda(lambda: torch._int_mm(ai, bi.T), 10)
        out["int8_torch_int_mm_tops"] = 2 * n ** 3 / t / 1e12
    except Exception as exc:  # noqa: BLE001
        out["int8_torch_int_mm_tops"] = f"failed: {type(exc).__name__}"
    del ai, bi, c
    x = torch.empty(2 ** 30, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    t = _time_cuda(lambda: y.copy_(x), 20)
    out["copy_tb_s"] = 2 * x.numel() / t / 1e12
    del x, y
    torch.cuda.empty_cache()
    return out


# ------------------------------------------------------------------------------------------
# one measurement
# ------------------------------------------------------------------------------------------
def make_fn(variant: str, net: Any, intmodel: Any, x32: Any,
            tiles: dict[str, Any] | None = None) -> tuple[Callable[[], Any], str]:
    """One call of ``variant`` on the device-resident input ``x32`` (queues work, returns)."""
    import torch

    from tinyicenet.kernels.float_twin import float_twin
    if is_kernels(variant):
        from tinyicenet.kernels.runner import IntTinyIceNetGPU
        runner = IntTinyIceNetGPU(intmodel, device="cuda", graphs=True,
                                  tiles={k: tuple(v) for k, v in (tiles or {}).items()},
                                  **kernel_options(variant))
        pixels = x32.numel() // x32.shape[1]
        return ((lambda: runner.forward_int(x32, copy=False)),
                f"int (custom kernels, {runner.resolve(pixels)}{', PDL' if runner.pdl else ''}"
                f"{', wide stores' if runner.wide_stores(pixels) else ''})")
    model = float_twin(net).to(x32.device)
    if variant == "eager-fp32":
        x = x32
        prec = "fp32 (cuDNN defaults)" if x32.is_cuda else "fp32"
    else:
        model = model.half()
        x = x32.half()
        prec = "fp16"
    if variant == "compile-fp16":
        model = torch.compile(model, mode="max-autotune")

    def call() -> Any:
        with torch.inference_mode():
            return model(x)
    return call, prec


#: launch shapes tried per stage: (TH, TW, warps, pipeline stages, widest activation copy)
#: (8-byte, L1-cached copies, VEC=8, measured slower for every large stage: see the notes)
#: (pipeline stages 1, plain loads, crashed with an illegal address in run 6: not tried)
TUNE_TILES = ((8, 16, 4, 3, 16), (8, 32, 4, 3, 16), (16, 16, 8, 3, 16), (16, 32, 8, 3, 16),
              (8, 16, 4, 2, 16), (8, 16, 4, 4, 16), (4, 16, 4, 3, 16), (4, 16, 8, 3, 16))
#: halo conv tiles (TH, TW, warps; the halo convs ignore the last two fields) tried with
#: ``--stage-shapes halo``; run 44 chose small calls' decoder0 tile from these (bench notes)
HALO_TUNE_TILES = tuple((*t, 3, 16) for t in (
    (2, 16, 1), (4, 16, 2), (4, 32, 2), (8, 16, 2), (8, 16, 4), (8, 32, 4), (4, 64, 2),
    (16, 16, 4), (16, 16, 8), (16, 32, 4), (16, 32, 8), (8, 64, 4), (32, 16, 16)))
STAGE_SHAPES = {"tune": TUNE_TILES, "halo": HALO_TUNE_TILES, "default": ()}


def stage_times(intmodel: Any, n: int, h: int, w: int,
                tiles: dict[str, tuple[int, ...]] | None = None,
                options: dict[str, Any] | None = None) -> dict[str, float]:
    """Median GPU microseconds of each kernel: a CUDA graph of 10 launches, replayed."""
    import torch

    from tinyicenet.kernels.runner import IntTinyIceNetGPU
    runner = IntTinyIceNetGPU(intmodel, device="cuda", graphs=False, tiles=tiles,
                              **(options or {}))
    x = torch.randn(n, runner.plan.in_channels, h, w, device="cuda")
    state = runner.state(n, h, w)
    launches = runner.launches(state, x)
    for _, launch in launches:  # compile, load, and fill every buffer once
        launch()
    torch.cuda.synchronize()
    out = {}
    for name, launch in launches:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(10):
                launch()
        out[name] = _time_cuda(graph.replay, 10) * 1e6 / 10
    out["sum"] = sum(out.values())
    return out


def _synchronised_p50_us(fn: Callable[[], Any], calls: int) -> float:
    """p50 microseconds of ``fn`` then a device synchronisation (50 calls of warm-up)."""
    import torch
    for _ in range(50):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    return float(np.percentile(ts, 50) * 1e6)


def launch_floor(launches: tuple[int, ...] = (1, 5), calls: int = 2000,
                 threads: int = 128) -> dict[str, Any]:
    """What launches cost without work: a CUDA graph of ``n`` empty kernels, launched as the
    halo convs are, plain and as programmatic dependent launches (``cuda_halo.EmptyKernel``,
    one program per SM), replayed then synchronised (``replay_us``, p50), and between CUDA
    events around one replay (``gpu_us``: on an idle GPU that includes the graph's
    submission, so it is not device time alone)."""
    import torch

    from tinyicenet.kernels.cuda_halo import EmptyKernel
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    grid = (props.multi_processor_count,)
    out: dict[str, Any] = {"programs": grid[0], "threads": threads}
    for pdl in (False, True):
        kernel = EmptyKernel(threads, pdl=pdl)
        kernel.launch(grid, ())       # compiled and loaded outside the capture
        torch.cuda.synchronize()
        for n in launches:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(n):
                    kernel.launch(grid, ())
            out[f"{n}_launches{'_pdl' if pdl else ''}"] = {
                "replay_us": _synchronised_p50_us(graph.replay, calls),
                "gpu_us": _time_cuda(graph.replay, 200) * 1e6}
    return out


def latency_probe(intmodel: Any, variants: list[str], h: int = 256, w: int = 256,
                  calls: int = 2000) -> dict[str, Any]:
    """Where batch-1 latency goes: host + launch + GPU, per kernel variant (p50 microseconds).

    ``forward``: ``runner.forward_int`` then a device synchronisation (what the harness times);
    ``replay``: the CUDA graph's replay then a synchronisation; ``sync``: a synchronisation of
    an idle device; ``gpu``: the median time between CUDA events around one replay (on an
    idle GPU that includes the graph's submission: not device time alone; the stage times
    are); ``floor``: :func:`launch_floor`.
    """
    import torch

    from tinyicenet.kernels.runner import IntTinyIceNetGPU

    def p50(fn: Callable[[], Any]) -> float:
        return _synchronised_p50_us(fn, calls)

    out: dict[str, Any] = {"sync_us": p50(lambda: None), "floor": launch_floor(calls=calls)}
    log(f"latency probe: idle sync {out['sync_us']:.1f} us, launch floor {out['floor']}")
    x = torch.randn(1, 2, h, w, device="cuda")
    for v in variants:
        runner = IntTinyIceNetGPU(intmodel, device="cuda", **kernel_options(v))
        runner.forward_int(x, copy=False)
        graph = runner._graph_for(runner.state(1, h, w), x)
        out[v] = {"forward_us": p50(lambda: runner.forward_int(x, copy=False)),
                  "replay_us": p50(graph.replay),
                  "gpu_us": _time_cuda(graph.replay, 200) * 1e6,
                  "design": runner.design, "pdl": runner.pdl,
                  "wide": runner.wide_stores(h * w)}
        log(f"latency probe {h}x{w}x1 {v}: {out[v]}")
    return out


def check_tuned(intmodel: Any, tiles: dict[str, Any], seed: int,
                options: dict[str, Any] | None = None) -> int:
    """Differing values of a runner with per-stage launch shapes ``tiles`` (random input from
    ``seed``)."""
    import torch

    from tinyicenet.kernels.runner import IntTinyIceNetGPU
    runner = IntTinyIceNetGPU(intmodel, device="cuda", tiles=tiles, **(options or {}))
    x = np.random.default_rng(seed).standard_normal((2, runner.plan.in_channels, 128, 192))
    x = (x * 3).astype(np.float32)
    got = runner.forward_int(torch.from_numpy(x).cuda()).cpu().numpy().astype(np.int64)
    return int((got != intmodel.run_int(intmodel.quantize_input(x))).sum())


def tune(intmodel: Any, n: int, h: int, w: int, options: dict[str, Any] | None = None,
         shapes: tuple[tuple[int, ...], ...] = TUNE_TILES
         ) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Stage times for each launch shape in ``shapes``, and the fastest shape per stage.

    ``shapes=()`` times the runner's default shapes only (``chosen``: those defaults)."""
    table: dict[str, Any] = {}
    if not shapes:
        from tinyicenet.kernels.runner import IntTinyIceNetGPU
        runner = IntTinyIceNetGPU(intmodel, device="cuda", graphs=False, **(options or {}))
        from tinyicenet.kernels.cuda_halo import HaloKernel, NetTileKernel
        default = {name: list(k.tile if isinstance(k, (HaloKernel, NetTileKernel))
                              else runner._tile(name, n * h * w))
                   for name, k, *_ in runner.launch_specs(runner.state(n, h, w), None)}
        del runner
        table["default"] = stage_times(intmodel, n, h, w, None, options)
        return table, default
    for t in shapes:
        key = f"{t[0]}x{t[1]}/w{t[2]}/s{t[3]}/v{t[4]}"
        try:
            table[key] = stage_times(intmodel, n, h, w, {"*": t}, options)
        except Exception as exc:  # noqa: BLE001 - a shape the compiler refuses
            table[key] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    from tinyicenet.kernels.adapt import from_intref
    from tinyicenet.kernels.cuda_halo import check_tile
    from tinyicenet.kernels.plan import lower
    # a shape that does not suit a halo conv left it on its own default: not a candidate there
    halo = {s.name for s in lower(from_intref(intmodel), (options or {}).get("design")).stages
            if s.halo}
    best: dict[str, list[int]] = {}
    stages = next(v for v in table.values() if "error" not in v)
    for stage in stages:
        if stage == "sum":
            continue
        ok = [(v[stage], t) for t, v in zip(shapes, table.values())
              if "error" not in v and stage in v and (stage not in halo or check_tile(t[:3]))]
        best[stage] = list(min(ok)[1])
    return table, best


# ------------------------------------------------------------------------------------------
# inputs for a GPU machine without Brevitas / NetCDF (run here, carry the folder)
# ------------------------------------------------------------------------------------------
def prepare(out_dir: str, scenes: int = 2) -> None:
    """Write integer models (Brevitas, calibrated + a few QAT steps on noise) and scene tiles.

    ``tinyicenet_w{8,4}a{8,4}[_noskip].npz`` via ``save_intref``, and ``scenes.npz`` (array
    ``tiles``): generated AI4Arctic scenes read by the project's loader, cut into 256² tiles
    with a 16-pixel halo. Needs the full environment (Brevitas, netCDF4), not a GPU.
    """
    import tempfile

    import torch

    from tinyicenet.data import extract_tiles, load_scene, plan_tiles, write_scenes
    from tinyicenet.export.intref import from_brevitas, save_intref
    from tinyicenet.models import calibrate, create_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("tinyicenet_w8a8", "tinyicenet_w4a4", "tinyicenet_w8a8_noskip",
                 "tinyicenet_w4a4_noskip"):
        torch.manual_seed(0)
        model = create_model(name)
        g = torch.Generator().manual_seed(1)
        calibrate(model, [torch.randn(4, 2, 32, 32, generator=g) for _ in range(2)])
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(5):  # move weights and scales off their initial values
            x = torch.randn(4, 2, 32, 32, generator=g)
            target = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0.5).long()
            loss = torch.nn.functional.cross_entropy(model(x), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        save_intref(from_brevitas(model.eval()), out / f"{name}.npz", sidecar=False)
        log(f"wrote {out / name}.npz")
    with tempfile.TemporaryDirectory() as tmp:
        write_scenes(tmp, scenes, size=(600, 600), seed=3)
        tiles = []
        for f in sorted(Path(tmp).glob("*_prep.nc")):
            image = load_scene(f, downsample=1)["image"]
            tiles.append(extract_tiles(image, plan_tiles(image.shape[1:], tile=256, halo=16)))
    from tinyicenet.atomic import atomic_path
    with atomic_path(out / "scenes.npz") as tmp_path:
        with open(tmp_path, "wb") as fh:
            np.savez_compressed(fh, tiles=np.concatenate(tiles).astype(np.float32))
    log(f"wrote {out / 'scenes.npz'}")


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------
def usable_variants(variants: list[str], device: str) -> tuple[list[str], list[dict[str, str]]]:
    """The variants that can run here, and ``{variant, reason}`` for those that cannot."""
    import importlib.util
    have_triton = importlib.util.find_spec("triton") is not None
    run, dropped = [], []
    for v in variants:
        reason = None
        if (is_kernels(v) or v == "compile-fp16") and device != "cuda":
            reason = f"needs CUDA (running on {device})"
        elif is_kernels(v) and not have_triton:
            reason = "the custom kernels need Triton, which is not installed"
        elif v == "compile-fp16" and not have_triton:
            reason = "torch.compile on CUDA needs Triton, which is not installed"
        if reason:
            dropped.append({"variant": v, "reason": reason})
        else:
            run.append(v)
    return run, dropped


def one_image_scene(h: int, w: int) -> Any:
    """The per-"scene" unit of this script: one input image of h x w (a 1024² image covers a
    400 km EW scene at 400 m)."""
    from tinyicenet.bench.units import SceneUnit
    return SceneUnit(pixels=(h, w), pixel_spacing_m=400.0, tile=(h, w), halo=0, tiles=1,
                     name=f"one {h} x {w} input image")


def entry_of(result: dict[str, Any], variant: str, prec: str, h: int, w: int, ops: float,
             peaks: dict[str, Any], launch_tiles: Any) -> dict[str, Any]:
    """The script's per-measurement summary, read from the harness's bench-schema result."""
    fps = result["tiles_per_s"]
    e = result["energy_mj"]
    tops = ops * fps / 1e12
    kern = is_kernels(variant)
    peak = peaks.get("int8_matmul_tops") if kern else peaks.get("bf16_matmul_tflops")
    return {"variant": variant, "precision": prec, "h": h, "w": w, "batch": result["batch"],
            "launch_tiles": launch_tiles if kern else None,
            "fps": fps, "fps_synchronised": result.get("synchronised_tiles_per_s"),
            "latency_ms_p50": result["latency_ms"]["p50"],
            "latency_ms_p99": result["latency_ms"]["p99"],
            "mj_per_image": e["per_tile_gross"],
            "mj_per_image_above_idle": e["per_tile_above_idle"],
            "power_w": result["power_w"]["average"],
            "ops_per_image": ops, "tops": tops,
            "peak_used": "int8 GEMM" if kern else "bf16 GEMM",
            "fraction_of_peak": tops / peak if isinstance(peak, float) and peak else None,
            "fraction_of_bf16_peak": (tops / peaks["bf16_matmul_tflops"]
                                      if isinstance(peaks.get("bf16_matmul_tflops"), float)
                                      else None),
            "timing": result["timing"], "warmup_s": result["method"]["warmup_s"],
            "windows": len(result["windows"])}


def stage_roofline(traffic: dict[str, Any], table: dict[str, Any], best: dict[str, Any],
                   peaks: dict[str, Any]) -> dict[str, Any]:
    """Per stage at its fastest launch shape: time, TOP/s, bytes per pixel, against ceilings."""
    out = {}
    for name, tr in traffic.items():
        times = [v[name] for v in table.values() if isinstance(v, dict) and name in v]
        if not times:
            continue
        us = min(times)
        s = us * 1e-6
        px = tr["pixels"]
        tops = 2 * tr["macs"] / s / 1e12
        entry = {"us": us, "tops": tops, "mma_tops": 2 * tr["mma_macs"] / s / 1e12,
                 "gathered_tb_s": tr["gathered_bytes"] / s / 1e12,
                 "compulsory_tb_s": tr["compulsory_bytes"] / s / 1e12,
                 "gathered_b_per_px": tr["gathered_bytes"] / px,
                 "compulsory_b_per_px": tr["compulsory_bytes"] / px,
                 "launch_shape": best.get(name)}
        if isinstance(peaks.get("int8_matmul_tops"), float):
            entry["floor_mma_us"] = 2 * tr["mma_macs"] / (peaks["int8_matmul_tops"] * 1e12) * 1e6
            entry["fraction_of_int8_peak"] = entry["mma_tops"] / peaks["int8_matmul_tops"]
        if isinstance(peaks.get("copy_tb_s"), float):
            entry["floor_compulsory_bytes_us"] = (tr["compulsory_bytes"] / (peaks["copy_tb_s"]
                                                                             * 1e12) * 1e6)
        out[name] = entry
    return out


def issue14_targets(results: list[dict[str, Any]]) -> dict[str, bool]:
    """Issue 14's targets for the default kernels (``kernels``), where measured.

    "Today" is the first-generation design measured in the same run (``kernels-gen1``).
    """
    by = {(r["variant"], r["h"], r["w"], r["batch"]): r for r in results if "fps" in r}
    out: dict[str, bool] = {}
    big = by.get(("kernels", 1024, 1024, 16))
    if big:
        out["1024x16: >= 11000 images/s (bar)"] = big["fps"] >= 11000
        out["1024x16: >= 15000 images/s at <= 35 mJ/image (goal)"] = (
            big["fps"] >= 15000 and big["mj_per_image"] is not None
            and big["mj_per_image"] <= 35)
    small = by.get(("kernels", 256, 256, 1))
    if small:
        out["256x1: p50 latency <= 20 us (synchronised)"] = small["latency_ms_p50"] <= 0.020
    mid, today = by.get(("kernels", 256, 256, 64)), by.get(("kernels-gen1", 256, 256, 64))
    if mid and today:
        out["256x64: >= 1.5x the first-generation kernels (same run)"] = (
            mid["fps"] >= 1.5 * today["fps"])
    return out


def ratios_against_fastest_pytorch(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration: the kernels against the fastest PyTorch variant measured there."""
    out: dict[str, Any] = {}
    for cfg in sorted({(r["h"], r["w"], r["batch"]) for r in results}):
        by = {r["variant"]: r for r in results if (r["h"], r["w"], r["batch"]) == cfg
              and "fps" in r}
        torch_runs = [r for v, r in by.items() if not is_kernels(v)]
        if "kernels" not in by or not torch_runs:
            continue
        k = by["kernels"]
        others = {v: {"fps_ratio": k["fps"] / r["fps"],
                      "latency_p50_ratio": (k["latency_ms_p50"] / r["latency_ms_p50"]
                                            if k.get("latency_ms_p50") and r.get("latency_ms_p50")
                                            else None)}
                  for v, r in by.items() if is_kernels(v) and v != "kernels"}
        base = max(torch_runs, key=lambda r: r["fps"])
        with_energy = [r for r in torch_runs if r["mj_per_image"]]
        low = min(with_energy, key=lambda r: r["mj_per_image"]) if with_energy else None
        out[f"{cfg[0]}x{cfg[1]}x{cfg[2]}"] = {
            "baseline": {"variant": base["variant"], "fps": base["fps"],
                         "mj_per_image": base["mj_per_image"],
                         "rule": "fastest PyTorch variant of this configuration, same run"},
            "fps_ratio": k["fps"] / base["fps"],
            "energy_ratio": (k["mj_per_image"] / base["mj_per_image"]
                             if k["mj_per_image"] and base["mj_per_image"] else None),
            "lowest_energy_pytorch": ({"variant": low["variant"],
                                       "mj_per_image": low["mj_per_image"]} if low else None),
            "energy_ratio_vs_lowest_energy_pytorch": (
                k["mj_per_image"] / low["mj_per_image"] if low and k["mj_per_image"] else None),
            "vs_other_kernel_variants": others,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="w8a8",
                   help="benchmarked model: integer reference .npz or synthetic tag (w8a8, ...)")
    p.add_argument("--check", default=",".join(CHECKS),
                   help="models to check for exactness (.npz files and/or synthetic tags)")
    p.add_argument("--check-variants", default=None,
                   help="kernel variants to check for exactness (default: every one measured)")
    p.add_argument("--scenes", default=None, help=".npz with array 'tiles' [N, 2, H, W]")
    p.add_argument("--configs", default=DEFAULT_CONFIGS, help="HxB or HxWxB, comma-separated")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--window", type=float, default=10.0,
                   help="seconds per queued (throughput + energy) window")
    p.add_argument("--repetitions", type=int, default=3, help="queued windows; median reported")
    p.add_argument("--latency", type=float, default=None,
                   help="seconds of synchronised calls after each window (default: harness's)")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--idle", type=float, default=8.0, help="seconds of idle power window")
    p.add_argument("--stages", action="store_true", help="time each kernel stage too")
    p.add_argument("--stage-shapes", default="tune", choices=tuple(STAGE_SHAPES),
                   help="--stages: try TUNE_TILES (or HALO_TUNE_TILES, for designs whose "
                        "stages are all halo convs: gen7) and measure with the fastest per "
                        "stage, or time the runner's default shapes only (what predict/bench "
                        "use)")
    p.add_argument("--stage-configs", default=None,
                   help="configurations whose stages --stages tunes (default: all)")
    p.add_argument("--no-peaks", action="store_true")
    p.add_argument("--latency-probe", action="store_true",
                   help="split batch-1 latency into host, launch and GPU time per kernel variant")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                   help="cpu: smoke test of the script's path (eager variants only)")
    p.add_argument("--quick", action="store_true", help="short windows (smoke test only)")
    p.add_argument("--out", default=None, help="JSON result file")
    p.add_argument("--commit", default=None,
                   help="commit of the tree that runs, for this record and every harness "
                        "record in it (sets TINYICENET_COMMIT; default: "
                        "tinyicenet.bench.sysinfo.commit)")
    p.add_argument("--prepare", default=None, metavar="DIR",
                   help="only write the integer models and scene tiles to DIR (CPU, needs "
                        "Brevitas) for a later run with --model/--check/--scenes, then exit")
    args = p.parse_args(argv)
    if args.prepare:
        prepare(args.prepare)
        return 0
    if args.commit:   # the harness records read it too
        os.environ["TINYICENET_COMMIT"] = args.commit

    import torch

    from tinyicenet.bench.harness import BenchConfig, measure_idle, run_bench
    from tinyicenet.bench.meters import open_meter, open_meter_or_unavailable
    from tinyicenet.bench.sysinfo import commit
    from tinyicenet.bench.targets.common import annotate_run
    from tinyicenet.bench.workload import CallableWorkload

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        log("error: no CUDA device (torch.cuda.is_available() is False); --device cpu runs "
            "the smoke test")
        return 4
    if args.quick:
        args.window, args.idle, args.warmup = 2.0, 2.0, 0.5
    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    dev = torch.cuda.get_device_name() if cuda else "cpu"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    variants, dropped = usable_variants([v for v in args.variants.split(",") if v], args.device)
    for d in dropped:
        log(f"warning: dropped variant {d['variant']}: {d['reason']}")
    record: dict[str, Any] = {
        "schema": "tinyicenet-gpu-kernels", "version": 2, "script": "bench/bench_gpu_kernels.py",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": args.commit or commit(),
        "host": platform.node(), "device": dev,
        "software": {"torch": torch.__version__, "triton": triton_version,
                     "cuda": torch.version.cuda, "python": platform.python_version()},
        "args": vars(args), "window_s": args.window, "repetitions": args.repetitions,
        "timing": {"throughput": "queued", "latency": "synchronised",
                   "method": "tinyicenet.bench.harness: per repetition a queued window "
                             "(calls back to back, one device synchronisation, NVML energy "
                             "around it), then synchronised single calls for latency"},
        "dropped": dropped}
    if not cuda:
        record["smoke_test"] = "CPU smoke test of the script: not a measurement to cite"
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,power.limit,"
                              "clocks.max.sm,clocks.sm,temperature.gpu", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        record["nvidia_smi"] = smi
    except Exception:  # noqa: BLE001
        pass
    log(f"device {dev}; torch {torch.__version__}; triton {triton_version}; "
        f"commit {record['commit']}")

    def save() -> None:
        if args.out:
            text = json.dumps(record, indent=1, default=str) + "\n"
            from tinyicenet.atomic import write_text
            write_text(args.out, text)

    def save_bench() -> None:
        # the measurements alone, in the project's bench schema (what `tinyicenet report` reads)
        if args.out and record["bench_schema_results"]:
            from tinyicenet.bench.schema import write_results
            out = Path(args.out)
            write_results(out.with_name(f"{out.stem}_bench.json"), record["bench_schema_results"])

    # 1. exactness ------------------------------------------------------------------------
    scenes = None
    if args.scenes:
        with np.load(args.scenes) as z:
            scenes = np.ascontiguousarray(z["tiles"], dtype=np.float32)
    record["exactness"] = []
    kernel_variants = [v for v in variants if is_kernels(v)]
    if kernel_variants:
        for i, spec in enumerate(s for s in args.check.split(",") if s):
            model, label = load_model(spec)
            for kv in (args.check_variants.split(",") if args.check_variants
                       else kernel_variants):
                t = time.perf_counter()
                res = check_exact(model, label, scenes, seed=1000 + i, options=kernel_options(kv))
                res["variant"] = kv
                res["seconds"] = round(time.perf_counter() - t, 1)
                record["exactness"].append(res)
                log(f"exactness {label} {kv} ({res['runner']}): {res['differing']} differing "
                    f"values ({', '.join(str(c['differing']) for c in res['cases'])})")
            save()
    else:
        record["exactness_skipped"] = "the kernels do not run here"
    save()

    # 2. ceilings ---------------------------------------------------------------------------
    if not args.no_peaks and cuda and triton_version:
        t = time.perf_counter()
        record["peaks"] = measure_peaks()
        log(f"peaks ({time.perf_counter() - t:.0f} s): "
            + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in record["peaks"].items() if not isinstance(v, dict)))
        save()
    peaks = record.get("peaks", {})

    # 3. idle (one window shared by every measurement) -------------------------------------
    from tinyicenet.kernels.adapt import from_intref
    from tinyicenet.kernels.float_twin import macs_per_image
    intmodel, label = load_model(args.model)
    net = from_intref(intmodel)
    if args.latency_probe and kernel_variants:
        record["latency_probe"] = latency_probe(intmodel, kernel_variants)
        save()
    meter = open_meter_or_unavailable("nvml") if cuda else open_meter("none")
    record["meter"] = meter.describe()
    sync()
    time.sleep(1.0 if cuda else 0.0)
    idle = measure_idle(meter, args.idle, sync)
    record["idle"] = {"seconds": idle.elapsed_s, "power_w": idle.average_power_w,
                      "reason": idle.reason}
    watts = idle.average_power_w
    log(f"idle power: {watts if watts is None else round(watts, 1)} W")
    config = BenchConfig(window_s=args.window, repetitions=args.repetitions,
                         warmup_s=args.warmup, warmup_calls=3, measure_idle=False,
                         latency_s=args.latency,
                         notes=["bench/bench_gpu_kernels.py", f"model {label}; float variants "
                                "run its float twin (tinyicenet.kernels.float_twin)"])

    # 4. configurations ---------------------------------------------------------------------
    record["model"] = label
    record["results"], record["bench_schema_results"], record["stages"] = [], [], {}
    for cfg in args.configs.split(","):
        parts = [int(v) for v in cfg.lower().split("x")]
        h, w, batch = (parts[0], parts[0], parts[1]) if len(parts) == 2 else parts
        ops = 2 * macs_per_image(net, h, w)
        g = torch.Generator(device="cpu").manual_seed(h * 7 + batch)
        x32 = torch.randn(batch, net.in_channels, h, w, generator=g).to(args.device)
        best_by_design: dict[tuple[str, bool | None], Any] = {}
        tune_here = args.stages and (args.stage_configs is None or cfg in
                                     args.stage_configs.split(","))
        if tune_here and kernel_variants:
            from tinyicenet.kernels.plan import lower
            from tinyicenet.kernels.traffic import network_traffic, stage_traffic
            for design, wide in dict.fromkeys(stage_design(v, batch * h * w)
                                              for v in kernel_variants):
                t = time.perf_counter()
                # per-stage launches (a fused call's stages cannot be timed one by one)
                table, best = tune(intmodel, batch, h, w,
                                   {"design": design, "pdl": False, "fused": False,
                                    "wide": wide},
                                   STAGE_SHAPES[args.stage_shapes])
                key = f"{h}x{w}x{batch}/{design}" + {None: "", False: "-narrow",
                                                     True: "-wide"}[wide]
                traffic = (network_traffic(lower(net, design), batch, h, w,
                                           tuple(best["network"][:3])) if design == "gen8"
                           else stage_traffic(lower(net, design), batch, h, w))
                record["stages"][key] = {"times_us": table, "chosen": best,
                                         "traffic": traffic,
                                         "roofline": stage_roofline(traffic, table, best, peaks)}
                for shape, times in table.items():
                    log(f"stages {key} {shape:16s} (us): " + ", ".join(
                        f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in times.items()))
                seed = 2000 + len(record["stages"])
                diff = check_tuned(intmodel, best, seed, {"design": design, "wide": wide})
                record["stages"][key].update(chosen_differing=diff, chosen_check_seed=seed)
                record.setdefault("tuned_differing", 0)
                record["tuned_differing"] += diff
                best_by_design[design, wide] = best
                log(f"chosen per stage ({design}): {best}, differing {diff} "
                    f"({time.perf_counter() - t:.0f} s)")
                for name, r in record["stages"][key]["roofline"].items():
                    log(f"  {name:11s} {r['us']:8.1f} us {r['tops']:7.1f} TOP/s "
                        f"{r['gathered_tb_s']:6.2f} TB/s gathered "
                        f"({r['gathered_b_per_px']:.0f} B/px, compulsory "
                        f"{r['compulsory_b_per_px']:.0f} B/px)")
                save()
        config_results = []
        for variant in variants:
            name = f"{variant}-{h}x{w}x{batch}"
            fn = None
            try:
                best = (best_by_design.get(stage_design(variant, batch * h * w))
                        if is_kernels(variant) else None)
                fn, prec = make_fn(variant, net, intmodel, x32, best)
                workload = CallableWorkload(
                    fn, batch=batch, tile=(h, w), device=dev, model=label, variant=variant,
                    backend="cuda-kernels" if is_kernels(variant) else "torch",
                    precision=prec, synchronize=sync)
                t = time.perf_counter()
                result = run_bench(workload, meter, config, target="cuda" if cuda else "cpu",
                                   scene=one_image_scene(h, w), idle=idle)
            except Exception as exc:  # noqa: BLE001 - record the failure, keep measuring
                log(f"{name}: FAILED {type(exc).__name__}: {str(exc)[:300]}")
                why = f"failed here at {h}x{w}x{batch}: {type(exc).__name__}: {str(exc)[:300]}"
                record["results"].append({"variant": variant, "h": h, "w": w, "batch": batch,
                                          "error": why})
                dropped.append({"variant": f"{variant} {h}x{w}x{batch}", "reason": why})
                continue
            finally:
                fn = workload = None  # noqa: F841
                gc.collect()
                if cuda:
                    torch.cuda.empty_cache()
            entry = entry_of(result, variant, prec, h, w, ops, peaks, best)
            entry["seconds"] = round(time.perf_counter() - t, 1)
            record["results"].append(entry)
            config_results.append(result)
            mj = entry["mj_per_image"]
            log(f"{name}: {entry['fps']:10.1f} fps queued ({entry['fps_synchronised']:.1f} "
                f"synchronised)  p50 {entry['latency_ms_p50']:8.3f} ms  "
                f"{'-' if mj is None else f'{mj:8.2f}'} mJ/img  {entry['tops']:7.1f} TOP/s  "
                f"({entry['seconds']:.0f} s)")
            save()
        record["bench_schema_results"] += annotate_run(config_results, dropped)
        save()
        save_bench()
    meter.close()

    # 5. ratios and targets ---------------------------------------------------------------------
    ratios = ratios_against_fastest_pytorch(record["results"])
    record["ratios_vs_fastest_pytorch"] = ratios
    targets = {}
    big = ratios.get("1024x1024x16")
    if big:
        targets["1024x16: fps >= 3x fastest PyTorch"] = big["fps_ratio"] >= 3
        targets["1024x16: mJ <= 1/3 fastest PyTorch"] = (big["energy_ratio"] is not None
                                                         and big["energy_ratio"] <= 1 / 3)
    small = ratios.get("256x256x1")
    if small:
        targets["256x1: fps >= 2x fastest PyTorch"] = small["fps_ratio"] >= 2
    targets.update(issue14_targets(record["results"]))
    record["targets"] = targets
    record["exact_everywhere"] = (all(e["differing"] == 0 for e in record["exactness"])
                                  and record.get("tuned_differing", 0) == 0)
    record["dropped"] = dropped
    for r in record["bench_schema_results"]:   # failures after a config's record was made
        r["dropped"] = [dict(d) for d in dropped]
    save()
    save_bench()

    # 6. table ------------------------------------------------------------------------------------
    log("")
    log(f"{'config':14s} {'variant':13s} {'fps queued':>10s} {'fps sync':>9s} {'p50 ms':>8s} "
        f"{'mJ/img':>8s} {'mJ>idle':>8s} {'TOP/s':>7s} {'%peak':>6s}")
    for r in record["results"]:
        cfg = f"{r['h']}x{r['w']}x{r['batch']}"
        if "fps" not in r:
            log(f"{cfg:14s} {r['variant']:13s} FAILED {r['error'][:60]}")
            continue
        mj = "-" if r["mj_per_image"] is None else f"{r['mj_per_image']:.2f}"
        ab = "-" if r["mj_per_image_above_idle"] is None else \
            f"{r['mj_per_image_above_idle']:.2f}"
        fr = "-" if r["fraction_of_peak"] is None else f"{100 * r['fraction_of_peak']:.1f}"
        log(f"{cfg:14s} {r['variant']:13s} {r['fps']:10.1f} {r['fps_synchronised']:9.1f} "
            f"{r['latency_ms_p50']:8.3f} {mj:>8s} {ab:>8s} {r['tops']:7.1f} {fr:>6s}")
    for cfg, rr in ratios.items():
        er = "-" if rr["energy_ratio"] is None else f"{rr['energy_ratio']:.3f}"
        log(f"kernels vs {rr['baseline']['variant']} (fastest PyTorch) at {cfg}: "
            f"fps x{rr['fps_ratio']:.2f}, energy x{er}")
    for t, ok in targets.items():
        log(f"target {t}: {'MET' if ok else 'NOT MET'}")
    for d in dropped:
        log(f"dropped {d['variant']}: {d['reason']}")
    log(f"exact on every check: {record['exact_everywhere']}")
    return 0 if record["exact_everywhere"] else 3


if __name__ == "__main__":
    sys.exit(main())

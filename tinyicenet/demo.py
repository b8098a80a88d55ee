"""The demo: the whole tinyicenet path, end to end, on scenes generated in the AI4Arctic layout.

Steps (each a library call; the folder layout under ``out`` says which step wrote what)::

    scenes/train, scenes/test   generated RTT scenes (held-out seeds for the test scenes)
    run/                        float pre-training then w4a4 QAT (checkpoints, metrics CSV/JSON)
    eval/                       AutoICE metrics on the test scenes, confusion matrix
    export/                     ONNX, QONNX, integer reference, golden files, checks
    hls/                        hls4ml project, C simulation verified against the integer reference
    products/                   GeoTIFF (COG), AutoICE NetCDF, quicklooks for the test scenes
    bench/                      CPU benchmark and the FPGA figures (modelled, labelled so)
    sweep/                      a small precision sweep under an FPGA energy budget (QAT from
                                the demo's float model, held-out scenes, modelled FPGA cost)
    report/                     the planners' report (report.html, report.md, report.json)
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyicenet.atomic import check_output_dir, make_dir, write_text
from tinyicenet.errors import ConfigError
from tinyicenet.progress import info

MARKER = "demo.json"


@dataclass
class DemoOptions:
    """Sizes and switches of a demo run; the defaults finish in minutes on 2 CPU cores."""

    out: Path = Path("demo")
    train_scenes: int = 8
    test_scenes: int = 2
    #: scene side in 80 m RTT pixels (1000 -> 200 x 200 working pixels at 400 m)
    size: int = 1000
    seed: int = 0
    #: tile of the HLS C simulation (small: C simulation of 256 x 256 takes seconds per tile)
    hls_tile: int = 32
    hls: bool = True
    bench_window_s: float = 2.0
    #: extra ``section.key=value`` overrides of the packaged ``demo`` training config
    train_overrides: tuple[str, ...] = ()
    #: the precision sweep: uniform weight/activation bits, energy budget (modelled mJ per EW
    #: scene, nominal), QAT epochs per configuration, at most this many trained
    sweep: bool = True
    sweep_bits: tuple[int, ...] = (2, 4)
    sweep_budget_mj: float = 400.0
    sweep_qat_epochs: int = 1
    sweep_max_evaluations: int | None = 4
    #: the accuracy the report's sweep sentence asks for (SOD F1 fraction): within reach of
    #: the demo's minutes of training, not a mission requirement
    sweep_target: float = 0.70
    quiet: bool = False


@dataclass
class DemoResult:
    out: Path
    report: Path
    steps: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def attach_csim(record: dict[str, Any], check: Any, tile: int) -> None:
    """Say what the demo's C simulation verified, and attach it only to the design it verified.

    The demo C-simulates the hls4ml project at a small tile (``tile`` x ``tile``); the FPGA
    bench record is usually the modelled design at another tile (256 x 256). A verification
    goes into ``provenance.verification`` only when the tiles are the same; otherwise the
    record's notes say that its own design is modelled, not simulated, and what the small
    C simulation of the same weights and layer configuration showed.
    """
    text = (f"hls4ml C simulation at {tile}x{tile} vs integer reference: {check.differing} "
            f"differing values, argmax agreement {check.argmax_agreement:.4%} over "
            f"{check.tiles} tiles")
    design = tuple(record["tile"])
    if design == (tile, tile):
        record["provenance"]["verification"] = text
        return
    notes = record["method"].get("notes") or []
    notes = [notes] if isinstance(notes, str) else list(notes)
    notes.append(f"the {design[0]}x{design[1]} design is modelled, not simulated or verified; "
                 f"the demo's {text} checks the same weights and layer configuration at the "
                 "small tile, not this design")
    record["method"]["notes"] = notes


def _prepare_out(out: Path) -> None:
    """Use an empty or missing folder, or one a previous demo wrote (it is replaced)."""
    check_output_dir(out)
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise ConfigError(f"{out}: folder is not empty and was not written by "
                              "'tinyicenet demo'; choose another --out")
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    make_dir(out)


def run_demo(options: DemoOptions) -> DemoResult:
    """Run every step of the demo into ``options.out`` and return where the report is."""
    opts = options
    out = Path(opts.out)
    _prepare_out(out)
    write_text(out / MARKER, json.dumps({"status": "running"}) + "\n")
    result = DemoResult(out=out, report=out / "report" / "report.html")
    steps: list[tuple[str, Callable[[], None]]] = []
    state: dict[str, Any] = {}

    def step(title: str):
        def register(fn: Callable[[], None]) -> Callable[[], None]:
            steps.append((title, fn))
            return fn
        return register

    @step("generate sample scenes")
    def _scenes() -> None:
        from tinyicenet.data.synth import write_scenes

        size = (opts.size, opts.size)
        state["train"] = write_scenes(out / "scenes" / "train", opts.train_scenes, size,
                                      seed=opts.seed)
        # held-out seeds: the test scenes share no polygons or speckle with training
        state["test"] = write_scenes(out / "scenes" / "test", opts.test_scenes, size,
                                     seed=opts.seed + 1000)

    @step("train float, then w4a4 QAT")
    def _train() -> None:
        from tinyicenet.train import load_config, run_training

        config = load_config("demo", overrides=[f"data.train=[{out / 'scenes' / 'train'}]",
                                                f"seed={opts.seed}", *opts.train_overrides])
        trained = run_training(config, out / "run", quiet=opts.quiet)
        state["ckpt"], state["float"] = trained.final, trained.float_twin

    @step("evaluate on held-out scenes (AutoICE metrics)")
    def _evaluate() -> None:
        from tinyicenet.evaluate import evaluate

        scores = evaluate(state["ckpt"], [out / "scenes" / "test"], out / "eval",
                          quiet=opts.quiet)
        result.facts["sod_f1_weighted"] = scores["metrics"]["SOD"]["f1_weighted"]

    @step("export ONNX / QONNX / integer reference")
    def _export() -> None:
        from tinyicenet.export.bundle import export_model

        export_model(state["ckpt"], out / "export", tile=64, n_random=2,
                     scene=state["test"][0], quiet=opts.quiet)

    @step("hls4ml project + C simulation vs integer reference")
    def _hls() -> None:
        from tinyicenet.hls import build_project

        built = build_project(state["ckpt"], (out / "hls").resolve(), tile=opts.hls_tile,
                              n_random=2, scene=state["test"][0], n_scene=2, quiet=opts.quiet)
        state["hls"] = built
        result.facts["csim_differing_values"] = built.report.differing
        result.facts["csim_argmax_agreement"] = built.report.argmax_agreement

    @step("predict whole test scenes into map products")
    def _predict() -> None:
        from tinyicenet.predict.pipeline import PredictOptions, predict_scenes

        predict_scenes(state["ckpt"], [out / "scenes" / "test"], out / "products",
                       PredictOptions(backend="integer", quiet=opts.quiet))

    @step("benchmark the CPU (and the FPGA design, modelled)")
    def _bench() -> None:
        from tinyicenet.bench.harness import BenchConfig
        from tinyicenet.bench.targets import TargetOptions, run_target

        bench_dir = out / "bench"
        bench_dir.mkdir(exist_ok=True)
        config = BenchConfig(window_s=opts.bench_window_s, repetitions=3, warmup_s=1.0,
                             notes=["demo run: short windows on a shared machine"])
        records = run_target("cpu", TargetOptions(model=str(state["ckpt"]), config=config,
                                                  backend="torch", quiet=opts.quiet))
        fpga = run_target("fpga", TargetOptions(model=str(state["ckpt"]), quiet=opts.quiet))
        if "hls" in state:
            for record in fpga:
                attach_csim(record, state["hls"].report, opts.hls_tile)
        records += fpga
        for i, record in enumerate(records):
            write_text(bench_dir / f"{record['target']}-{record['backend']}-{i}.json",
                       json.dumps(record, indent=2) + "\n")

    @step("precision sweep under an FPGA energy budget")
    def _sweep() -> None:
        from tinyicenet.sweep.run import SweepOptions, run_sweep
        from tinyicenet.sweep.search import Budget

        record = run_sweep(SweepOptions(
            out=out / "sweep" / "sweep.json", workdir=out / "sweep" / "work",
            budget=Budget("energy", opts.sweep_budget_mj), train=out / "scenes" / "train",
            test=out / "scenes" / "test", bits=tuple(opts.sweep_bits), recipe="demo",
            overrides=(f"seed={opts.seed}", *opts.train_overrides),
            qat_epochs=opts.sweep_qat_epochs, float_checkpoint=state["float"],
            max_evaluations=opts.sweep_max_evaluations, recost_trained=False,
            target=opts.sweep_target,
            quiet=opts.quiet))
        state["sweep"] = out / "sweep" / "sweep.json"
        result.facts["sweep_trained"] = record["search"]["evaluations"]
        result.facts["sweep_pareto"] = record["pareto"]

    @step("write the planners' report")
    def _report() -> None:
        from tinyicenet.report import write_report

        accuracy = sorted((out / "eval").glob("*.json"))
        products = sorted((out / "products").rglob("*.tif"))
        if "sweep" in state:
            accuracy.append(state["sweep"])
        result.report = write_report([out / "bench"], out / "report", accuracy_paths=accuracy,
                                     product=products[0] if products else None)

    if not opts.hls:
        steps = [s for s in steps if s[1] is not _hls]
    if not opts.sweep:
        steps = [s for s in steps if s[1] is not _sweep]
    for i, (title, fn) in enumerate(steps, 1):
        info(f"[bold][{i}/{len(steps)}][/bold] {title}", opts.quiet)
        t0 = time.perf_counter()
        fn()
        result.steps[title] = round(time.perf_counter() - t0, 1)
    write_text(out / MARKER, json.dumps({"status": "done", "steps_s": result.steps,
                                         "facts": result.facts}, indent=2, default=str) + "\n")
    return result

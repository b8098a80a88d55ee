"""The whole sweep: scenes, the shared float model, the budgeted search, the record.

:func:`run_sweep` is what ``tinyicenet sweep`` and the demo call. The FPGA cost of every
configuration is modelled twice: before training (the float weights quantized to it: the budget
check that decides whether it is trained at all) and after (the trained model's own design: the
figure recorded, plotted and checked against the budget again).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyicenet.atomic import make_dir, write_text
from tinyicenet.errors import ConfigError
from tinyicenet.progress import info, make_progress
from tinyicenet.sweep.search import Budget, greedy_search
from tinyicenet.sweep.space import parse_bits

DEFAULT_TARGET = 0.80


@dataclass
class SweepOptions:
    """A sweep's inputs; the defaults are small enough for a 2-core CPU."""

    out: Path
    workdir: Path
    budget: Budget
    train: Path | None = None
    test: Path | None = None
    #: generated scenes when ``train``/``test`` are not given (held-out seed for the test)
    train_scenes: int = 4
    test_scenes: int = 1
    size: int = 800
    seed: int = 0
    grouping: str = "uniform"
    bits: tuple[int, ...] = (2, 3, 4, 8)
    skips: bool = True
    recipe: str = "demo"
    overrides: tuple[str, ...] = ()
    qat_epochs: int | None = None
    float_checkpoint: Path | None = None
    tile: int = 256
    max_evaluations: int | None = None
    target: float = DEFAULT_TARGET
    finn: bool = False
    #: cost the trained model's own design again (the recorded figure); False records the
    #: pre-training design (float weights quantized to the configuration) and says so
    recost_trained: bool = True
    device: str = "cpu"
    quiet: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def describe(event: str, rec: Any, label: str) -> str:
    """The progress line for one search record."""
    if event == "evaluated":
        what = f"SOD F1 {100 * rec.accuracy:.1f}"
    elif event == "rejected":
        what = "over budget"
    else:
        what = "not evaluated"
    return f"sweep: {label} round {rec.round}: {what}"


def _scenes(opts: SweepOptions) -> tuple[Path, Path, dict[str, Any]]:
    from tinyicenet.data.synth import write_scenes

    if opts.train is not None:
        return Path(opts.train), Path(opts.test), {}
    size = (opts.size, opts.size)
    train = opts.workdir / "scenes" / "train"
    test = opts.workdir / "scenes" / "test"
    write_scenes(train, opts.train_scenes, size, seed=opts.seed)
    write_scenes(test, opts.test_scenes, size, seed=opts.seed + 1000)
    return train, test, {"generated": {"train_scenes": opts.train_scenes,
                                       "test_scenes": opts.test_scenes, "size": opts.size,
                                       "train_seed": opts.seed, "test_seed": opts.seed + 1000}}


def _scene_split(train: str | Path, test: str | Path) -> tuple[list[str], list[str]]:
    """The training and test scene files; ConfigError if a scene is in both."""
    from tinyicenet.data.reader import expand_scene_paths

    test_paths = expand_scene_paths([str(test)], "test scenes")
    train_paths = expand_scene_paths([str(train)], "training scenes")
    overlap = {p.name for p in map(Path, test_paths)} & {p.name for p in map(Path, train_paths)}
    if overlap:
        raise ConfigError(f"sweep: test scenes are also training scenes ({sorted(overlap)[0]})")
    return train_paths, test_paths


def run_sweep(opts: SweepOptions) -> dict[str, Any]:
    """Run the sweep and write its record to ``opts.out`` atomically; return the record."""
    from tinyicenet.sweep.accuracy import AccuracySetup, ConfigurationTrainer, scene_kind
    from tinyicenet.sweep.cost import HLS_ESTIMATOR, fpga_cost
    from tinyicenet.sweep.models import grouping as make_grouping
    from tinyicenet.bench.sysinfo import commit
    from tinyicenet.sweep.record import build_record

    t_start = time.perf_counter()
    source = commit()  # the tree that runs, read before anything can change it
    if not 0 <= opts.target <= 1:
        raise ConfigError(f"sweep: accuracy target {opts.target} must be a fraction in [0, 1]")
    if opts.tile <= 0:
        raise ConfigError(f"sweep: tile {opts.tile} must be positive")
    bits = tuple(opts.bits) if not isinstance(opts.bits, str) else parse_bits(opts.bits)
    from tinyicenet.train import load_config

    widths = load_config(opts.recipe, list(opts.overrides)).model.widths
    grouping = make_grouping(opts.grouping, levels=len(widths) - 1, skips=opts.skips)
    space = grouping.space(bits)
    if (opts.train is None) != (opts.test is None):
        raise ConfigError("sweep: give both --train and --test scene folders, or neither "
                          "(then scenes are generated)")
    for p in (opts.train, opts.test, opts.float_checkpoint):
        if p is not None and not Path(p).exists():
            raise ConfigError(f"{p}: no such file or folder")
    # given scenes are checked before the work folder exists, so a refusal leaves nothing
    split = _scene_split(opts.train, opts.test) if opts.train is not None else None
    make_dir(opts.workdir)
    train, test, generated = _scenes(opts)
    train_paths, test_paths = split or _scene_split(train, test)
    setup = AccuracySetup(train=train, test=test, workdir=opts.workdir, recipe=opts.recipe,
                          overrides=tuple(opts.overrides), qat_epochs=opts.qat_epochs,
                          float_checkpoint=opts.float_checkpoint, skips=opts.skips,
                          device=opts.device, quiet=True)

    def model_cost(model: Any) -> dict[str, Any]:
        return fpga_cost(model, tile=opts.tile)

    trainer = ConfigurationTrainer(setup, grouping,
                                   cost=model_cost if opts.recost_trained else None)
    info("sweep: float model (shared by every configuration)", opts.quiet)
    float_model = trainer.float_model()
    assumptions: list[str] = []

    def config_cost(config: Any) -> dict[str, Any]:
        c = model_cost(grouping.twin(float_model, config))
        assumptions[:] = c["assumptions"]
        return c

    with make_progress(opts.quiet) as progress:
        task = progress.add_task("sweep: costing and training configurations", total=None)

        def on_record(event: str, rec: Any) -> None:
            progress.update(task, advance=1, description=describe(
                event, rec, grouping.precision_label(rec.config)))

        result = greedy_search(space, config_cost, trainer, opts.budget,
                               max_evaluations=opts.max_evaluations, on_record=on_record)
    finn = None
    if opts.finn:
        finn = _finn_estimates(result, opts, setup)
    data = scene_kind([Path(p) for p in test_paths])
    recipe = trainer.recipe()
    accuracy = {
        "metric": "SOD weighted F1 (AutoICE scoring on the charts' own grid, "
                  "tinyicenet.evaluate), as a fraction",
        "data": data, "split": "test", "test_scenes": len(test_paths),
        "train_scenes": len(train_paths), "target": opts.target,
        "recipe": opts.recipe, "overrides": list(opts.overrides),
        "float_epochs": recipe.train.float_epochs if opts.float_checkpoint is None else None,
        "qat_epochs": opts.qat_epochs if opts.qat_epochs is not None
        else recipe.train.qat_epochs,
        "float_checkpoint": "trained here" if opts.float_checkpoint is None
        else _float_facts(Path(opts.float_checkpoint)),
        **generated,
    }
    fpga = {
        "provenance": "modelled", "board": "zcu102", "part": "xczu9eg",
        "estimators": [HLS_ESTIMATOR] + ([finn["estimator"]] if finn else []),
        "energy_model": next((r.cost["energy_model"] for r in result.records), ""),
        "range": "energy low / nominal / high per 400 km EW scene from the power model's "
                 "coefficient and toggle-rate range (a bound of stated uncertainties, not a "
                 "confidence interval)",
        "tile": [opts.tile, opts.tile],
        "budget_check": ("before training: the design of the float weights quantized to the "
                         "configuration (decides whether it is trained); after: the trained "
                         "model's own design (recorded, plotted, checked again)")
        if opts.recost_trained else
        ("before training only: the design of the float weights quantized to the configuration "
         "(recorded and plotted; the trained model's accumulator widths, and so its adders, "
         "may differ slightly)"),
        "assumptions": assumptions or ["no configuration was costed"],
        "finn": finn,
    }
    search = {"method": "greedy: from the cheapest configuration, each round widens by one "
                        "step the group with the largest accuracy gain per unit of budget; "
                        "configurations over the budget are never trained or kept",
              "max_evaluations": opts.max_evaluations,
              "wall_s": round(time.perf_counter() - t_start, 1)}
    record = build_record(result, accuracy=accuracy, fpga=fpga, grouping=grouping.name,
                          search=search, labels=grouping.precision_label, source=source,
                          extra={"grouping": grouping.to_dict(), **opts.extra})
    write_text(opts.out, json.dumps(record, indent=1) + "\n")
    return record


def _float_facts(path: Path) -> dict[str, Any]:
    """How a given float checkpoint was trained (from its own saved config), for the record."""
    from tinyicenet.models import read_checkpoint

    ckpt = read_checkpoint(path)
    cfg = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    stats = ckpt.get("data_stats") if isinstance(ckpt.get("data_stats"), dict) else {}
    train = cfg.get("train", {}) if isinstance(cfg.get("train"), dict) else {}
    return {"file": path.name, "model": (ckpt.get("model") or {}).get("name"),
            "float_epochs": train.get("float_epochs"),
            "steps_per_epoch": train.get("steps_per_epoch"), "batch": train.get("batch"),
            "seed": cfg.get("seed"), "train_scenes": stats.get("train_scenes")}


def _finn_estimates(result: Any, opts: SweepOptions, setup: Any) -> dict[str, Any] | None:
    """FINN+'s estimate of every kept configuration (folded for the hls4ml design's rate),
    where the FINN+ environment exists; None (and a warning) where it does not."""
    import warnings

    from tinyicenet.finn.env import available
    from tinyicenet.sweep.cost import FINN_ESTIMATOR, finn_cost

    if not available():
        warnings.warn("sweep --finn: no FINN+ environment (tinyicenet board finn --setup); "
                      "FINN+ estimates left out", stacklevel=2)
        return None
    points = {}
    for r in result.kept:
        ckpt = setup.workdir / r.details["checkpoint"]
        c = r.budget_cost()
        points[r.config.key] = finn_cost(ckpt, tile=opts.tile, target_fps=c["tiles_per_s"],
                                         ff_per_lut=c["ff"] / max(c["lut"], 1.0))
        r.details["finn"] = {k: points[r.config.key][k] for k in (
            "estimated_fps", "LUT", "BRAM_18K", "DSP", "energy_mj_per_scene",
            "energy_mj_per_scene_low", "energy_mj_per_scene_high")}
    return {"estimator": FINN_ESTIMATOR, "points": len(points),
            "folded_for": "the hls4ml design's tiles per second"}

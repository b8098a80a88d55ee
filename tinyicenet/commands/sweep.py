"""``tinyicenet sweep``: the budgeted precision search, every costed configuration recorded."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)


def sweep(
    out: Path = typer.Option(..., "--out", "-o", help="The sweep record (JSON) to write."),
    budget: float = typer.Option(..., "--budget",
                                 help="Budget limit, in the unit of --budget-metric."),
    budget_metric: str = typer.Option(
        "energy", "--budget-metric",
        help="energy (modelled mJ per EW scene, nominal), energy_high (its upper end) or lut."),
    bits: str = typer.Option("2,3,4,8", "--bits", help="Bit widths each group may take."),
    grouping: str = typer.Option("uniform", "--grouping",
                                 help="How bits are grouped: uniform (weight, activation), "
                                      "blocks (encoder/decoder/head weights, skip/last "
                                      "activations) or layers (one per quantizer)."),
    noskip: bool = typer.Option(False, "--noskip", help="Sweep the model without skips."),
    train: Path = typer.Option(None, "--train", help="Training scenes (file or folder)."),
    test: Path = typer.Option(None, "--test", help="Held-out test scenes (file or folder)."),
    train_scenes: int = typer.Option(4, "--train-scenes", min=1,
                                     help="Without --train/--test: generated training scenes."),
    test_scenes: int = typer.Option(1, "--test-scenes", min=1,
                                    help="Without --train/--test: generated test scenes."),
    size: int = typer.Option(800, "--size", min=400,
                             help="Generated scene side in 80 m pixels."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated scenes and training."),
    recipe: str = typer.Option("demo", "--config", help="Training recipe (packaged or YAML)."),
    overrides: list[str] = typer.Option([], "--set", help="Recipe override KEY=VALUE."),
    qat_epochs: int = typer.Option(None, "--qat-epochs", min=1,
                                   help="QAT epochs per configuration (default: the recipe's)."),
    float_checkpoint: Path = typer.Option(
        None, "--float-checkpoint", help="Start every QAT from this float model (default: "
                                         "train one first)."),
    tile: int = typer.Option(256, "--tile", min=8, help="FPGA design tile side."),
    max_evaluations: int = typer.Option(None, "--max-evaluations", min=1,
                                        help="Train at most this many configurations."),
    target: float = typer.Option(0.80, "--target",
                                 help="Accuracy the report asks for (SOD F1 fraction)."),
    finn: bool = typer.Option(False, "--finn",
                              help="Add FINN+'s estimates of each kept configuration."),
    workdir: Path = typer.Option(None, "--workdir",
                                 help="Checkpoints and scenes (default: OUT with .work)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Search per-group bit widths under an FPGA energy or LUT budget; record every
    configuration (accuracy on held-out scenes, modelled FPGA fps, resources, energy range)."""
    from tinyicenet.errors import ConfigError
    from tinyicenet.sweep.run import SweepOptions, run_sweep
    from tinyicenet.sweep.search import Budget
    from tinyicenet.sweep.space import parse_bits

    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device {device!r} is not one of auto, cpu, cuda")
    if out.exists() and out.is_dir():
        raise ConfigError(f"{out}: is a folder; --out names the record file to write")
    if not out.parent.is_dir():
        raise ConfigError(f"{out.parent}: no such folder for --out")
    opts = SweepOptions(
        out=out, workdir=workdir or out.with_suffix(".work"),
        budget=Budget(budget_metric, budget), train=train, test=test,
        train_scenes=train_scenes, test_scenes=test_scenes, size=size, seed=seed,
        grouping=grouping, bits=parse_bits(bits), skips=not noskip, recipe=recipe,
        overrides=tuple(overrides) + (f"seed={seed}",), qat_epochs=qat_epochs,
        float_checkpoint=float_checkpoint, tile=tile, max_evaluations=max_evaluations,
        target=target, finn=finn, device=device, quiet=quiet)
    record = run_sweep(opts)
    chosen = next((c for c in record["configurations"] if c["chosen"]), None)
    if not quiet and chosen is not None:
        typer.echo(f"sweep: {record['search']['evaluations']} configurations trained, "
                   f"{record['search']['costed']} costed; most accurate within budget: "
                   f"{chosen['label']} (SOD F1 {100 * chosen['sod_f1']:.1f} on held-out "
                   f"{'generated ' if record['accuracy']['data'] == 'synthetic' else ''}scenes,"
                   f" {chosen['energy_mj_per_scene']:.0f} mJ per scene modelled); "
                   f"record: {out}")

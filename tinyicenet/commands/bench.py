"""``tinyicenet bench``: fps, latency and energy of one target in the bench result schema."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def bench(
    target: str = typer.Option(..., "--target", "-t",
                               help="cpu | cuda | jetson | fpga"),
    backend: Optional[str] = typer.Option(None, help="backend (cpu: torch, onnxruntime, "
                                          "integer, or all = torch + onnxruntime; jetson: "
                                          "onnxruntime)"),
    variant: Optional[str] = typer.Option(None, help="cuda: eager-fp32, eager-fp16, "
                                          "compile-fp16, kernels, a comma list, or all "
                                          "(what cannot run here is dropped and recorded)"),
    model: Optional[str] = typer.Option(None, help="checkpoint / ONNX file or model name "
                                        "(default tinyicenet_w4a4)"),
    window: float = typer.Option(10.0, "--window", help="seconds per measurement window"),
    repetitions: int = typer.Option(5, "--repetitions", "-r",
                                    help="windows; the median is reported"),
    warmup: float = typer.Option(3.0, "--warmup", help="warm-up seconds before measuring"),
    latency: Optional[float] = typer.Option(
        None, "--latency", help="seconds of synchronised single calls (latency) after each "
        "queued window (default: a fifth of --window, at most 2)"),
    idle: Optional[float] = typer.Option(None, "--idle",
                                         help="idle-power window, seconds (default: --window)"),
    no_idle: bool = typer.Option(False, "--no-idle", help="skip the idle-power window"),
    batch: int = typer.Option(1, "--batch", "-b", help="tiles per call"),
    tile: tuple[int, int] = typer.Option((256, 256), "--tile", help="tile H W (halo included)"),
    halo: int = typer.Option(16, "--halo", help="tile halo in pixels (per side)"),
    scene: Optional[Path] = typer.Option(None, "--scene",
                                         help="take input tiles from this AI4Arctic scene file"),
    scene_pixels: Optional[tuple[int, int]] = typer.Option(
        None, "--scene-pixels", help="per-scene unit H W in working pixels (default: a 400 km "
        "Sentinel-1 EW scene at the model's spacing, 1000 x 1000)"),
    meter: Optional[str] = typer.Option(None, help="nvml | rapl | tegrastats | ina3221 | "
                                        "ina226 | pmbus | csv:PATH | none (default: the "
                                        "target's)"),
    import_path: Optional[Path] = typer.Option(None, "--import", help="fpga: a board-measured "
                                               "or modelled result file to validate and keep"),
    note: list[str] = typer.Option([], "--note", help="note stored in method.notes "
                                   "(repeatable), e.g. 'taken under load'"),
    seed: int = typer.Option(0, help="seed of the random input tiles"),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="result JSON to write (default: print it)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress output"),
) -> None:
    """Measure fps, latency and energy per tile and per Sentinel-1 EW scene on one target."""
    from tinyicenet.bench.harness import BenchConfig
    from tinyicenet.bench.schema import dumps, write_results
    from tinyicenet.bench.targets import TargetOptions, run_target
    from tinyicenet.progress import info

    from tinyicenet.commands import refuse_unused

    if no_idle:
        refuse_unused("--no-idle (no idle window is measured)", {"--idle": idle is not None})
    config = BenchConfig(window_s=window, repetitions=repetitions, warmup_s=warmup,
                         idle_s=idle, measure_idle=not no_idle, latency_s=latency,
                         notes=list(note))
    options = TargetOptions(
        backend=backend, variant=variant, model=model, batch=batch, tile=tuple(tile),
        halo=halo, scene_pixels=tuple(scene_pixels) if scene_pixels else None,
        scene_path=str(scene) if scene else None, meter=meter, config=config, quiet=quiet,
        seed=seed, import_path=str(import_path) if import_path else None)
    results = run_target(target, options)
    payload = results[0] if len(results) == 1 else results
    for r in results:
        info(summary_line(r), quiet)
    for d in results[0].get("dropped") or []:
        info(f"dropped {d['variant']}: {d['reason']}", quiet)
    if out is None:
        typer.echo(dumps(payload), nl=False)
    else:
        write_results(out, payload)
        info(f"wrote {out}", quiet)


def summary_line(result: dict) -> str:
    """One line: what ran and its headline figures, with provenance."""
    def num(value, fmt):
        return "n/a" if value is None else format(value, fmt)

    e = result["energy_mj"]
    prov = result["provenance"]
    label = "/".join(x for x in (result["target"], result["backend"], result.get("variant"))
                     if x)
    energy = (f"{num(e['per_tile_gross'], '.3g')} mJ/tile, {num(e['per_scene_gross'], '.4g')} "
              f"mJ/scene ({prov['energy']})" if prov["energy"] != "unavailable"
              else f"no energy ({prov.get('energy_reason')})")
    timing = result.get("timing") or {}
    base = result.get("baseline")
    ratio = (f"; x{base['tiles_per_s_ratio']:.2f} tiles/s vs {base['variant']}"
             if base and base.get("tiles_per_s_ratio") and base["variant"] != result.get("variant")
             else "")
    return (f"{label} on {result['device']}, batch {result['batch']}: "
            f"{num(result['tiles_per_s'], '.4g')} tiles/s, "
            f"{num(result['scenes_per_s'], '.4g')} scenes/s ({prov['throughput']}, "
            f"{timing.get('throughput', 'timing not recorded')}), "
            f"p50 {num(result['latency_ms']['p50'], '.3g')} ms "
            f"({timing.get('latency', 'timing not recorded')}); {energy}{ratio}")

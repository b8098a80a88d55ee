"""``tinyicenet hls CKPT --board zcu102 --out DIR``: a verified hls4ml project (C simulation)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("hls")
    def hls(
        checkpoint: Path = typer.Argument(..., help="A quantized tinyicenet checkpoint (.pt)."),
        out: Path = typer.Option(..., "--out", "-o",
                                 help="Project folder to write (replaced atomically)."),
        board: str = typer.Option("zcu102", "--board", help="Target board (boards/<board>)."),
        tile: int = typer.Option(None, "--tile", min=1,
                                 help="Fixed tile side (default: the planner picks one)."),
        settings: Path = typer.Option(
            None, "--settings", help="Per-layer strategy/reuse YAML (default hls/layers.yml)."),
        random_tiles: int = typer.Option(None, "--random-tiles", min=0,
                                         help="Fresh random tiles for the C-sim verification "
                                              "(default 2)."),
        scene: Path = typer.Option(None, "--scene",
                                   help="A scene file or folder to cut verification tiles from."),
        scene_tiles: int = typer.Option(None, "--scene-tiles", min=0,
                                        help="Tiles taken from --scene (default 2)."),
        seed: int = typer.Option(None, "--seed", min=0,
                                 help="Seed of the random tiles (default: fresh)."),
        input_precision: str = typer.Option(
            None, "--input-precision",
            help="Override the model input precision (expert; default: the input quantizer's "
                 "exact fixed-point type). Any other type fails the verification."),
        synth: bool = typer.Option(False, "--synth",
                                   help="Also run Vitis HLS synthesis (needs vitis-run)."),
        plan_only: bool = typer.Option(False, "--plan-only",
                                       help="Only the modelled resources/throughput (no C++)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    ) -> None:
        """Generate the hls4ml project of CKPT, compile its C simulation and verify it.

        The C simulation must equal the integer reference on every value of every tile
        (fresh random tiles, plus --scene tiles); otherwise the command fails and writes nothing.
        """
        from tinyicenet.atomic import check_output_dir
        from tinyicenet.commands import refuse_unused, scene_tile_count

        n_scene = scene_tile_count(scene, scene_tiles)
        check_output_dir(out)  # before minutes of C simulation, not at the final rename
        if plan_only:
            refuse_unused("--plan-only (it writes only the modelled plan, no C simulation)",
                          {"--random-tiles": random_tiles is not None,
                           "--scene": scene is not None, "--seed": seed is not None,
                           "--input-precision": input_precision is not None, "--synth": synth})
            _plan_only(checkpoint, out, board, tile, settings, quiet)
            return
        from tinyicenet.hls.project import DEFAULT_RANDOM_TILES, build_project

        result = build_project(checkpoint, out, board=board, tile=tile, settings=settings,
                               n_random=DEFAULT_RANDOM_TILES if random_tiles is None
                               else random_tiles, scene=scene, n_scene=n_scene,
                               seed=seed, input_precision=input_precision, synth=synth,
                               quiet=quiet)
        plan = result.plan
        typer.echo(f"verification: {result.report.summary()} -> PASSED")
        typer.echo(f"modelled: tile {plan.tile}, {plan.latency_cycles} cycles/tile at "
                   f"{plan.clock_mhz:g} MHz = {plan.tiles_per_s:.1f} tiles/s, "
                   f"{plan.fps_256:.1f} fps per 256x256 tile; "
                   + ", ".join(f"{k} {100 * v:.1f} %"
                               for k, v in plan.resources.utilisation().items()))
        typer.echo(f"wrote {result.project_dir}")


def _plan_only(checkpoint: Path, out: Path, board: str, tile: int | None,
               settings: Path | None, quiet: bool) -> None:
    import json

    from tinyicenet.atomic import atomic_dir
    from tinyicenet.errors import ExportError
    from tinyicenet.export.bundle import resolve_model
    from tinyicenet.hls.board import load_board
    from tinyicenet.hls.project import (RESOURCES_JSON, RESOURCES_MD, _resources_markdown,
                                        plan_project)
    from tinyicenet.hls.settings import load_settings
    from tinyicenet.progress import info

    brd, cfg = load_board(board), load_settings(settings)
    model, _, label = resolve_model(checkpoint)
    if not getattr(model, "quantized", False):
        raise ExportError(f"{label}: a float model has no FPGA design; use a quantized one")
    info("planning (modelled resources and throughput)", quiet)
    plan, candidates = plan_project(model, brd, cfg, tile)
    best = plan.to_dict()
    others = [p.to_dict() | {"layers": None, "process_cycles": None} for p in candidates]
    with atomic_dir(out) as tmp:
        (tmp / RESOURCES_JSON).write_text(json.dumps({"modelled": best, "candidates": others},
                                                     indent=1, default=float) + "\n")
        (tmp / RESOURCES_MD).write_text(_resources_markdown(best, others))
    typer.echo(f"modelled: tile {plan.tile}, {plan.fps_256:.1f} fps per 256x256 tile, fits "
               f"{plan.fits}; wrote {out}")

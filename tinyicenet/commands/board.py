"""``tinyicenet board ...``: the ZCU102 package (boards/zcu102) and the FINN inputs.

    board iospec (CKPT | --project HLS_DIR) --out io_spec.json   the I/O format shared with the
                                                  on-board driver
    board check --project HLS_DIR --io-spec F     inputs consistent? which tools are on PATH?
    board csim  --project HLS_DIR --io-spec F --out DIR    C simulation of the IP (g++)
    board build --project HLS_DIR --io-spec F --out DIR    HLS + Vivado -> .bit/.hwh
    board package --io-spec F --out DIR [--bitstream DIR] [--scene NC --checkpoint CKPT]
    board finn CKPT --out DIR                     FINN build inputs (run in FINN's docker)

Arguments and printing only: the io spec, the package and the build runner are
:mod:`tinyicenet.board`; the FINN+ flow is :mod:`tinyicenet.finn`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tinyicenet.errors import ConfigError


def register(app: typer.Typer) -> None:
    board_app = typer.Typer(help="ZCU102 board package (hls4ml path) and the FINN+ flow.",
                            no_args_is_help=True)
    app.add_typer(board_app, name="board")

    @board_app.command("iospec")
    def iospec_cmd(
        checkpoint: Path | None = typer.Argument(None, help="Quantized model checkpoint (.pt)."),
        out: Path = typer.Option(..., "--out", help="io_spec.json to write."),
        project: Path | None = typer.Option(None, "--project",
                                            help="tinyicenet HLS project (instead of CKPT): "
                                                 "the tile and formats of the generated IP."),
        tile: int = typer.Option(256, help="Tile side in pixels (with CKPT)."),
        halo: int = typer.Option(16, help="Halo in pixels on each side of a tile."),
        channels: str | None = typer.Option(None, help="Comma-separated input variables "
                                            "(default: the checkpoint's, or HH,HV)."),
    ) -> None:
        """Write the io spec (exponents, bit widths, tiling, word layout) for the board driver."""
        from tinyicenet.atomic import write_text
        from tinyicenet.board import make_io_spec

        names = [c.strip() for c in channels.split(",") if c.strip()] if channels else None
        spec = make_io_spec(checkpoint, project, tile=tile, halo=halo, channels=names,
                            where=str(out))
        write_text(out, json.dumps(spec, indent=2) + "\n")
        typer.echo(f"wrote {out}")

    @board_app.command("check")
    def check_cmd(
        project: Path = typer.Option(..., "--project", help="hls4ml project folder (io_stream)."),
        io_spec: Path = typer.Option(..., "--io-spec", help="io_spec.json of the network."),
    ) -> None:
        """Check that the HLS project matches the io spec and list the tools found on PATH."""
        from tinyicenet.board import run_build

        run_build(["check", "--hls-project", str(project), "--io-spec", str(io_spec)], False)

    @board_app.command("csim")
    def csim_cmd(
        project: Path = typer.Option(..., "--project", help="hls4ml project folder (io_stream)."),
        io_spec: Path = typer.Option(..., "--io-spec", help="io_spec.json of the network."),
        out: Path = typer.Option(..., "--out", help="Folder for libtinyicenet_axis_csim.so."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """Compile the IP (AXI-stream shell + network) as a C simulation with g++."""
        from tinyicenet.board import run_build

        run_build(["csim", "--hls-project", str(project), "--io-spec", str(io_spec),
                    "--out", str(out)], quiet)

    @board_app.command("build")
    def build_cmd(
        project: Path = typer.Option(..., "--project", help="hls4ml project folder (io_stream)."),
        io_spec: Path = typer.Option(..., "--io-spec", help="io_spec.json of the network."),
        out: Path = typer.Option(..., "--out", help="Output folder (.bit, .hwh, .xsa, reports)."),
        work: Path | None = typer.Option(None, "--work", help="Work folder (default <out>.work)."),
        clock_mhz: float | None = typer.Option(None, "--clock-mhz", help="PL clock in MHz."),
        jobs: int = typer.Option(2, help="Vivado parallel jobs."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """HLS synthesis, Vivado implementation, bitstream and .hwh (needs the AMD tools)."""
        from tinyicenet.board import run_build

        args = ["bitstream", "--hls-project", str(project), "--io-spec", str(io_spec),
                "--out", str(out), "--jobs", str(jobs)]
        if work:
            args += ["--work", str(work)]
        if clock_mhz:
            args += ["--clock-mhz", str(clock_mhz)]
        run_build(args, quiet)

    @board_app.command("package")
    def package_cmd(
        io_spec: Path = typer.Option(..., "--io-spec", help="io_spec.json of the network."),
        out: Path = typer.Option(..., "--out", help="Folder to copy to the board."),
        bitstream: Path | None = typer.Option(None, "--bitstream",
                                              help="Folder with tinyicenet.bit and .hwh."),
        scene: Path | None = typer.Option(None, "--scene", help="AI4Arctic scene (.nc) to run."),
        checkpoint: Path | None = typer.Option(None, "--checkpoint",
                                               help="Checkpoint: expected logits for --scene."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """A folder for the board: driver, board facts, io spec, bitstream, scene, logits."""
        from tinyicenet.board import build_package
        from tinyicenet.progress import info

        if (scene is None) != (checkpoint is None):
            raise ConfigError("--scene and --checkpoint go together (the expected logits come "
                              "from the checkpoint's integer reference)")
        made = build_package(io_spec, out, bitstream=bitstream, scene=scene, checkpoint=checkpoint)
        info(f"board package in {out}: {', '.join(made)}", quiet)
        typer.echo(str(out))

    @board_app.command("finn")
    def finn_cmd(
        checkpoint: Path | None = typer.Argument(None, help="Quantized checkpoint (.pt), or its "
                                                 "QONNX with intref.npz beside it."),
        out: Path | None = typer.Option(None, "--out", help="Build folder (FINN's reports, "
                                        "verification.json)."),
        tile: int = typer.Option(256, help="Tile side in pixels."),
        target_fps: float = typer.Option(500.0, "--target-fps",
                                         help="Target tiles per second (FINN's SetFolding)."),
        random_tiles: int = typer.Option(2, "--random-tiles", help="Fresh random test tiles."),
        scene_tiles: int = typer.Option(2, "--scene-tiles", help="Generated-scene test tiles."),
        cppsim: bool = typer.Option(True, "--cppsim/--no-cppsim",
                                    help="Compile and run every HLS layer in FINN's cppsim."),
        setup: bool = typer.Option(False, "--setup", help="Create the FINN+ environment "
                                   "(pinned requirements; $TINYICENET_FINN_ENV) and exit."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """Run FINN+'s flow (xczu9eg, 200 MHz) to its estimate reports and HLS/RTL code, verified
        against the integer reference at every stage FINN can execute here."""
        from tinyicenet.progress import info

        if setup:
            from tinyicenet.finn.env import setup_env

            setup_env(quiet=quiet)
            return
        if checkpoint is None or out is None:
            raise ConfigError("give CKPT and --out (or --setup to create the FINN+ environment)")
        from tinyicenet.finn.flow import build_finn, tool_note

        record = build_finn(checkpoint, out, tile=tile, target_fps=target_fps,
                            n_random=random_tiles, n_scene=scene_tiles, cppsim=cppsim,
                            quiet=quiet)
        perf = json.loads((out / "report" / "estimate_network_performance.json").read_text())
        cpp = record.get("cppsim") or {}
        skipped = ", ".join(sorted(cpp.get("not_compiled") or {}))
        ran = f" and cppsim of {len(cpp['layers'])} HLS layers" if cpp else ""
        info(f"FINN+ build in {out}: 0 differing values at {', '.join(record['stages'])}{ran}"
             f"{' (not compiled here: ' + skipped + ')' if skipped else ''}; FINN estimates "
             f"{perf.get('estimated_throughput_fps', float('nan')):.1f} tiles/s (modelled)", quiet)
        note = tool_note(record["stopped_before"])
        if note:
            info(note, quiet)
        typer.echo(str(out))

__all__ = ["register"]

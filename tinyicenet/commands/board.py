"""``tinyicenet board ...``: the ZCU102 package (boards/zcu102) and the FINN inputs.

    board iospec (CKPT | --project HLS_DIR) --out io_spec.json   the I/O format shared with the
                                                  on-board driver
    board check --project HLS_DIR --io-spec F     inputs consistent? which tools are on PATH?
    board csim  --project HLS_DIR --io-spec F --out DIR    C simulation of the IP (g++)
    board build --project HLS_DIR --io-spec F --out DIR    HLS + Vivado -> .bit/.hwh
    board package --io-spec F --out DIR [--bitstream DIR] [--scene NC --checkpoint CKPT]
    board finn CKPT --out DIR                     FINN build inputs (run in FINN's docker)

The build itself is ``boards/zcu102/build.py`` (standard library only, so it runs where Vivado
is installed without this package); this module calls it and turns its exit status into the
project's errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from tinyicenet.errors import ConfigError, ExportError, ToolNotFoundError

DRIVER_PACKAGE = "tinyicenet_zcu102"


def board_dir() -> Path:
    from tinyicenet.resources import resource_dir

    return resource_dir("boards/zcu102")


def io_spec_dict(intmodel, *, tile: int, halo: int, channels: list[str] | None = None) -> dict:
    """The io spec of an integer model (tinyicenet.export.intref.IntModel)."""
    facts = intmodel.model
    stride = int(facts["stride"])
    if tile % stride or halo % stride:
        raise ConfigError(f"tile {tile} and halo {halo} must be multiples of the model stride "
                          f"{stride}")
    if 2 * halo >= tile:
        raise ConfigError(f"halo {halo} leaves no core in a {tile}-pixel tile")
    if not intmodel.output_layer.out_signed:
        raise ExportError("the head output is unsigned; the board's word layout needs signed "
                          "logits")
    names = channels or _default_channels(int(facts["in_channels"]))
    if len(names) != int(facts["in_channels"]):
        raise ConfigError(f"{len(names)} channel names for a model with {facts['in_channels']} "
                          "input channels")
    bits = facts.get("bit_widths") or {}
    if isinstance(bits, dict) and "weight" in bits and "activation" in bits:
        precision = f"w{bits['weight']}a{bits['activation']}"
    else:
        precision = str(facts.get("name", "")).split("_")[-1]
    return {
        "format": "tinyicenet-io-spec", "version": 1, "model": facts["name"],
        "precision": precision, "channels": names,
        "charts": dict(zip(facts["charts"], facts["num_classes"], strict=True)),
        "classes": int(sum(facts["num_classes"])),
        "input": {"bits": intmodel.input_bits, "exponent": intmodel.input_exp, "signed": True,
                  "rounding": "half_even", "overflow": "saturate"},
        "output": {"bits": intmodel.output_bits, "exponent": intmodel.output_exp, "signed": True},
        "tile": tile, "halo": halo, "align": stride,
    }


def io_spec_from_project(manifest: dict, *, halo: int, channels: list[str] | None = None) -> dict:
    """The io spec of a tinyicenet HLS project (its ``tinyicenet_project.json`` manifest)."""
    try:
        facts, fin, fout = manifest["model"], manifest["input"], manifest["output"]
        tile, stride = int(manifest["tile"]), int(facts["stride"])
        fmt_in, fmt_out = fin["format"], fout["format"]
        if not (fmt_in["signed"] and fmt_out["signed"]):
            raise ExportError("HLS project input or output is unsigned; the board's word layout "
                              "needs signed values")
        if halo % stride or 2 * halo >= tile:
            raise ConfigError(f"halo {halo} must be a multiple of the model stride {stride} and "
                              f"leave a core in the project's {tile}-pixel tile")
        names = channels or _default_channels(int(fin["channels"]))
        bits = facts.get("bit_widths") or {}
        return {
            "format": "tinyicenet-io-spec", "version": 1, "model": facts["name"],
            "precision": (f"w{bits['weight']}a{bits['activation']}"
                          if "weight" in bits and "activation" in bits else ""),
            "channels": names,
            "charts": dict(zip(facts["charts"], facts["num_classes"], strict=True)),
            "classes": int(fout["channels"]),
            "input": {"bits": int(fmt_in["bits"]), "exponent": int(fmt_in["exponent"]),
                      "signed": True, "rounding": "half_even", "overflow": "saturate"},
            "output": {"bits": int(fmt_out["bits"]), "exponent": int(fmt_out["exponent"]),
                       "signed": True},
            "tile": tile, "halo": halo, "align": stride,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"HLS project manifest lacks {exc} (not a tinyicenet HLS project "
                          "manifest of this version?)") from None


def _default_channels(count: int) -> list[str]:
    from tinyicenet.data import DEFAULT_VARIABLES

    if count != len(DEFAULT_VARIABLES):
        raise ConfigError(f"the model takes {count} input channels; name them with --channels")
    return list(DEFAULT_VARIABLES)


def _validated(spec: dict, where: str) -> dict:
    """Check with the driver's own validator and add the derived word layout."""
    sys.path.insert(0, str(board_dir()))
    try:
        from tinyicenet_zcu102 import iospec
        from tinyicenet_zcu102.errors import BoardError
        try:
            return iospec.from_dict(spec, where).to_dict()
        except BoardError as exc:
            raise ConfigError(str(exc)) from None
    finally:
        sys.path.remove(str(board_dir()))


def _run_build(args: list[str], quiet: bool) -> None:
    """Run boards/zcu102/build.py; its exit status becomes the matching TinyIceNetError."""
    cmd = [sys.executable, str(board_dir() / "build.py"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if not quiet and proc.stdout:
        sys.stderr.write(proc.stdout)
    if proc.returncode == 0:
        return
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    message = next((ln[len("error: "):] for ln in reversed(lines) if ln.startswith("error: ")),
                   lines[-1] if lines else f"build.py exited with {proc.returncode}")
    error = {4: ToolNotFoundError, 2: ConfigError}.get(proc.returncode, ExportError)
    raise error(message)

RUN_TEXT = """# Run tinyicenet on the ZCU102 (PYNQ image)

Copy this folder to the board (e.g. `scp -r {name} xilinx@<board>:`), then on the board, as
root (PYNQ needs it for the PL and the DMA):

```
cd {name}
python3 -m tinyicenet_zcu102 rails                      # INA226 rails readable?
python3 -m tinyicenet_zcu102 run --bitfile tinyicenet.bit --io-spec io_spec.json \\
    --scene scene.npz --expect expected_logits.npy --out result.json \\
    --logits logits.npy --power-csv power.csv
```

result.json follows tinyicenet's bench schema (target fpga, backend zcu102-pynq, meter
zcu102-ina226); copy it back and read it with `tinyicenet report`. A non-zero exit with
"differing values" means the board's logits differ from the host's integer reference.
"""


def build_package(io_spec: Path, out: Path, *, bitstream: Path | None = None,
                  scene: Path | None = None, checkpoint: Path | None = None) -> list[str]:
    """Write the board folder atomically; returns the names of what it holds."""
    import numpy as np

    from tinyicenet.atomic import atomic_dir

    try:
        spec = json.loads(Path(io_spec).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{io_spec}: io spec not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{io_spec}: cannot read io spec ({exc})") from None
    spec = _validated(spec, str(io_spec))
    bit_files = []
    if bitstream is not None:
        bit_files = [Path(bitstream) / f"tinyicenet.{ext}" for ext in ("bit", "hwh")]
        missing = [p.name for p in bit_files if not p.is_file()]
        if missing:
            raise ConfigError(f"{bitstream}: no {' or '.join(missing)} (run tinyicenet board "
                              "build first)")
    scene_data = None
    if scene is not None:
        scene_data = _scene_and_expected(scene, checkpoint, spec)
    src = board_dir()
    made = [DRIVER_PACKAGE, "board.json", "io_spec.json", "RUN.md"]
    with atomic_dir(out) as tmp:
        shutil.copytree(src / DRIVER_PACKAGE, tmp / DRIVER_PACKAGE,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(src / "board.json", tmp / "board.json")
        (tmp / "io_spec.json").write_text(json.dumps(spec, indent=2) + "\n")
        (tmp / "RUN.md").write_text(RUN_TEXT.format(name=Path(out).name))
        for path in bit_files:
            shutil.copy(path, tmp / path.name)
            made.append(path.name)
        if scene_data is not None:
            image, expected, scene_id, spacing = scene_data
            extra = {} if spacing is None else {"pixel_spacing_m": np.array(float(spacing))}
            np.savez(tmp / "scene.npz", image=image, scene_id=np.array(scene_id), **extra)
            np.save(tmp / "expected_logits.npy", expected)
            made += ["scene.npz", "expected_logits.npy"]
    return made


def _scene_and_expected(scene: Path, checkpoint: Path, spec: dict):
    """The scene's normalised image and the integer reference's stitched logits for it."""
    import numpy as np

    from tinyicenet.data import extract_tiles, load_scene, plan_tiles, stitch
    from tinyicenet.export.intref import from_brevitas
    from tinyicenet.models.checkpoint import load_quantized_checkpoint

    model, ckpt = load_quantized_checkpoint(checkpoint)
    intmodel = from_brevitas(model)
    for what, got, want in (("input", (intmodel.input_bits, intmodel.input_exp),
                             (spec["input"]["bits"], spec["input"]["exponent"])),
                            ("output", (intmodel.output_bits, intmodel.output_exp),
                             (spec["output"]["bits"], spec["output"]["exponent"]))):
        if got != want:
            raise ConfigError(f"{checkpoint}: precision mismatch on the {what}: the model has "
                              f"int{got[0]} * 2**{got[1]}, the io spec int{want[0]} * 2**{want[1]}")
    # the scene as training saw it: same variables, downsampling and normalisation statistics
    facts = ckpt.get("data_stats") or {}
    from tinyicenet.models.checkpoint import input_statistics
    stats = input_statistics(ckpt, path=checkpoint)
    kwargs = {"downsample": int(facts["downsample"])} if facts.get("downsample") else {}
    data = load_scene(scene, variables=spec["channels"], stats=stats, **kwargs)
    image = np.asarray(data["image"], dtype=np.float32)
    plan = plan_tiles(image.shape[1:], spec["tile"], spec["halo"], spec["align"])
    tiles = extract_tiles(image, plan)
    logits = stitch(intmodel.run_int(intmodel.quantize_input(tiles)), plan)
    meta = data.get("meta", {})
    return image, logits.astype(np.int16), str(meta.get("scene_id", Path(scene).stem)), \
        meta.get("pixel_spacing")


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

        if (checkpoint is None) == (project is None):
            raise ConfigError("give either a checkpoint or --project (an HLS project folder)")
        names = [c.strip() for c in channels.split(",") if c.strip()] if channels else None
        if project is not None:
            from tinyicenet.hls.csim import read_manifest

            spec = io_spec_from_project(read_manifest(project), halo=halo, channels=names)
        else:
            from tinyicenet.export.intref import from_brevitas
            from tinyicenet.models.checkpoint import load_quantized_checkpoint

            model, ckpt = load_quantized_checkpoint(checkpoint)
            spec = io_spec_dict(from_brevitas(model), tile=tile, halo=halo,
                                channels=names or ckpt.get("variables"))
        write_text(out, json.dumps(_validated(spec, str(out)), indent=2) + "\n")
        typer.echo(f"wrote {out}")

    @board_app.command("check")
    def check_cmd(
        project: Path = typer.Option(..., "--project", help="hls4ml project folder (io_stream)."),
        io_spec: Path = typer.Option(..., "--io-spec", help="io_spec.json of the network."),
    ) -> None:
        """Check that the HLS project matches the io spec and list the tools found on PATH."""
        _run_build(["check", "--hls-project", str(project), "--io-spec", str(io_spec)], False)

    @board_app.command("csim")
    def csim_cmd(
        project: Path = typer.Option(..., "--project", help="hls4ml project folder (io_stream)."),
        io_spec: Path = typer.Option(..., "--io-spec", help="io_spec.json of the network."),
        out: Path = typer.Option(..., "--out", help="Folder for libtinyicenet_axis_csim.so."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """Compile the IP (AXI-stream shell + network) as a C simulation with g++."""
        _run_build(["csim", "--hls-project", str(project), "--io-spec", str(io_spec),
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
        args = ["bitstream", "--hls-project", str(project), "--io-spec", str(io_spec),
                "--out", str(out), "--jobs", str(jobs)]
        if work:
            args += ["--work", str(work)]
        if clock_mhz:
            args += ["--clock-mhz", str(clock_mhz)]
        _run_build(args, quiet)

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

__all__ = ["build_package", "io_spec_dict", "io_spec_from_project", "register"]

"""``python3 -m tinyicenet_zcu102``: run scenes on the ZCU102 and write a bench result.

    python3 -m tinyicenet_zcu102 run --bitfile tinyicenet.bit --io-spec io_spec.json \\
        --scene scene.npz --out result.json [--logits logits.npy] [--expect golden.npy]
    python3 -m tinyicenet_zcu102 rails          # print the INA226 rail powers once

Errors are one ``error:`` line and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from tinyicenet_io.cli import run_command
from tinyicenet_io.iospec import load as load_spec

from . import __version__
from .accelerator import DmaAccelerator, load_overlay
from .bench import benchmark, write_atomic
from .errors import BoardError, PowerUnavailable
from .power import load_board, open_source


def _load_scene(path: str) -> tuple:
    """``.npy`` image ``[C, H, W]`` or ``.npz`` with ``image`` (+ scene_id, pixel_spacing_m)."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BoardError(f"{path}: scene file not found") from None
    except (OSError, ValueError) as exc:
        raise BoardError(f"{path}: cannot read scene ({exc})") from None
    if isinstance(data, np.ndarray):
        return data, None, None
    with data:
        if "image" not in data.files:
            raise BoardError(f"{path}: no 'image' array (has: {', '.join(data.files)})")
        name = str(data["scene_id"]) if "scene_id" in data.files else None
        spacing = float(data["pixel_spacing_m"]) if "pixel_spacing_m" in data.files else None
        return data["image"], name, spacing


def _device_name() -> str:
    try:
        from pynq.ps import Clocks  # noqa: PLC0415 - only on the board

        return f"ZCU102 XCZU9EG (PL {Clocks.fclk0_mhz:.1f} MHz)"
    except Exception:  # clock register not readable: the name without the clock
        return "ZCU102 XCZU9EG"


def _compare(logits: np.ndarray, expect_path: str) -> tuple:
    try:
        golden = np.load(expect_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BoardError(f"{expect_path}: cannot read expected logits ({exc})") from None
    if golden.shape != logits.shape:
        raise BoardError(f"{expect_path}: expected logits have shape {golden.shape}, the board "
                         f"produced {logits.shape}")
    differing = int(np.count_nonzero(golden.astype(np.int32) != logits.astype(np.int32)))
    return differing, int(golden.size)


def _run(args) -> int:
    spec = load_spec(args.io_spec)
    board = load_board(args.board_json)
    image, name, spacing = _load_scene(args.scene)
    power, reason = None, None
    if not args.no_power:
        try:
            power = open_source(board, args.hwmon)
        except PowerUnavailable as exc:
            reason = str(exc)
            print(f"warning: energy unavailable: {reason}", file=sys.stderr)
    else:
        reason = "power logging switched off (--no-power)"
    overlay, allocate = load_overlay(args.bitfile)
    accel = DmaAccelerator(overlay, spec, allocate, max_tiles=args.max_tiles)
    try:
        result, logits, trace = benchmark(
            image, spec, accel, board=board, power_source=power, window_s=args.window,
            repetitions=args.repetitions, warmup_s=args.warmup, idle_s=args.idle,
            interval_s=args.interval, latency_calls=args.latency_calls, device=_device_name(),
            scene_name=args.scene_name or name,
            pixel_spacing_m=args.pixel_spacing or spacing, commit=args.commit,
            power_unavailable_reason=reason)
    finally:
        accel.close()
    status = 0
    if args.expect:
        differing, total = _compare(logits, args.expect)
        result["provenance"]["verification"] = (
            f"board logits vs {args.expect}: {differing} differing values of {total}")
        status = 0 if differing == 0 else 3
    if args.logits:
        write_atomic(args.logits, logits)
    if args.power_csv and trace is not None:
        write_atomic(args.power_csv, trace.to_csv())
    write_atomic(args.out, json.dumps(result, indent=2, allow_nan=False) + "\n")
    label = " (EMULATED, not the board)" if result["provenance"]["throughput"] == "emulated" else ""
    print(f"{result['scenes_per_s']:.3f} scenes/s, {result['tiles_per_s']:.1f} tiles/s"
          + (f", {result['energy_mj']['per_scene_gross']:.1f} mJ per scene"
             if result["energy_mj"]["per_scene_gross"] is not None else ", energy unavailable")
          + f"{label} -> {args.out}")
    if status:
        print(f"error: {result['provenance']['verification']}", file=sys.stderr)
    return status


def _rails(args) -> int:
    source = open_source(load_board(args.board_json), args.hwmon)
    for rail, watts in sorted(source.read().items()):
        print(f"{rail:16s} {watts:8.4f} W")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m tinyicenet_zcu102",
                                description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"tinyicenet_zcu102 {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scene, time it, log power, write a bench result")
    run.add_argument("--bitfile", required=True, help="tinyicenet.bit (tinyicenet.hwh beside it)")
    run.add_argument("--io-spec", required=True, help="io_spec.json of the network")
    run.add_argument("--scene", required=True, help=".npy [C,H,W] float32 or .npz with 'image'")
    run.add_argument("--out", required=True, help="bench result JSON to write")
    run.add_argument("--logits", help="write the stitched integer logits [K,H,W] (.npy)")
    run.add_argument("--expect", help="expected integer logits (.npy) from the host's reference")
    run.add_argument("--power-csv", help="write the last window's rail samples (CSV)")
    run.add_argument("--window", type=float, default=10.0, help="seconds per measurement window")
    run.add_argument("--repetitions", type=int, default=3)
    run.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds")
    run.add_argument("--idle", type=float, default=5.0, help="idle-power seconds before the run")
    run.add_argument("--interval", type=float, default=0.02, help="rail sampling period (s)")
    run.add_argument("--max-tiles", type=int, default=16, help="tiles per DMA buffer")
    run.add_argument("--latency-calls", type=int, default=20,
                     help="single-tile calls timed for the latency percentiles")
    run.add_argument("--hwmon", default="/sys/class/hwmon", help="hwmon root")
    run.add_argument("--board-json", default=None, help="board facts (default: beside the driver)")
    run.add_argument("--no-power", action="store_true", help="do not read the rails")
    run.add_argument("--scene-name", default=None)
    run.add_argument("--pixel-spacing", type=float, default=None, help="metres per pixel")
    run.add_argument("--commit", default=None, help="host commit the bitstream was built from")
    run.set_defaults(func=_run)
    rails = sub.add_parser("rails", help="print the INA226 rail powers once")
    rails.add_argument("--hwmon", default="/sys/class/hwmon")
    rails.add_argument("--board-json", default=None)
    rails.set_defaults(func=_rails)
    return p


def main(argv=None) -> int:
    return run_command(parser(), argv, BoardError)


if __name__ == "__main__":
    sys.exit(main())

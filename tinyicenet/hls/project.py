"""``build_project``: a verified hls4ml project for one quantized TinyIceNet.

Steps (everything inside one temporary folder that replaces ``out_dir`` only when all succeeded,
so a failure leaves nothing behind):

1. load the checkpoint, extract the integer reference, export QONNX;
2. prepare the graph for hls4ml (channels-last, Resize/Concat in NHWC, transposes removed);
3. plan: reuse factors and tile that fit the board at the highest modelled fps
   (``hls/layers.yml``), FIFO depths from the pixel-level schedule;
4. convert with hls4ml (io_stream; input precision = the input quantizer; exact accumulators),
   write the project with the planned FIFO depths, compile the C simulation with g++;
5. run the C simulation on fresh random tiles (+ scene tiles) and compare with the integer
   reference: 0 differing values and 100 % argmax agreement, else VerificationError;
6. write the manifest, the verification report and the resource report (modelled, or parsed
   from the vendor reports when ``synth`` ran).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.atomic import atomic_dir, write_text
from tinyicenet.errors import ExportError
from tinyicenet.export.golden import DEFAULT_SCENE_TILES
from tinyicenet.hls.board import Board, load_board
from tinyicenet.hls.settings import HlsSettings, load_settings
from tinyicenet.progress import info

#: Fresh random tiles the C simulation is verified on by default.
DEFAULT_RANDOM_TILES = 2
RESOURCES_JSON = "resources.json"
RESOURCES_MD = "resources.md"


@dataclass
class ProjectResult:
    project_dir: Path
    manifest: dict[str, Any]
    plan: Any  # DesignPlan
    report: Any  # VerificationReport
    resources: dict[str, Any]


def _settings(settings: HlsSettings | str | os.PathLike[str] | None) -> HlsSettings:
    return settings if isinstance(settings, HlsSettings) else load_settings(settings)


def prepare_model(model, stride: int):
    """QONNX of ``model`` at a small tile, prepared for hls4ml (retiled later: cheap)."""
    from tinyicenet.export.onnx_export import qonnx_model
    from tinyicenet.hls.passes import prepare_for_hls

    qonnx = qonnx_model(model, 4 * stride)
    return qonnx, prepare_for_hls(qonnx, getattr(model, "name", "model"))


def plan_project(model, board: Board, settings: HlsSettings, tile: int | None = None,
                 prepared=None):
    """(best plan, all candidate plans) for ``model`` on ``board``."""
    from tinyicenet.hls.passes import retile
    from tinyicenet.hls.planner import best_plan, plan_tile
    from tinyicenet.hls.quant_formats import conv_formats

    stride = int(model.stride)
    if prepared is None:
        prepared = prepare_model(model, stride)[1]
    tiles = [int(tile)] if tile else list(settings.tiles)
    bad = [t for t in tiles if t <= 0 or t % stride]
    if bad:
        raise ExportError(f"tile(s) {bad} are not positive multiples of the model stride {stride}")
    formats = conv_formats(prepared, getattr(model, "name", "model"))
    plans = [plan_tile(retile(prepared, t), formats, settings, board, t) for t in tiles]
    return best_plan(plans), plans


def _resources_markdown(plan_dict: dict[str, Any], candidates: list[dict[str, Any]]) -> str:
    res = plan_dict["resources"]
    t, cap, use = res["total"], res["capacity"], res["utilisation"]
    lines = [f"# Resources and throughput ({plan_dict['provenance']})", "",
             f"Tile {plan_dict['tile'][0]}x{plan_dict['tile'][1]} at "
             f"{plan_dict['clock_mhz']:g} MHz: "
             f"{plan_dict['cycles_per_tile']} cycles per tile, "
             f"{plan_dict['tiles_per_s']:.1f} tiles/s, "
             f"{plan_dict['fps_256_equivalent']:.1f} fps per 256x256 tile "
             f"(target {plan_dict['target_fps_256']:g}: "
             f"{'met' if plan_dict['meets_target'] else 'NOT met'}).", "",
             "| resource | used | device | utilisation |", "| --- | ---: | ---: | ---: |"]
    for k in ("lut", "ff", "dsp", "bram36"):
        lines.append(f"| {k.upper()} | {t[k]:g} | {cap.get(k, 0):g} | "
                     f"{100 * use.get(k, 0):.1f} % |")
    lines += ["", f"FIFOs at hls4ml's default full-tensor depths would need "
              f"{res['default_fifo_bram36']:g} BRAM36; sized: see resources.json.", "",
              "| layer | role | reuse factor (asked) | multipliers | cycles |",
              "| --- | --- | ---: | ---: | ---: |"]
    for c in plan_dict["layers"]:
        lines.append(f"| {c['hls_name']} | {c['role']} | {c['reuse_factor']} ({c['requested']}) "
                     f"| {c['multipliers']} | {c['cycles']} |")
    e = plan_dict["energy"]
    rng = e.get("energy_mj_per_tile_range")
    span = f" (range {rng['low']:.2f}-{rng['high']:.2f})" if rng else ""
    lines += ["", f"Modelled energy: {e['energy_mj_per_tile']:.2f} mJ per tile{span}, "
              f"power model {e.get('energy_model', '?')} ({e['assumption']}).", "",
              "Candidates:", ""]
    for c in candidates:
        lines.append(f"- tile {c['tile'][0]}: {c['fps_256_equivalent']:.1f} fps/256², "
                     f"fits {c['fits']}, "
                     f"LUT {100 * c['resources']['utilisation'].get('lut', 0):.1f} %")
    lines += ["", "Assumptions:", ""] + [f"- {a}" for a in plan_dict["assumptions"]] + [""]
    return "\n".join(lines)


def _write_tb_data(folder: Path, tiles_nhwc: np.ndarray, expected_nhwc: np.ndarray) -> None:
    """hls4ml's testbench inputs/expected outputs: one tile per line, NHWC order."""
    tb = folder / "tb_data"
    tb.mkdir(exist_ok=True)
    for name, arr in (("tb_input_features.dat", tiles_nhwc),
                      ("tb_output_predictions.dat", expected_nhwc)):
        text = "\n".join(" ".join(f"{v:.9g}" for v in row.reshape(-1)) for row in arr)
        (tb / name).write_text(text + "\n")


def build_project(model_or_ckpt: Any, out_dir: str | os.PathLike[str], *,
                  board: str | Board = "zcu102", tile: int | None = None,
                  settings: HlsSettings | str | os.PathLike[str] | None = None,
                  n_random: int = DEFAULT_RANDOM_TILES,
                  scene: str | os.PathLike[str] | None = None,
                  n_scene: int = DEFAULT_SCENE_TILES, seed: int | None = None,
                  input_precision: str | None = None, synth: bool = False,
                  quiet: bool = True) -> ProjectResult:
    """Generate, compile and verify the hls4ml project of a quantized model into ``out_dir``.

    ``tile``: a fixed square tile size (default: the planner picks from ``hls/layers.yml``).
    ``n_random`` / ``scene`` + ``n_scene``: the verification tiles (fresh random; scene tiles).
    ``input_precision``: override the input precision derived from the quantizer (for
    experiments: anything but the quantizer's own format fails verification).
    ``synth``: also run Vitis HLS synthesis (needs ``vitis-run``) and report its numbers.
    """
    from tinyicenet.export.bundle import resolve_model, verification_tiles
    from tinyicenet.export.intref import from_brevitas, save_intref
    from tinyicenet.export.qgraph import input_format, output_format
    from tinyicenet.hls.convert import PROJECT_NAME, convert, effective_reuse, hls_config
    from tinyicenet.hls.csim import FORMAT, MANIFEST, VERSION, CSimModel
    from tinyicenet.hls.csim_build import compile_library, install_csim_headers
    from tinyicenet.hls.passes import retile, with_tile
    from tinyicenet.hls.quant_formats import conv_formats
    from tinyicenet.hls.tools import compiler, synthesis_tool
    from tinyicenet.hls.verify import compare_codes, require_pass, write_report

    compiler()  # fail before any work if g++ is missing
    if synth:
        synthesis_tool()
    brd = board if isinstance(board, Board) else load_board(board)
    cfg = _settings(settings)
    model, ckpt, label = resolve_model(model_or_ckpt)
    if not getattr(model, "quantized", False):
        raise ExportError(f"{label}: model {getattr(model, 'name', '?')!r} is a float model; the "
                          "HLS flow needs a quantized one (e.g. tinyicenet_w4a4)")
    stride = int(model.stride)
    intmodel = from_brevitas(model)
    info(f"preparing {model.name} for hls4ml", quiet)
    qonnx, prepared0 = prepare_model(model, stride)
    plan, candidates = plan_project(model, brd, cfg, tile, prepared0)
    if not plan.fits:
        use = plan.resources.utilisation()
        raise ExportError(
            f"{model.name} does not fit {brd.name} at any reuse factor for tile(s) "
            f"{[p.tile for p in candidates]}: smallest design uses "
            + ", ".join(f"{k} {100 * v:.0f} %" for k, v in use.items())
            + f" (limits {cfg.utilisation_limit})")
    info(f"plan: tile {plan.tile}, {plan.fps_256:.0f} fps per 256x256 tile (modelled), "
         f"LUT {100 * plan.resources.utilisation()['lut']:.0f} %", quiet)
    tiles = verification_tiles(model, plan.tile, n_random, scene, n_scene, seed)
    reference = intmodel.run_int(intmodel.quantize_input(tiles.tiles))

    with atomic_dir(Path(out_dir).absolute()) as tmp:
        prepared = retile(prepared0, plan.tile)
        formats = conv_formats(prepared, model.name)
        config = hls_config(prepared, formats, plan.conv_settings(),
                            input_precision=input_precision)
        hls_model = convert(prepared, config, brd, tmp)
        depths, cpp_depths = plan.fifo_depths(), {}
        for name, var in hls_model.output_vars.items():
            if name in depths and getattr(var, "pragma", None):
                var.pragma = (var.pragma[0], int(depths[name]))
                cpp_depths[var.name] = int(depths[name])  # as the C++ names the stream
        _write_tb_data(tmp, tiles.tiles.transpose(0, 2, 3, 1),
                       intmodel.dequantize_output(reference).transpose(0, 2, 3, 1))
        with contextlib.redirect_stdout(io.StringIO()):
            hls_model.write()
        stamp = str(hls_model.config.get_config_value("Stamp"))
        install_csim_headers(tmp)
        info("compiling the C simulation (g++)", quiet)
        library = compile_library(tmp, PROJECT_NAME, stamp)
        with_tile(qonnx, plan.tile).save(str(tmp / "model.qonnx.onnx"))
        prepared.save(str(tmp / "model_hls.onnx"))
        save_intref(intmodel, tmp / "intref.npz")
        fmt_in, fmt_out = input_format(prepared), output_format(prepared)
        effective = effective_reuse(hls_model)
        manifest: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "project_name": PROJECT_NAME, "stamp": stamp,
            "library": str(library.relative_to(tmp)), "tile": plan.tile, "layout": "NHWC",
            "input": {"channels": int(model.in_channels), "format": fmt_in.to_dict(),
                      "hls_type": input_precision or fmt_in.hls_type()},
            "output": {"channels": int(sum(model.num_classes)), "format": fmt_out.to_dict(),
                       "hls_type": fmt_out.hls_type()},
            "model": {"name": model.name, "kwargs": dict(model.config),
                      "bit_widths": model.bit_widths, "charts": list(model.charts),
                      "num_classes": list(model.num_classes), "stride": stride,
                      "source": label},
            "board": {"name": brd.name, "part": brd.part, "clock_mhz": brd.clock_mhz},
            "hls4ml": {"backend": "Vitis", "io_type": "io_stream",
                       "version": __import__("hls4ml").__version__},
            "layers": [{**c.to_dict(), "effective_reuse_factor": effective.get(c.hls_name)}
                       for c in plan.choices],
            "fifo_depths": cpp_depths,
            "accumulators": {f.name: f.accumulator_type() for f in formats},
            "settings": cfg.source,
            "files": {"qonnx": "model.qonnx.onnx", "hls_graph": "model_hls.onnx",
                      "intref": "intref.npz", "verification": "verification.json",
                      "resources": RESOURCES_JSON},
            "host": platform.node(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        write_text(tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")

        info(f"C simulation of {len(tiles)} tiles", quiet)
        csim = CSimModel(tmp, build=False)
        got = csim.run_codes(tiles.tiles)
        report = compare_codes(got, reference, tiles.sources, random_seed=tiles.seed)
        require_pass(report, f"{model.name} -> {out_dir}")
        write_report(report, tmp)
        plan_dict = plan.to_dict()
        resources = {"modelled": plan_dict,
                     "candidates": [p.to_dict() | {"layers": None, "process_cycles": None}
                                    for p in candidates]}
        if synth:
            resources["reported"] = run_synthesis(hls_model, tmp, PROJECT_NAME, quiet)
        write_text(tmp / RESOURCES_JSON, json.dumps(resources, indent=1, default=float) + "\n")
        write_text(tmp / RESOURCES_MD, _resources_markdown(plan_dict, resources["candidates"]))
        manifest["verification"] = {"passed": report.passed, "tiles": report.tiles,
                                    "differing": report.differing,
                                    "argmax_agreement": report.argmax_agreement}
        write_text(tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    info(f"wrote {out_dir}: {report.summary()}", quiet)
    return ProjectResult(Path(out_dir), manifest, plan, report, resources)


def run_synthesis(hls_model, folder: Path, project_name: str, quiet: bool) -> dict[str, Any]:
    """hls4ml build() (C synthesis) with the vendor tool, then the parsed reports."""
    from tinyicenet.hls.reports import find_reports, parse_csynth, parse_utilization

    info("running Vitis HLS synthesis (this takes long)", quiet)
    try:
        hls_model.build(csim=False, synth=True, vsynth=False, log_to_stdout=False)
    except Exception as exc:  # hls4ml raises bare Exceptions
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"HLS synthesis failed: {first} (see {folder}/build_stderr.log)") \
            from None
    found = find_reports(folder, project_name)
    if "csynth" not in found:
        raise ExportError(f"HLS synthesis wrote no csynth report under {folder}")
    out = {"csynth": parse_csynth(found["csynth"]).to_dict()}
    if "utilization" in found:
        out["utilization"] = parse_utilization(found["utilization"]).to_dict()
    return out


def read_resources(project_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The resource report of a project: vendor numbers when present, else the modelled ones."""
    from tinyicenet.errors import ResultError

    path = Path(project_dir) / RESOURCES_JSON
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultError(f"{path}: unreadable resource report ({exc})") from None

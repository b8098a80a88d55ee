"""``tinyicenet board finn``: FINN+'s flow on a quantized TinyIceNet, verified against the
integer reference.

The host (this module) writes a job folder: the QONNX graph at the tile size, the test tiles
already quantized to the input's integers (fresh random tiles and tiles of a generated scene,
:mod:`tinyicenet.data.synth`) and ``job.json``. The FINN environment's python runs
``runner.py`` on it (FINN+'s builder steps plus the project's own, see that file). The host
then compares every stage's outputs with :mod:`tinyicenet.export.intref` and writes
``verification.json``. The job is built in a temporary folder beside ``--out`` and renamed only
when every stage agreed: a failed or differing build leaves nothing behind.

Output folder: FINN's build folder as FINN writes it (``report/estimate_network_performance.json``,
``estimate_layer_resources.json``, ``estimate_layer_cycles.json``, ``auto_folding_config.json``,
``intermediate_models/``, generated code), ``verification.json``, ``runner.json`` (steps and
timings, folding, cppsim per layer, steps not run and the tool each needs), ``job/`` (what the
host handed to FINN).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.errors import ConfigError, ExportError, VerificationError

PART = "xczu9eg-ffvb1156-2-e"
CLOCK_NS = 5.0
#: FINN's default mvau_wwidth_max (36 bits) caps a 256 x 256 TinyIceNet at ~64 fps; the HLS
#: MVAU's weight stream may be far wider (its ap_uint limit)
MVAU_WWIDTH_MAX = 1024
RUNNER = Path(__file__).with_name("runner.py")
STAGES = ("streamlined", "hw_layers")


def finn_deps() -> str:
    """``$FINN_DEPS`` if set, else the first ``shared/vendor`` holding finn-hlslib beside the
    repository or one level up (``<repo>/../shared/vendor``, as CI provides); "" if none."""
    if os.environ.get("FINN_DEPS"):
        return os.environ["FINN_DEPS"]
    repo = Path(__file__).resolve().parents[2]
    for base in (repo.parent, repo.parent.parent):
        vendor = base / "shared" / "vendor"
        if (vendor / "finn-hlslib").is_dir():
            return str(vendor)
    return ""


def test_tiles(intmodel, tile: int, *, n_random: int, n_scene: int, seed: int,
               data_stats: dict | None = None) -> dict[str, np.ndarray]:
    """Host-quantized input tiles (int, NCHW): fresh random ones and tiles of a generated scene."""
    rng = np.random.default_rng(seed)
    channels = intmodel.input_layer.channels
    sets = {"random": intmodel.quantize_input(
        (rng.standard_normal((n_random, channels, tile, tile)) * 1.5).astype(np.float32))}
    if n_scene:
        sets["scene"] = intmodel.quantize_input(scene_tiles(tile, n_scene, channels, seed,
                                                            data_stats))
    return sets


def scene_tiles(tile: int, count: int, channels: int, seed: int,
                data_stats: dict | None = None) -> np.ndarray:
    """``count`` tiles of a generated scene, normalised as training saw them."""
    from tinyicenet.data import extract_tiles, load_scene, plan_tiles
    from tinyicenet.data.synth import generate_scene, write_scene
    from tinyicenet.models.checkpoint import input_statistics

    facts = data_stats or {}
    down = int(facts.get("downsample") or 5)
    stats = input_statistics({"data_stats": facts})
    size = (tile * down, tile * down * count)  # one row of ``count`` tiles
    with tempfile.TemporaryDirectory(prefix="tinyicenet-finn-scene-") as tmp:
        path = write_scene(generate_scene(size, seed=seed, index=0), Path(tmp) / "s.nc")
        kwargs = {"variables": list(facts["variables"])} if facts.get("variables") else {}
        data = load_scene(path, stats=stats, downsample=down, **kwargs)
    image = np.nan_to_num(np.asarray(data["image"], dtype=np.float32))[:channels]
    tiles = extract_tiles(image, plan_tiles(image.shape[1:], tile, 0, 1))
    return tiles[:count]


def write_job(job: Path, qonnx_path: Path, intmodel, tile: int, target_fps: float,
              tiles: dict[str, np.ndarray], *, cppsim: bool, cppsim_tiles: int,
              sweep_fps: list[float] | None = None, round_half_even: bool = True,
              cppsim_one_per_op: bool = False) -> None:
    """The files the FINN environment reads."""
    job.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(qonnx_path, job / "model.qonnx.onnx")
    for name, arr in tiles.items():
        np.save(job / f"tiles_{name}.npy", arr.astype(np.int32))
    spec = {"tile": tile, "target_fps": float(target_fps), "clk_ns": CLOCK_NS, "part": PART,
            "mvau_wwidth_max": MVAU_WWIDTH_MAX,
            "input": {"bits": intmodel.input_bits, "exp": intmodel.input_exp},
            "output": {"bits": intmodel.output_bits, "exp": intmodel.output_exp,
                       "channels": intmodel.output_layer.channels},
            "tile_sets": sorted(tiles), "finn_deps": finn_deps(), "cppsim": bool(cppsim),
            "cppsim_tiles": int(cppsim_tiles), "sweep_fps": [float(f) for f in sweep_fps or []],
            "round_half_even": bool(round_half_even), "cppsim_one_per_op": bool(cppsim_one_per_op)}
    (job / "job.json").write_text(json.dumps(spec, indent=1) + "\n")


def run_runner(python: Path, job: Path, quiet: bool, progress_cb=None) -> dict:
    """Run the FINN runner on ``job``; returns its runner.json. Errors become one line."""
    env = dict(os.environ, PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([str(python), str(RUNNER), str(job)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=str(job))
    error = None
    log = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("@@"):
            event = json.loads(line[2:])
            if event["event"] == "error":
                error = event["message"]
            if progress_cb:
                progress_cb(event)
        else:
            log.append(line)
    rc = proc.wait()
    (job / "finn.log").write_text("".join(log))
    if rc or error:
        raise ExportError(f"FINN+ flow failed: {error or f'exit status {rc}'} (trace kept in "
                          f"{job / 'runner_error.txt'} until the build folder is removed)")
    return json.loads((job / "runner.json").read_text())


def compare(job: Path, expected: dict[str, np.ndarray], run: dict) -> dict:
    """``verification.json``'s content: differing values per stage and tile set."""
    stages = {}
    for stage in STAGES:
        stages[stage] = {}
        for name, want in expected.items():
            got = np.load(job / "outputs" / f"{stage}__{name}.npy")
            if got.shape != want.shape:
                raise VerificationError(f"FINN {stage} output of shape {got.shape}, the integer "
                                        f"reference {want.shape}")
            stages[stage][name] = {"tiles": int(want.shape[0]), "values": int(want.size),
                                   "differing": int((got != want).sum())}
    cppsim = run.get("cppsim")
    layers = {"ran": {}, "not_compiled": {}, "not_hls": [], "not_run": []}
    if cppsim is not None:
        for node, rec in cppsim.items():
            if rec["cppsim"] == "ran":
                layers["ran"][node] = {"op": rec["op"], **rec["vs_hw_python"]}
            elif rec["cppsim"] == "does not compile here":
                layers["not_compiled"][node] = {"op": rec["op"], "error": rec.get("error", "")}
            elif rec["cppsim"].startswith("not run"):
                layers["not_run"].append(node)
            else:
                layers["not_hls"].append(node)
    differing = sum(v["differing"] for s in stages.values() for v in s.values())
    differing += sum(v["differing"] for rec in layers["ran"].values() for k, v in rec.items()
                     if isinstance(v, dict))
    return {
        "format": "tinyicenet-finn-verification", "version": 1,
        "reference": "tinyicenet.export.intref (integer reference), head integers NCHW",
        "stages": stages,
        "cppsim": None if cppsim is None else {
            "what": "each HLS layer alone in FINN cppsim (g++, hls4ml's ap_types headers, "
                    "finn-hlslib from FINN_DEPS), fed the HW-layer graph's own tensors; "
                    "differing = its outputs vs the HW-layer graph's python execution (which "
                    "equals the integer reference end to end, stage hw_layers)",
            "layers": layers["ran"], "not_compiled": layers["not_compiled"],
            "not_hls": layers["not_hls"], "not_run": layers["not_run"]},
        "rounding_fix": run.get("rounding_fix"),
        "differing_total": int(differing),
        "exact": differing == 0,
    }


def build_finn(source: Path, out: Path, *, tile: int = 256, target_fps: float = 500.0,
               n_random: int = 2, n_scene: int = 2, cppsim: bool = True, cppsim_tiles: int = 1,
               seed: int = 0, quiet: bool = False, python: Path | None = None,
               sweep_fps: list[float] | None = None, round_half_even: bool = True,
               cppsim_one_per_op: bool = False) -> dict:
    """The whole flow into ``out`` (atomically); returns verification.json's content.

    ``source``: a quantized checkpoint (.pt) or its QONNX (then the integer reference is read
    from ``intref.npz`` beside it, as ``tinyicenet export`` writes them). ``sweep_fps``: more
    target rates whose FINN folding and estimate reports go to ``out/sweep/fps_<F>/report``.
    ``round_half_even=False`` leaves out the rounding correction (only to show it is needed).
    """
    from tinyicenet.atomic import atomic_dir
    from tinyicenet.finn.env import env_python
    from tinyicenet.progress import make_progress

    if not target_fps > 0:
        raise ConfigError(f"--target-fps must be positive, got {target_fps}")
    intmodel, qonnx_path, stats, cleanup = _load_source(Path(source), tile)
    try:
        python = python or env_python()
        tiles = test_tiles(intmodel, tile, n_random=n_random, n_scene=n_scene, seed=seed,
                           data_stats=stats)
        expected = {k: intmodel.run_int(v).astype(np.int32) for k, v in tiles.items()}
        with atomic_dir(out) as tmp:
            job = tmp / "job"
            write_job(job, qonnx_path, intmodel, tile, target_fps, tiles, cppsim=cppsim,
                      cppsim_tiles=cppsim_tiles, sweep_fps=sweep_fps,
                      round_half_even=round_half_even, cppsim_one_per_op=cppsim_one_per_op)
            with make_progress(quiet) as progress:
                task = progress.add_task("FINN+ starting (imports take a while)", total=None)

                def on_event(event: dict) -> None:
                    if event["event"] == "start":
                        progress.update(task, total=event["steps"])
                    elif event["event"] == "step":
                        progress.update(task, description=f"FINN+ {event['name']}", advance=1)
                    elif event["event"] in ("cppsim", "verify"):
                        progress.update(task, description=f"FINN+ {event['event']} "
                                        f"{event.get('node') or event.get('stage')}")
                run = run_runner(python, job, quiet, on_event)
            record = compare(job, expected, run)
            record.update(tile=tile, target_fps=float(target_fps), part=PART,
                          clock_mhz=1e3 / CLOCK_NS, stopped_before=run["stopped_before"])
            if not record["exact"]:
                raise VerificationError(
                    f"FINN+ differs from the integer reference: {record['differing_total']} "
                    "differing values (" + _where(record) + "); nothing written")
            for item in (job / "build").iterdir():
                shutil.move(str(item), tmp / item.name)
            shutil.move(str(job / "runner.json"), tmp / "runner.json")
            shutil.rmtree(job / "outputs")
            shutil.rmtree(job / "xilinx_hls_stub", ignore_errors=True)
            (tmp / "verification.json").write_text(json.dumps(record, indent=1) + "\n")
        return record
    finally:
        cleanup()


def _where(record: dict) -> str:
    parts = [f"{stage}/{name}: {v['differing']}" for stage, sets in record["stages"].items()
             for name, v in sets.items() if v["differing"]]
    for node, rec in ((record.get("cppsim") or {}).get("layers") or {}).items():
        parts += [f"cppsim {node}/{k}: {v['differing']}" for k, v in rec.items()
                  if isinstance(v, dict) and v["differing"]]
    return ", ".join(parts)


def _load_source(source: Path, tile: int):
    """(integer reference, QONNX path at ``tile``, data stats, cleanup) from a .pt or a QONNX."""
    if not source.is_file():
        raise ConfigError(f"{source}: no such checkpoint or QONNX file")
    if source.suffix == ".onnx":
        from tinyicenet.export.intref import load_intref

        ref = source.with_name("intref.npz")
        if not ref.is_file():
            raise ConfigError(f"{source}: a QONNX input needs the integer reference intref.npz "
                              "beside it (tinyicenet export writes both)")
        shape = _qonnx_tile(source)
        if shape != tile:
            raise ConfigError(f"{source}: QONNX graph is for a {shape}-pixel tile, --tile is "
                              f"{tile} (export it at that tile, or pass the checkpoint)")
        return load_intref(ref), source, None, lambda: None
    from tinyicenet.export.intref import from_brevitas
    from tinyicenet.export.onnx_export import export_qonnx
    from tinyicenet.models.checkpoint import load_quantized_checkpoint

    model, ckpt = load_quantized_checkpoint(source)
    if tile % model.stride:
        raise ConfigError(f"tile {tile} is not a multiple of the model stride {model.stride}")
    tmp = Path(tempfile.mkdtemp(prefix="tinyicenet-finn-qonnx-"))
    path = export_qonnx(model, tmp / "model.qonnx.onnx", tile)
    return from_brevitas(model), path, ckpt.get("data_stats"), \
        lambda: shutil.rmtree(tmp, ignore_errors=True)


def _qonnx_tile(path: Path) -> int:
    import onnx

    try:
        dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type
        return int(dims.shape.dim[-1].dim_value)
    except Exception as exc:  # noqa: BLE001 - onnx raises several types on a bad file
        raise ConfigError(f"{path}: not an ONNX file ({exc})") from None


def tool_note(stopped: list[dict[str, Any]]) -> str:
    """One line naming the steps not run and the AMD tool each needs."""
    if not stopped:
        return ""
    return "stopped after step_hw_codegen: " + ", ".join(
        f"{s['step']} needs {s['needs']}" for s in stopped) + " (not on PATH)"


__all__ = ["build_finn", "finn_deps", "test_tiles", "tool_note"]

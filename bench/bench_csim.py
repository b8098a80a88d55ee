"""Benchmark the hls4ml C simulation of a 256 x 256 tile, and record the modelled FPGA design.

Two ways to run the generated C++ without Xilinx tools, on ``--cores`` CPU cores (default 2):

* ``predict``: tinyicenet's C-simulation library (``tinyicenet.hls.load_project``, ctypes),
  one process and ``--cores`` worker processes;
* ``testbench``: hls4ml's own C++ testbench (``tinyicenet_test.cpp``) built with plain g++ at
  -O2 and -O3, one process and ``--cores`` processes on disjoint tiles.

Every timed output is checked against the integer reference (``exact`` in the result). Goal: less
than 5 s per 256 x 256 tile. The model is a randomly initialised, calibrated ``tinyicenet_w4a4``
(speed does not depend on the weights' values) unless ``--checkpoint`` is given.

Run (the lead reruns it on a quiet machine)::

    python bench/bench_csim.py                 # both results files
    python bench/bench_csim.py --tiles 4 --cores 2 --what csim

Writes ``bench/results/csim_256.json`` (timings, machine, date, commit, load average) and
``bench/results/hls_resources_zcu102.json`` (the planner's modelled design for the ZCU102 at the
candidate tiles: resources, cycles per tile, fps at 200 MHz, modelled energy, with assumptions).
A timing taken while the load average exceeded the cores in use says so (``under_load``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
TILE = 256
GOAL_S_PER_TILE = 5.0


def _model(checkpoint: str | None, seed: int):
    import torch

    from tinyicenet.models import calibrate, create_model, load_checkpoint

    if checkpoint:
        return load_checkpoint(checkpoint)[0]
    torch.manual_seed(seed)
    model = create_model("tinyicenet_w4a4")
    calibrate(model, [torch.randn(4, 2, 64, 64) * 1.5 for _ in range(4)])
    return model.eval()


def _machine(cores: int) -> dict:
    return {"host": platform.node(), "cpu": platform.processor() or platform.machine(),
            "cpus_available": os.cpu_count(), "cores_used": cores,
            "python": platform.python_version(),
            "gxx": subprocess.run(["g++", "--version"], capture_output=True,
                                  text=True).stdout.splitlines()[0]}


def bench_predict(project: Path, tiles, ref_codes, cores: int) -> dict:
    from tinyicenet.hls import load_project

    csim = load_project(project)
    csim.run(tiles[:1])  # warm-up: loads the weights once
    out = {}
    for workers in sorted({1, cores}):
        t0 = time.perf_counter()
        codes = csim.run_codes(tiles, workers=workers)
        wall = time.perf_counter() - t0
        out[f"workers_{workers}"] = {"tiles": len(tiles), "wall_s": wall,
                                     "s_per_tile": wall / len(tiles),
                                     "exact": bool((codes == ref_codes).all())}
    return out


def _parse_log(path: Path, n: int, classes: int):
    import numpy as np

    rows = [np.array(line.split(), dtype=np.float64) for line in path.read_text().splitlines()
            if line.strip()]
    arr = np.stack(rows[:n]).reshape(n, TILE, TILE, classes)
    return arr.transpose(0, 3, 1, 2)


def bench_testbench(project: Path, tiles, ref_codes, cores: int, exp: int) -> dict:
    import numpy as np

    from tinyicenet.hls.csim_build import compile_testbench

    classes = ref_codes.shape[1]
    out = {}
    with tempfile.TemporaryDirectory(prefix="tb-") as work:
        work = Path(work)
        for opt in ("-O2", "-O3"):
            exe = work / f"tb{opt}"
            t0 = time.perf_counter()
            compile_testbench(project, "tinyicenet", exe, opt=opt)
            build_s = time.perf_counter() - t0
            entry = {"build_s": build_s}
            for procs in sorted({1, cores}):
                chunks = np.array_split(np.arange(len(tiles)), procs)
                dirs = []
                for i, idx in enumerate(chunks):
                    d = work / f"run{opt}_{procs}_{i}"
                    (d / "tb_data").mkdir(parents=True)
                    x = tiles[idx].transpose(0, 2, 3, 1).reshape(len(idx), -1)
                    (d / "tb_data" / "tb_input_features.dat").write_text(
                        "\n".join(" ".join(f"{v:.9g}" for v in row) for row in x) + "\n")
                    (d / "tb_data" / "tb_output_predictions.dat").write_text(
                        "\n".join("0" for _ in idx) + "\n")
                    dirs.append((d, idx))
                t0 = time.perf_counter()
                with ThreadPoolExecutor(procs) as pool:
                    rcs = list(pool.map(lambda di: subprocess.run(
                        [str(exe)], cwd=di[0], capture_output=True).returncode, dirs))
                wall = time.perf_counter() - t0
                exact = all(rc == 0 for rc in rcs)
                for d, idx in dirs:
                    got = _parse_log(d / "tb_data" / "csim_results.log", len(idx), classes)
                    codes = np.rint(got / 2.0 ** exp)
                    exact &= bool((codes == ref_codes[idx]).all())
                entry[f"processes_{procs}"] = {"tiles": len(tiles), "wall_s": wall,
                                               "s_per_tile": wall / len(tiles), "exact": exact}
            out[opt] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="a quantized checkpoint (default: random w4a4)")
    ap.add_argument("--tiles", type=int, default=4, help="256x256 tiles timed per configuration")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--what", choices=("all", "csim", "resources"), default="all")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)

    import numpy as np

    from tinyicenet.atomic import write_text
    from tinyicenet.bench.sysinfo import commit

    model = _model(args.checkpoint, args.seed)
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    common = {"date": date, "commit": commit(), "machine": _machine(args.cores),
              "model": model.name, "weights": args.checkpoint or "random (calibrated), seed "
              f"{args.seed}"}

    if args.what in ("all", "resources"):
        from tinyicenet.hls import load_board, load_settings, plan_project

        plan, candidates = plan_project(model, load_board("zcu102"), load_settings())
        record = {"schema": "tinyicenet-hls-resources", "schema_version": 1, **common,
                  "provenance": "modelled (no vendor tools): see assumptions",
                  "board": "zcu102", "chosen": plan.to_dict(),
                  "candidates": [p.to_dict() | {"layers": None, "process_cycles": None}
                                 for p in candidates]}
        path = args.out / "hls_resources_zcu102.json"
        write_text(path, json.dumps(record, indent=1, default=float) + "\n")
        print(f"modelled: tile {plan.tile}, {plan.fps_256:.1f} fps per 256x256 tile at "
              f"{plan.clock_mhz:g} MHz, fits {plan.fits} -> {path}")

    if args.what in ("all", "csim"):
        from tinyicenet.export.intref import from_brevitas
        from tinyicenet.hls import build_project

        load_before = os.getloadavg()
        rng = np.random.default_rng(args.seed)
        tiles = (rng.standard_normal((args.tiles, 2, TILE, TILE)) * 1.5).astype(np.float32)
        im = from_brevitas(model)
        ref = im.run_int(im.quantize_input(tiles))
        with tempfile.TemporaryDirectory(prefix="bench-csim-") as tmp:
            project = Path(tmp) / "prj"
            t0 = time.perf_counter()
            build_project(model, project, tile=TILE, n_random=1, seed=args.seed)
            build_s = time.perf_counter() - t0
            predict = bench_predict(project, tiles, ref, args.cores)
            testbench = bench_testbench(project, tiles, ref, args.cores, im.output_exp)
        load_after = os.getloadavg()
        best = min([v["s_per_tile"] for v in predict.values()]
                   + [v["s_per_tile"] for o in testbench.values() for k, v in o.items()
                      if k.startswith("processes")])
        record = {"schema": "tinyicenet-csim-bench", "schema_version": 1, **common,
                  "what": "hls4ml C simulation (g++, no Xilinx tools) of one 256x256 tile of "
                          "the planned ZCU102 design",
                  "tile": [TILE, TILE], "goal_s_per_tile": GOAL_S_PER_TILE,
                  "best_s_per_tile": best, "goal_met": best < GOAL_S_PER_TILE,
                  "build_project_s": build_s, "predict": predict, "testbench": testbench,
                  "provenance": {"throughput": "measured",
                                 "method": "wall clock (time.perf_counter) over all tiles after "
                                           "a one-tile warm-up; every output compared with the "
                                           "integer reference"},
                  "load_average": {"before": load_before, "after": load_after},
                  "under_load": max(load_before[0], load_after[0]) > args.cores}
        if record["under_load"]:
            record["note"] = ("taken while other processes loaded the machine (load average "
                              "above the cores in use): rerun on a quiet machine")
        path = args.out / "csim_256.json"
        write_text(path, json.dumps(record, indent=1) + "\n")
        print(f"C simulation: best {best:.2f} s per 256x256 tile (goal < {GOAL_S_PER_TILE} s) "
              f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark ``tinyicenet predict``: whole scenes per minute on CPU cores, products included.

Unit of work: one ready-to-train scene of 5000 x 5000 pixels at 80 m (a full 400 km Sentinel-1
EW scene), predicted at the default working resolution (downsampled x5 to 1000 x 1000 at 400 m)
and written as COG + AutoICE NetCDF + quicklook, exactly as ``tinyicenet predict`` does. The
model is a randomly initialised, calibrated ``tinyicenet_w4a4`` checkpoint: speed does not depend
on the weights' values, so nothing is trained.

Run (the lead reruns it on a quiet machine)::

    python bench/bench_predict.py                      # torch and integer, 2 cores
    python bench/bench_predict.py --backends integer --repeat 3 --cores 2

Writes ``bench/results/predict_cpu.json`` (machine, date, commit, load average before/after, and
per backend scenes/minute with the load / inference / write split). A result taken while the
load average exceeded the cores in use says so (``under_load: true``): rerun it then.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import pin_cores, random_checkpoint  # bench/ is sys.path[0] when run

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", nargs="+", default=["torch", "integer"])
    ap.add_argument("--size", type=int, default=5000, help="scene side in 80 m pixels")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per backend (median)")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "predict_cpu.json")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the scene, checkpoint and products go (default: a temp folder); "
                         "a generated scene found there is reused")
    args = ap.parse_args(argv)

    cpus = pin_cores(args.cores)
    import torch  # after pinning: thread pools size themselves on first use

    torch.set_num_threads(args.cores)
    from tinyicenet.atomic import write_text
    from tinyicenet.bench.sysinfo import commit, host_info, now_iso
    from tinyicenet.data.synth import write_scenes
    from tinyicenet.predict.pipeline import PredictOptions, predict_scenes

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_predict.") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        cached = sorted((work / f"scenes_{args.size}").glob("*_prep.nc"))
        if cached:  # a --workdir kept from an earlier run: the scene is a pure function of seed
            scene = cached[0]
        else:
            scene = write_scenes(work / f"scenes_{args.size}", 1, size=(args.size, args.size),
                                 seed=0)[0]
        gen_s = time.perf_counter() - t
        ckpt = random_checkpoint(work / "w4a4_random.pt", 0, "predict")
        print(f"scene {scene.name}: {args.size}x{args.size} "
              f"{'reused' if cached else f'generated in {gen_s:.0f} s'}", file=sys.stderr)

        results = []
        for backend in args.backends:
            runs = []
            for r in range(args.repeat + 1):  # the first run warms caches and is not timed
                opts = PredictOptions(backend=backend, tile=args.tile, batch=args.batch,
                                      quiet=True)
                t = time.perf_counter()
                summary = predict_scenes(ckpt, [scene], work / f"out_{backend}_{r}", opts)
                wall = time.perf_counter() - t
                if summary.failed:
                    raise SystemExit(f"{backend}: {summary.failed[0].error}")
                rec = summary.written[0]
                if r:
                    runs.append({"wall_s": wall, **{f"{k}_s": v for k, v in rec.seconds.items()}})
                print(f"{backend} run {r}{' (warm-up)' if not r else ''}: {wall:.1f} s "
                      f"(load {rec.seconds['load']:.1f}, inference {rec.seconds['inference']:.1f},"
                      f" write {rec.seconds['write']:.1f})", file=sys.stderr)
            med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
            results.append({
                "backend": backend, "device": summary.device, "precision": summary.precision,
                "scenes_per_minute": 60.0 / med["wall_s"],
                "inference_scenes_per_minute": 60.0 / med["inference_s"],
                "median_seconds": med, "runs": runs,
                "working_shape": rec.working_shape, "file_shape": rec.file_shape,
                "tiles": rec.tiles,
                "pixel_spacing_m": rec.pixel_spacing_m, "sizes": rec.sizes,
            })
    load_after = os.getloadavg()
    under_load = max(load_before[0], load_after[0]) > args.cores
    doc = {
        "schema": "tinyicenet-predict-bench", "schema_version": 1,
        "what": "tinyicenet predict, whole pipeline per scene (load + normalise + tiled "
                "inference + COG/NetCDF/quicklook writes), one RTT scene of "
                f"{args.size}x{args.size} at 80 m -> working grid x5 (400 m)",
        "model": "tinyicenet_w4a4 (random weights, calibrated; speed only)",
        "sizes_note": "product sizes come from a random model's noisy class map: a trained "
                      "model's smoother map compresses better, so sod_cog_bytes is pessimistic",
        "tile": args.tile, "halo": 16, "batch": args.batch, "repetitions": args.repeat,
        "cores": args.cores, "cpus_pinned": cpus,
        "provenance": {"throughput": "measured", "method": "wall clock (time.perf_counter) "
                       "around predict_scenes, median of the timed runs after one warm-up"},
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "under_load": under_load,
        "note": ("taken while other processes loaded the machine (load average above the cores "
                 "in use): rerun on a quiet machine") if under_load else "",
        "results": results, "commit": commit(), "date": now_iso(),
        "host": host_info(torch=torch.__version__, threads=torch.get_num_threads()),
    }
    write_text(args.out, json.dumps(doc, indent=1) + "\n")
    for r in results:
        print(f"{r['backend']:>8}: {r['scenes_per_minute']:.2f} scenes/min "
              f"(inference only {r['inference_scenes_per_minute']:.2f}) on {args.cores} cores"
              f"{'  [under load]' if under_load else ''}")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark archive predict on Dask: whole scenes per minute for 1 and 2 local workers, and
the overhead per scene that Dask adds over the plain loop.

Unit of work: a ready-to-train scene of ``--size`` x ``--size`` pixels at 80 m (default 5000: a
whole 400 km Sentinel-1 EW scene, 1000 x 1000 working pixels), predicted and written (COG +
AutoICE NetCDF + quicklook) exactly as ``tinyicenet predict`` does. One scene is generated and
hard-linked under ``--scenes`` names (the products are named by file, the work is the same);
the model is a randomly initialised, calibrated ``tinyicenet_w4a4`` checkpoint (speed does not
depend on the weights).

Measured, each as the median of ``--repeat`` runs (wall clock, ``time.perf_counter``):

* ``plain``: ``predict_scenes`` over all scenes in this process (``tinyicenet predict`` without
  Dask), torch on ``--cores`` threads;
* ``dask_wN``: ``predict_archive(..., overwrite=True)`` on a started local cluster of N
  workers built as ``--workers N`` builds it (cores / N torch threads each), after one warm-up
  run in which the workers load the model; plus one end-to-end ``--workers N`` run, cluster
  start and stop included, as a user sees it; the cluster's start time and the cost of a
  no-op Dask task (``task_roundtrip_ms``, scheduling alone);
* ``overhead_per_scene_s`` = (1-worker wall - plain wall) / scenes: what the engine (tasks,
  attempt folders, client-side publish, checksums, manifest) costs per scene at equal CPU
  (the one worker gets all ``--cores`` threads).

Run on a quiet machine (the lead records it)::

    python bench/bench_archive.py --workdir /tmp/bench_archive   # 5000 x 5000, 12 scenes
    python bench/bench_archive.py --size 400 --scenes 3 --repeat 1 --no-record   # smoke

Writes ``bench/results/archive_cpu.json`` unless ``--no-record``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import pin_cores, random_checkpoint  # bench/ is sys.path[0] when run

HERE = Path(__file__).resolve().parent


def _scenes(work: Path, size: int, n: int) -> tuple[list[Path], float, bool]:
    from tinyicenet.data.synth import write_scenes

    src_dir = work / f"scene_{size}"
    found = sorted(src_dir.glob("*_prep.nc"))
    t = time.perf_counter()
    src = found[0] if found else write_scenes(src_dir, 1, size=(size, size), seed=0)[0]
    gen_s = time.perf_counter() - t
    folder = work / f"archive_{size}_{n}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"bench{i:04d}_{src.name}"
        if not p.exists():
            try:
                os.link(src, p)  # same bytes, its own scene name
            except OSError:  # no hard links on this filesystem
                shutil.copyfile(src, p)
        paths.append(p)
    return paths, gen_s, bool(found)


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=5000, help="scene side in 80 m pixels")
    ap.add_argument("--scenes", type=int, default=12, help="scenes per run")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per setting (median)")
    ap.add_argument("--roundtrips", type=int, default=200, help="no-op tasks timed")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "archive_cpu.json")
    ap.add_argument("--no-record", action="store_true", help="print only (smoke runs)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where scenes, checkpoint and products go (default: a temp folder); "
                         "a generated scene found there is reused")
    args = ap.parse_args(argv)

    cpus = pin_cores(args.cores)
    import torch

    torch.set_num_threads(args.cores)
    import dask
    from distributed import wait

    from tinyicenet.archive.engine import open_client
    from tinyicenet.archive.predict import predict_archive
    from tinyicenet.atomic import write_text
    from tinyicenet.bench.sysinfo import commit, host_info, now_iso
    from tinyicenet.predict.pipeline import PredictOptions, predict_scenes

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_archive.") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        paths, gen_s, reused = _scenes(work, args.size, args.scenes)
        log(f"{len(paths)} scenes of {args.size}x{args.size} "
            f"({'reused' if reused else f'generated in {gen_s:.0f} s'})")
        ckpt = random_checkpoint(work / "w4a4_random.pt", 0, "archive")
        opts = PredictOptions(backend=args.backend, quiet=True)
        n = len(paths)
        settings: dict[str, dict] = {}

        runs = []
        for r in range(args.repeat + 1):  # run 0 warms caches (imports, GDAL) and is not kept
            t = time.perf_counter()
            summary = predict_scenes(ckpt, paths, work / f"out_plain_{r}", opts)
            wall = time.perf_counter() - t
            if summary.failed:
                raise SystemExit(f"plain: {summary.failed[0].error}")
            log(f"plain run {r}{' (warm-up)' if not r else ''}: {wall:.1f} s")
            if r:
                runs.append({"wall_s": wall,
                             "scene_total_s": sum(s.seconds["total"] for s in summary.written)})
        settings["plain"] = {"workers": 0, "runs": runs, "wall_s": _median(runs, "wall_s"),
                             "scenes_per_minute": 60.0 * n / _median(runs, "wall_s")}

        for w in args.workers:
            threads = max(1, args.cores // w)  # what --workers w gives each worker
            # a cluster like --workers w builds (its workers' torch threads set through their
            # OMP_NUM_THREADS), started once: timed start, no-op tasks, then the steady runs
            with dask.config.set({"distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS":
                                  str(threads)}):
                t = time.perf_counter()
                with open_client(workers=w) as client:
                    client.wait_for_workers(w)
                    started = time.perf_counter() - t
                    futs = client.map(int, range(args.roundtrips), pure=False)
                    t1 = time.perf_counter()
                    wait(futs)
                    roundtrip = (time.perf_counter() - t1) / args.roundtrips
                    address = client.scheduler.address
                    runs = []
                    for r in range(args.repeat + 1):  # run 0: workers load the model; dropped
                        t = time.perf_counter()
                        summary = predict_archive(ckpt, paths, work / f"out_w{w}_{r}", opts,
                                                  scheduler=address, overwrite=True)
                        wall = time.perf_counter() - t
                        if summary.failed:
                            raise SystemExit(f"workers {w}: {summary.failed[0].error}")
                        log(f"dask {w} worker(s), warm cluster, run {r}"
                            f"{' (warm-up)' if not r else ''}: {wall:.1f} s")
                        if r:
                            runs.append({"wall_s": wall, "scene_total_s": sum(
                                s.seconds["total"] for s in summary.written)})
            # end to end as a user runs it: tinyicenet predict --workers w (cluster included)
            t = time.perf_counter()
            summary = predict_archive(ckpt, paths, work / f"out_w{w}_cli", opts, workers=w,
                                      overwrite=True)
            end_to_end = time.perf_counter() - t
            log(f"dask {w} worker(s), --workers end to end: {end_to_end:.1f} s "
                f"(cluster start {started:.1f} s)")
            settings[f"dask_w{w}"] = {
                "workers": w, "threads_per_worker": threads, "runs": runs,
                "cluster_start_s": started, "task_roundtrip_ms": 1e3 * roundtrip,
                "wall_s": _median(runs, "wall_s"), "end_to_end_s": end_to_end,
                "scenes_per_minute": 60.0 * n / _median(runs, "wall_s"),
                "end_to_end_scenes_per_minute": 60.0 * n / end_to_end,
            }
    overhead = None
    if "dask_w1" in settings:
        overhead = (settings["dask_w1"]["wall_s"] - settings["plain"]["wall_s"]) / n
    load_after = os.getloadavg()
    under_load = max(load_before[0], load_after[0]) > args.cores
    doc = {
        "schema": "tinyicenet-archive-bench", "schema_version": 1,
        "what": f"tinyicenet predict on {n} whole RTT scenes of {args.size}x{args.size} at 80 m "
                "(working grid x5, 400 m; COG + NetCDF + quicklook per scene): plain loop vs "
                "--workers N (local Dask cluster, one task per scene)",
        "model": "tinyicenet_w4a4 (random weights, calibrated; speed only)",
        "backend": args.backend, "scenes": n, "cores": args.cores, "cpus_pinned": cpus,
        "repetitions": args.repeat,
        "provenance": {"throughput": "measured", "method": "wall clock (time.perf_counter) "
                       "around predict_scenes / predict_archive, median of the timed runs after "
                       "one warm-up run; Dask figures on a started cluster built as --workers "
                       "builds it, plus one end-to-end --workers run that includes starting "
                       "and stopping the cluster"},
        "settings": settings,
        "overhead_per_scene_s": overhead,
        "overhead_definition": "(wall on a started 1-worker cluster whose worker has all the "
                               "cores - plain-loop wall) / scenes, both after a warm-up run",
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "under_load": under_load,
        "note": ("taken while other processes loaded the machine (load average above the cores "
                 "in use): rerun on a quiet machine") if under_load else "",
        "commit": commit(), "date": now_iso(),
        "host": host_info(torch=torch.__version__, threads=torch.get_num_threads()),
    }
    for name, s in settings.items():
        extra = ""
        if s["workers"]:
            extra = (f" on a warm cluster; {s['end_to_end_scenes_per_minute']:.2f}/min end to "
                     f"end (cluster start {s['cluster_start_s']:.1f} s); no-op task "
                     f"{s['task_roundtrip_ms']:.2f} ms")
        print(f"{name:>8}: {s['scenes_per_minute']:.2f} scenes/min{extra}")
    if overhead is not None:
        print(f"Dask overhead per scene (1 worker vs plain loop): {overhead:+.2f} s"
              f"{'  [under load]' if under_load else ''}")
    if not args.no_record:
        write_text(args.out, json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

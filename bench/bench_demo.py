#!/usr/bin/env python3
"""Benchmark: wall time of the README's main job, ``tinyicenet demo``, with its defaults.

Runs ``python -m tinyicenet demo --quiet`` in a fresh interpreter (imports included, as a user
sees it) into a temporary folder, ``--runs`` times, and writes a JSON record with the machine,
the date, the commit (``+dirty`` for a modified tree) and the load average before and after,
so the README's figure names its source.

    python bench/bench_demo.py                      # writes bench/results/demo_cpu.json
    python bench/bench_demo.py --runs 1 --out /tmp/demo.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="demo runs (the median is reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "demo_cpu.json")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")

    from tinyicenet.atomic import write_text
    from tinyicenet.bench.sysinfo import commit, host_info, now_iso

    record = {"benchmark": "demo", "schema_version": 1, "date": now_iso(), "commit": commit(),
              "machine": host_info(), "command": "python -m tinyicenet demo --quiet (defaults)",
              "timing": "wall clock of the whole process, imports included (time.perf_counter)",
              "load_average_start": _load()}
    seconds = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="tinyicenet-demo-bench-") as tmp:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "tinyicenet", "demo", "--quiet",
                                   "--out", str(Path(tmp) / "demo")], cwd=tmp,
                                  capture_output=True, text=True)
            elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"error: demo run {i + 1} failed (exit {proc.returncode}): {last}",
                  file=sys.stderr)
            return 1
        seconds.append(round(elapsed, 1))
        print(f"demo run {i + 1}/{args.runs}: {elapsed:.1f} s")
    record.update(wall_s=seconds, median_s=round(statistics.median(seconds), 1),
                  load_average_end=_load())
    write_text(args.out, json.dumps(record, indent=1) + "\n")
    print(f"median {record['median_s']} s over {args.runs} run(s); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

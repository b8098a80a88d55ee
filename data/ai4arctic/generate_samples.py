#!/usr/bin/env python3
"""Generate sample scenes in the AI4Arctic layout (the data the tests and the demo run on).

    python data/ai4arctic/generate_samples.py --out samples --scenes 3 --size 1000 1000 --seed 0

This is a thin wrapper around :func:`tinyicenet.data.synth.write_scenes` (the same as
``tinyicenet data synth``); the files are byte-identical for the same arguments.
"""

from __future__ import annotations

import argparse
import sys
import time

from tinyicenet.data.synth import write_scenes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--scenes", type=int, default=3, help="number of scenes")
    parser.add_argument("--size", type=int, nargs=2, default=(1000, 1000),
                        metavar=("LINES", "SAMPLES"), help="SAR grid size (real RTT: ~5000 5000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--raw", action="store_true", help="raw-style files (polygon codes)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = write_scenes(args.out, args.scenes, size=tuple(args.size), seed=args.seed,
                         raw=args.raw, on_scene=print)
    print(f"{len(paths)} scene(s) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

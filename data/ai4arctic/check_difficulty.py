#!/usr/bin/env python3
"""Check that SOD on generated scenes is learnable from HH/HV, but not from single pixels.

    python data/ai4arctic/check_difficulty.py --size 2000 --train 6 --test 4

Generates training scenes (seed 100) and held-out scenes (seed 200), then prints the weighted
SOD F1 of a gradient-boosted classifier on single pixels (80 m and 400 m) and on 5 x 5 / 7 x 7
local means and standard deviations at 400 m (:func:`tinyicenet.data.difficulty.sod_difficulty`).
Point ``--train-dir``/``--test-dir`` at real AI4Arctic folders to compare.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tinyicenet.data.difficulty import sod_difficulty
from tinyicenet.data.reader import scene_files
from tinyicenet.data.synth import write_scenes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="scene edge in pixels (80 m)")
    parser.add_argument("--train", type=int, default=6, help="training scenes to generate")
    parser.add_argument("--test", type=int, default=4, help="held-out scenes to generate")
    parser.add_argument("--train-dir", type=Path, help="use these scenes instead")
    parser.add_argument("--test-dir", type=Path, help="use these scenes instead")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        size = (args.size, args.size)
        train = (scene_files(args.train_dir) if args.train_dir
                 else write_scenes(Path(tmp) / "train", args.train, size, seed=100))
        test = (scene_files(args.test_dir) if args.test_dir
                else write_scenes(Path(tmp) / "test", args.test, size, seed=200))
        scores = sod_difficulty(train, test)
    for name, f1 in scores.items():
        print(f"{name:18s} weighted F1 {f1:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

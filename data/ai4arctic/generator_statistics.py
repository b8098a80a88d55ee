#!/usr/bin/env python3
"""Measure generated scenes against the published AI4Arctic figures they are calibrated to.

    python data/ai4arctic/generator_statistics.py [--scenes 12] [--size 500 500] [--seed 300]

Writes ``generator_statistics.json`` next to this script (measured, published, relative
difference, sources) and prints the table of ``README.md``. The library function is
:func:`tinyicenet.data.calibration.generator_statistics`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinyicenet.atomic import write_text
from tinyicenet.data.calibration import generator_statistics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--size", type=int, nargs=2, default=(500, 500))
    parser.add_argument("--seed", type=int, default=300)
    parser.add_argument("--out", default=str(Path(__file__).with_name("generator_statistics.json")))
    args = parser.parse_args(argv)
    result = generator_statistics(args.scenes, tuple(args.size), args.seed)
    write_text(args.out, json.dumps(result, indent=1) + "\n")
    print("| quantity | generated | published | difference | source |")
    print("| --- | --- | --- | --- | --- |")
    for key, pub in result["published"].items():
        print(f"| {key} | {result['measured'][key]:.3f} | {pub['value']:.3f} | "
              f"{100 * result['relative_difference'][key]:+.1f} % | {pub['source']} |")
    print()
    print("SOD class shares of labelled pixels (generator, not calibrated): " + ", ".join(
        f"{k} {100 * v:.1f} %" for k, v in result["sod_class_shares"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

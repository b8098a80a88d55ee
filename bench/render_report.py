"""Write the planners' report from recorded results and check it renders in headless Chromium.

    python bench/render_report.py [RESULTS ...] --out out/report [--shot out/report.png]

RESULTS default to bench/results/. The script writes the report, screenshots report.html with
headless Chromium (``apt-get install chromium``), checks that the screenshot and every chart
decode as images of sensible size with real content, and prints the verdict. Exit code 0 when
all checks pass, 4 when no Chromium is installed, 1 when a check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def check_image(path: Path, min_w: int, min_h: int) -> str:
    """'' if ``path`` decodes as an image at least min_w x min_h that is not one flat colour."""
    try:
        with Image.open(path) as img:
            img.load()
            w, h = img.size
            pixels = np.asarray(img.convert("L"), dtype=float)
    except Exception as exc:  # any decode failure is a failed check
        return f"{path.name}: does not decode as an image ({exc})"
    if w < min_w or h < min_h:
        return f"{path.name}: {w} x {h} px, expected at least {min_w} x {min_h}"
    if pixels.std() < 2.0:
        return f"{path.name}: nearly uniform (std {pixels.std():.2f}): nothing drawn"
    return ""


def main(argv: list[str] | None = None) -> int:
    from tinyicenet.errors import TinyIceNetError, ToolNotFoundError
    from tinyicenet.report import write_report
    from tinyicenet.report.screenshot import screenshot

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", type=Path, default=[REPO / "bench" / "results"])
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument("--accuracy", type=Path, action="append", default=[])
    parser.add_argument("--shot", type=Path, help="screenshot (default: OUT.png beside OUT)")
    args = parser.parse_args(argv)
    try:
        html = write_report(args.results, args.out, accuracy_paths=args.accuracy)
        shot = screenshot(html, args.shot or args.out.with_suffix(".png"))
    except ToolNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    except TinyIceNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = [check_image(shot, 800, 1000)]
    problems += [check_image(p, 300, 150) for p in sorted(args.out.glob("*.png"))]
    problems = [p for p in problems if p]
    for p in problems:
        print(f"check failed: {p}", file=sys.stderr)
    import json

    report = json.loads((args.out / "report.json").read_text())
    print(f"verdict: {report['verdict']}")
    if report.get("emulated"):
        print(f"kept out of the comparison (emulated): {len(report['emulated'])} result(s)")
    for group in report.get("other_timing", []):
        print(f"own table (throughput timed '{group['timing']}'): {len(group['rows'])} result(s)")
    print(f"report: {html}\nscreenshot: {shot}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

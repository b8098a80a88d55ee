"""Per-epoch metrics of a run, written as ``metrics.csv`` and ``metrics.json`` in the run folder."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tinyicenet.atomic import write_text

#: Column order of metrics.csv (rows may hold more keys; they go to the JSON only).
COLUMNS = ("epoch", "phase", "model", "loss", "lr", "val_sod_f1", "val_combined",
           "epoch_time_s", "train_time_s", "samples_per_s", "world_size")


def write_history(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite both files from ``rows`` (atomic each; the checkpoint holds the same rows)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else _fmt(row.get(k))) for k in COLUMNS})
    write_text(run_dir / "metrics.csv", buf.getvalue())
    write_text(run_dir / "metrics.json", json.dumps({"epochs": rows}, indent=1) + "\n")


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value

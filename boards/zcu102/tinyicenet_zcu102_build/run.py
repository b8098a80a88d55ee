"""Running a tool with a log, and publishing a finished output folder in one rename."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import BuildError


def publish(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` (a finished folder) in one rename."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def run_logged(cmd: list, cwd: Path, log: Path, what: str) -> None:
    print(f"[build] {what}: {' '.join(cmd)}  (log: {log})", flush=True)
    with open(log, "w") as handle:
        code = subprocess.call(cmd, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    if code != 0:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        tail = lines[-1:] or [""]
        raise BuildError(f"{what} failed (exit {code}); see {log}: {tail[0].strip()[:200]}", code=5)

"""Running a tool with its output in a log file; a failure is one BuildError line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import BuildError


def run_logged(cmd: list, cwd: Path, log: Path, what: str) -> None:
    """Run ``cmd`` in ``cwd`` with stdout and stderr in ``log``; BuildError (exit 5) if it fails."""
    print(f"[build] {what}: {' '.join(cmd)}  (log: {log})", flush=True)
    with open(log, "w") as handle:
        code = subprocess.call(cmd, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    if code != 0:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        tail = lines[-1:] or [""]
        raise BuildError(f"{what} failed (exit {code}); see {log}: {tail[0].strip()[:200]}", code=5)

"""Where and when a measurement ran: commit, UTC date, host description."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[2]


def commit() -> str | None:
    """Short commit of the source tree, with ``+dirty`` when tracked files other than
    ``bench/results/`` differ.

    Outside a git checkout (a copied tree on a lent machine) the ``TINYICENET_COMMIT``
    environment variable names it; else None.
    """
    given = os.environ.get("TINYICENET_COMMIT") or None
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=_REPO,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        # result files written by earlier records of the same batch do not change the code
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)bench/results"],
                               cwd=_REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return given
    return f"{sha}+dirty" if dirty else sha or given


def now_iso() -> str:
    """Current time, ISO 8601 UTC, seconds."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def cpu_name() -> str:
    """The CPU model name (Linux /proc/cpuinfo, else platform)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_info(**extra: Any) -> dict[str, Any]:
    """Machine description for results (no user names or paths)."""
    info: dict[str, Any] = {
        "name": platform.node(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "os": platform.platform(terse=True),
        "python": sys.version.split()[0],
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
    info.update({k: v for k, v in extra.items() if v is not None})
    return info

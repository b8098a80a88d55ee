"""Where and when a measurement ran: commit, UTC date, host description."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SourceState:
    """The commit that runs and whether tracked files (other than ``bench/results/``) differ
    from it; ``clean`` is None where that cannot be told (no git: ``TINYICENET_COMMIT``)."""

    commit: str | None
    clean: bool | None

    def to_dict(self) -> dict[str, Any]:
        """``{"commit", "clean"}``, as result records store it."""
        return {"commit": self.commit, "clean": self.clean}


def source_state() -> SourceState:
    """Short (12-digit) commit of the source tree and whether it is clean.

    The ``TINYICENET_COMMIT`` environment variable, where set, names it (clean unknown): a
    tree copied to a lent machine may sit inside another checkout, whose HEAD git would report.
    Else git's HEAD, or None outside a checkout.
    """
    given = os.environ.get("TINYICENET_COMMIT") or None
    if given:
        return SourceState(given, None)
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=_REPO,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        # result files written by earlier records of the same batch do not change the code
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)bench/results"],
                               cwd=_REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return SourceState(None, None)
    if not sha:
        return SourceState(None, None)
    return SourceState(sha, not dirty)


def commit() -> str | None:
    """The commit of :func:`source_state`, with ``+dirty`` when tracked files differ."""
    state = source_state()
    return f"{state.commit}+dirty" if state.clean is False else state.commit


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

"""Runs ``boards/zcu102/build.py`` (the bitstream and C-simulation build, which runs where Vivado
is, without this package) and turns its exit status into the project's errors."""

from __future__ import annotations

import subprocess
import sys

from tinyicenet.board.package import board_dir
from tinyicenet.errors import ConfigError, ExportError, ToolNotFoundError


def run_build(args: list[str], quiet: bool) -> None:
    """Run boards/zcu102/build.py; its exit status becomes the matching TinyIceNetError."""
    cmd = [sys.executable, str(board_dir() / "build.py"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if not quiet and proc.stdout:
        sys.stderr.write(proc.stdout)
    if proc.returncode == 0:
        return
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    message = next((ln[len("error: "):] for ln in reversed(lines) if ln.startswith("error: ")),
                   lines[-1] if lines else f"build.py exited with {proc.returncode}")
    error = {4: ToolNotFoundError, 2: ConfigError}.get(proc.returncode, ExportError)
    raise error(message)

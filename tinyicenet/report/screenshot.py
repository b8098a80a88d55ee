"""Render a report page in headless Chromium and save a screenshot (a check that it renders)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tinyicenet.atomic import atomic_path
from tinyicenet.errors import ToolNotFoundError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def find_browser() -> str | None:
    """Path of a Chromium-family browser on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html: str | Path, png: str | Path, *, width: int = 1200, height: int = 2400,
               timeout_s: float = 120.0) -> Path:
    """Screenshot ``html`` into ``png`` (written atomically); raises if no browser is here."""
    browser = find_browser()
    if browser is None:
        raise ToolNotFoundError("no headless Chromium here (install it, e.g. apt-get install "
                                "chromium)")
    html = Path(html).resolve()
    if not html.is_file():
        raise FileNotFoundError(f"{html}: no such report page")
    with tempfile.TemporaryDirectory(prefix="tinyicenet-chromium-") as profile, \
            atomic_path(png) as tmp:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={tmp}", html.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ToolNotFoundError(f"{browser} did not finish within {timeout_s:g} s") from None
        if proc.returncode != 0 or not tmp.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ToolNotFoundError(f"{browser} failed to render {html.name}: {tail[0]}")
    return Path(png)

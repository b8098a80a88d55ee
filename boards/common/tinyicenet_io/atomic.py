"""Publishing a finished output folder in one rename (standard library only).

The host's ``tinyicenet.atomic.atomic_dir`` and the board build (``boards/zcu102/build.py``,
which writes ``<out>.partial`` first) both end with :func:`replace_dir`, so no half-written
folder is ever seen under the output's name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def replace_dir(staging: str | os.PathLike, out: str | os.PathLike) -> None:
    """Put the finished folder ``staging`` at ``out``, replacing an old ``out`` by renames."""
    staging, out = Path(staging), Path(out)
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)

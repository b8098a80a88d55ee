"""Publishing a finished output folder in one rename (standard library only).

The host's ``tinyicenet.atomic.atomic_dir`` and the board build (``boards/zcu102/build.py``,
which writes ``<out>.partial`` first) both end with :func:`replace_dir`, so no half-written
folder is ever seen under the output's name.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


def check_dir_target(out: str | os.PathLike) -> None:
    """Raise :class:`NotADirectoryError` if ``out`` exists and is not a folder.

    Only an old output *folder* is ever replaced: a file (or a link to one) of that name is the
    user's, and replacing it would silently destroy it.
    """
    out = Path(out)
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", str(out))


def replace_dir(staging: str | os.PathLike, out: str | os.PathLike) -> None:
    """Put the finished folder ``staging`` at ``out``, replacing an old ``out`` folder by
    renames."""
    staging, out = Path(staging), Path(out)
    check_dir_target(out)
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)

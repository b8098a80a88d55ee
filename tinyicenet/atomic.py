"""Write outputs under a temporary name and rename on success, so no half-written file survives."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tinyicenet_io.atomic import check_dir_target, replace_dir

from tinyicenet.errors import OutputError


def _blocking_file(path: Path) -> Path | None:
    """The first existing non-folder among ``path``'s ancestors, if any."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def make_dir(path: str | os.PathLike[str]) -> Path:
    """Create folder ``path`` and its parents; a file in the way is an :class:`OutputError`."""
    target = Path(path)
    blocker = target if target.exists() and not target.is_dir() else _blocking_file(target)
    if blocker is not None:
        raise OutputError(f"cannot create folder {target}: {blocker} is a file, not a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # permission, read-only file system, a dangling link, ...
        raise OutputError(f"cannot create folder {target}: {exc.strerror or exc}") from None
    return target


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """Fail early if output folder ``path`` could not be published (a file has its name, or
    one of its parents is a file): before the work, not at the final rename."""
    target = Path(path)
    try:
        check_dir_target(target)
    except NotADirectoryError:
        raise OutputError(f"{target} exists and is not a folder: give a new name or remove "
                          "it") from None
    blocker = _blocking_file(target)
    if blocker is not None:
        raise OutputError(f"cannot write {target}: {blocker} is a file, not a folder")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps the target's suffix so that writers which infer a format from the
    name (GDAL, matplotlib, netCDF) behave as for the real name.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name")
    make_dir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # writers that refuse to overwrite get a free name
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` if the block succeeds."""
    target = check_output_dir(path)
    make_dir(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        yield tmp
        replace_dir(tmp, target)  # the rename the board build publishes with, too
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write a text file and return its path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)

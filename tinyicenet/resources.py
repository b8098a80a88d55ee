"""Where the project's data files live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent

# top-level folder in the repository -> its copy inside the wheel (pyproject force-include)
_LOCATIONS = {
    "data/ai4arctic": "_resources/ai4arctic",
    "hls": "_resources/hls",
    "boards/zcu102": "_resources/zcu102",
}


def resource_dir(name: str) -> Path:
    """Return the folder ``name`` (one of data/ai4arctic, hls, boards/zcu102)."""
    if name not in _LOCATIONS:
        raise KeyError(f"unknown resource folder {name!r}")
    for candidate in (_PACKAGE / _LOCATIONS[name], _REPO / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"resource folder {name} is missing from this installation")

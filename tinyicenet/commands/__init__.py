"""CLI command modules; each exposes ``register(app: typer.Typer)``.

Also the two checks the commands share, so an option that would be ignored is refused instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tinyicenet.errors import ConfigError


def refuse_unused(context: str, given: Mapping[str, bool]) -> None:
    """A :class:`ConfigError` naming the options in ``given`` that were set but have no use in
    ``context`` (e.g. "--plan-only (...)")."""
    unused = [name for name, was_given in given.items() if was_given]
    if unused:
        raise ConfigError(f"{', '.join(unused)} {'has' if len(unused) == 1 else 'have'} no "
                          f"effect with {context}: leave {'it' if len(unused) == 1 else 'them'} "
                          "out")


def scene_tile_count(scene: Path | None, scene_tiles: int | None) -> int:
    """``--scene-tiles``, which needs ``--scene``; 2 when only ``--scene`` is given."""
    if scene is None:
        refuse_unused("no --scene (there are no scene tiles to take)",
                      {"--scene-tiles": scene_tiles is not None})
        return 0
    from tinyicenet.export.golden import DEFAULT_SCENE_TILES

    return DEFAULT_SCENE_TILES if scene_tiles is None else scene_tiles

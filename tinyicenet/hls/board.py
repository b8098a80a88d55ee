"""Board facts for the HLS flow, read from ``boards/<board>/board.json`` (data, not code)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tinyicenet.errors import ConfigError
from tinyicenet.resources import resource_dir

KNOWN_BOARDS = ("zcu102",)
RESOURCE_KEYS = ("lut", "ff", "dsp", "bram36")


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    clock_mhz: float
    resources: dict[str, float] = field(default_factory=dict)

    @property
    def clock_period_ns(self) -> float:
        return 1000.0 / self.clock_mhz


def load_board(name: str) -> Board:
    """The part, design clock and resources of ``name`` (ConfigError if unknown or malformed)."""
    if name not in KNOWN_BOARDS:
        raise ConfigError(f"unknown board {name!r} (known: {', '.join(KNOWN_BOARDS)})")
    try:
        path = resource_dir(f"boards/{name}") / "board.json"
    except (KeyError, FileNotFoundError) as exc:
        raise ConfigError(f"board {name}: board facts are missing from this installation "
                          f"({exc})") from None
    try:
        facts = json.loads(path.read_text())
        resources = {k: float(facts["resources"][k]) for k in RESOURCE_KEYS}
        clock = float(facts.get("clocks", {}).get("design_clk_mhz", 200.0))
        return Board(name=name, part=str(facts["part"]), clock_mhz=clock, resources=resources)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: cannot read the board facts ({type(exc).__name__}: "
                          f"{exc})") from None

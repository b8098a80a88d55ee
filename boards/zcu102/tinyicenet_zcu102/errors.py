"""The board driver's one exception type (the board's Python has no tinyicenet package)."""

from __future__ import annotations


class BoardError(Exception):
    """A problem the user can fix (bad file, bad io spec, missing overlay), in one line."""

    exit_code = 2


class PowerUnavailable(BoardError):
    """No INA226 rail can be read on this machine (no hwmon tree, no pynq.pmbus)."""

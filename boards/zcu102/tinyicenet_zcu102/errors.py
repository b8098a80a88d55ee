"""The board driver's one exception type (the board's Python has no tinyicenet package).

It is the shared package's :class:`tinyicenet_io.errors.FormatError`, so an io-spec, packing or
tiling error and a driver error are caught (and printed as one ``error:`` line) alike.
"""

from __future__ import annotations

from tinyicenet_io.errors import FormatError as BoardError

__all__ = ["BoardError", "PowerUnavailable"]


class PowerUnavailable(BoardError):
    """No INA226 rail can be read on this machine (no hwmon tree, no pynq.pmbus)."""

"""The project's exception types.

Every error a user can cause (bad file, bad config, bad checkpoint, missing tool) is raised as a
:class:`TinyIceNetError` subclass whose message is one complete line naming the thing and the
problem. The CLI prints that line and exits non-zero; library users catch the class.
"""

from __future__ import annotations


class TinyIceNetError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code = 2


class DataError(TinyIceNetError):
    """A scene file is missing, unreadable or not in the AI4Arctic layout."""


class ConfigError(TinyIceNetError):
    """A configuration key or value is unknown or invalid."""


class CheckpointError(TinyIceNetError):
    """A checkpoint is missing, corrupt, or belongs to another architecture."""


class ExportError(TinyIceNetError):
    """A model cannot be exported or mapped to hardware as asked."""


class VerificationError(TinyIceNetError):
    """Two implementations that must agree bit for bit do not."""

    exit_code = 3


class ToolNotFoundError(TinyIceNetError):
    """An external tool (g++, vitis-run, vivado, a board) is not available here."""

    exit_code = 4


class MeterError(TinyIceNetError):
    """A power or energy meter cannot be read."""


class OutputError(TinyIceNetError):
    """An output path cannot be written: a file is in the way, or it is not permitted."""


class ResultError(TinyIceNetError):
    """A benchmark or accuracy result file is corrupt or of another schema."""

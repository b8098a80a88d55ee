"""The one exception type of the shared package (host and board map it to their own errors)."""

from __future__ import annotations


class FormatError(Exception):
    """A problem the user can fix (bad io spec, mismatched shapes, unreadable file), in one line."""

    exit_code = 2

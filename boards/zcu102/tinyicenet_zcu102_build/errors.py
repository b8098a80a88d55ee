"""The build's one exception type."""

from __future__ import annotations


class BuildError(Exception):
    """A user-fixable problem, one line; ``code`` (also ``exit_code``) is the exit status."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code

    @property
    def exit_code(self) -> int:
        return self.code

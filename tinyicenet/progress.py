"""Progress bars on stderr that a ``--quiet`` flag switches off."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

stderr = Console(stderr=True)


def make_progress(quiet: bool = False) -> Progress:
    """A rich Progress writing to stderr; disabled (prints nothing) when ``quiet``."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=quiet,
        transient=False,
    )


def info(message: str, quiet: bool = False) -> None:
    """Print a status line on stderr unless quiet."""
    if not quiet:
        stderr.print(message)

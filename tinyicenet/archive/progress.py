"""One progress line for a whole archive on the client: scenes done / failed / retried, ETA."""

from __future__ import annotations

from typing import Any

from tinyicenet.progress import make_progress


class ArchiveProgress:
    """A rich bar over the scenes still to do (skipped ones are announced, not counted, so the
    ETA reflects the work left); ``quiet`` prints nothing."""

    def __init__(self, total: int, *, label: str = "scenes", quiet: bool = False) -> None:
        self.quiet = quiet
        self.label = label
        self.done = self.failed = self.retried = 0
        self._progress = make_progress(quiet)
        self._task: Any = None
        self._total = total

    def __enter__(self) -> ArchiveProgress:
        self._progress.__enter__()
        self._task = self._progress.add_task(self._describe(), total=self._total)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def _describe(self) -> str:
        parts = [f"{self.label}: {self.done} done"]
        if self.failed:
            parts.append(f"[red]{self.failed} failed[/red]")
        if self.retried:
            parts.append(f"[yellow]{self.retried} retried[/yellow]")
        return ", ".join(parts)

    def _refresh(self, advance: int = 0) -> None:
        self._progress.update(self._task, advance=advance, description=self._describe())

    def scene_done(self) -> None:
        self.done += 1
        self._refresh(1)

    def scene_failed(self) -> None:
        self.failed += 1
        self._refresh(1)

    def scene_retried(self) -> None:
        self.retried += 1
        self._refresh()

    def print(self, message: str) -> None:
        """A line above the bar (plain text: scene names may hold brackets)."""
        if not self.quiet:
            self._progress.console.print(message, highlight=False, markup=False,
                                         soft_wrap=True)

"""Progress bars of long jobs (predict, eval, export): one rich line on stderr, shown only on a terminal.

A bar appears when ``enabled`` and both stdout and stderr are terminals, so piped or redirected output
(``openfer predict photos/ --format jsonl | jq``, CI logs) never carries one; ``--quiet`` turns it off too.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def on_terminal() -> bool:
    """Whether stdout and stderr are both terminals (the only case where a progress bar is drawn)."""
    return all(getattr(stream, "isatty", lambda: False)() for stream in (sys.stdout, sys.stderr))


class ProgressBar:
    """A bar with ``description`` and ``total`` steps (None: a count without an end), drawn on stderr
    while the block runs; does nothing unless ``enabled`` and :func:`on_terminal`."""

    def __init__(self, description: str, total: float | None = None, enabled: bool = True, unit: str = "") -> None:
        self._progress = None
        if not (enabled and on_terminal()):
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        if unit:
            columns.append(TextColumn(unit))
        columns += [TimeElapsedColumn(), TimeRemainingColumn()]
        self._progress = Progress(*columns, console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task(description, total=total)
        self._progress.start()

    @property
    def shown(self) -> bool:
        """Whether the bar is drawn."""
        return self._progress is not None

    def advance(self, steps: float = 1, description: str | None = None) -> None:
        """Move the bar on by ``steps``, optionally changing its text."""
        if self._progress is not None:
            self._progress.update(self._task, advance=steps, **({} if description is None else {"description": description}))

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


def track(items: Iterable[T], description: str, total: float | None = None, enabled: bool = True) -> Iterator[T]:
    """``items`` one by one, with a :class:`ProgressBar` of ``total`` steps (default ``len(items)``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with ProgressBar(description, total, enabled) as bar:
        for item in items:
            yield item
            bar.advance()

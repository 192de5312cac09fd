"""The console and the progress bar shared by every report module, and small text helpers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["counts_text", "make_console", "progress", "short_path", "when", "working"]

_PROGRESS_MIN = 50  # fewer items than this: no progress bar


def make_console(file: TextIO | None = None, *, stderr: bool = False) -> Console:
    return Console(file=file, stderr=stderr, highlight=False)


@contextmanager
def progress(console: Console, total: int, what: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr for long runs; a no-op for short ones or non-terminals."""
    if total < _PROGRESS_MIN or not console.is_terminal:
        yield lambda: None
        return
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


@contextmanager
def working(console: Console, what: str) -> Iterator[None]:
    """A spinner on `console` while a long query runs; nothing when it is not a terminal."""
    if not console.is_terminal:
        yield
        return
    with console.status(what):
        yield


def short_path(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def counts_text(counter: Counter[str]) -> str:
    """ "a 3, b 1" (most frequent first), or "-" when empty."""
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "-"


def when(moment: datetime | None) -> str:
    """A time in UTC to the minute, "never" for None."""
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "never"

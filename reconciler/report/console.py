"""The console shared by every report module, the progress bar, and small text helpers.

The console is the one boundary between text from messages and the operator's terminal: it
shows text and never obeys it.  It parses no markup (a diagnostic's `[link=...]` or `[/]` is
printed as written, whatever a caller asks for), replaces no emoji codes, and every string it
is given shows its control characters as visible escapes (`reconciler.controls.neutralise`)
before the layout measures it.  Styling is ours alone, chosen with `styled` (text plus a rich
style) and table styles; `lines` puts several texts in one table cell.  Whatever else reaches
it (a `Text` built by hand) is still neutralised as it is rendered, so no escape sequence from
a message can reach the terminal through this console.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

from rich.console import (
    Console,
    ConsoleOptions,
    HighlighterType,
    JustifyMethod,
    OverflowMethod,
    RenderableType,
)
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from reconciler.controls import neutralise

__all__ = [
    "count_items",
    "counts_text",
    "lines",
    "make_console",
    "progress",
    "short_path",
    "styled",
    "when",
    "working",
]

_PROGRESS_MIN = 50  # fewer items than this: no progress bar


class _TextConsole(Console):
    """A rich console for text we did not write: no markup, no emoji, no control characters."""

    def render_str(
        self,
        text: str,
        *,
        style: str | Style = "",
        justify: JustifyMethod | None = None,
        overflow: OverflowMethod | None = None,
        emoji: bool | None = None,
        markup: bool | None = None,
        highlight: bool | None = None,
        highlighter: HighlighterType | None = None,
    ) -> Text:
        """Every string printed, put in a table or a title: as text, controls shown."""
        del emoji, markup, highlight, highlighter  # never: the text may be anybody's
        return Text(neutralise(text), style=style, justify=justify, overflow=overflow)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        """The last line of defence: a control character left in any text is shown too."""
        for segment in super().render(renderable, options):
            shown = segment.text if segment.control else neutralise(segment.text, lines=True)
            yield segment if shown == segment.text else Segment(shown, segment.style)


def make_console(
    file: TextIO | None = None, *, stderr: bool = False, terminal: bool | None = None
) -> Console:
    """The console of every command (`terminal`: force or deny colour; None: detect)."""
    return _TextConsole(
        file=file, stderr=stderr, force_terminal=terminal, markup=False, emoji=False,
        highlight=False,
    )  # fmt: skip


def styled(text: str, style: str) -> Text:
    """`text` (ours or a message's) in a style of ours, e.g. `styled(name, "bold")`."""
    return Text(neutralise(text), style=style)


def lines(*texts: str) -> Text:
    """Several texts in one table cell, one per line (a line break inside one is shown)."""
    return Text("\n").join(Text(neutralise(text)) for text in texts)


@contextmanager
def progress(console: Console, total: int, what: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr for long runs; a no-op for short ones or non-terminals (which
    then never import rich's progress module, its live display and spinners: issue 16)."""
    if total < _PROGRESS_MIN or not console.is_terminal:
        yield lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}", markup=False),
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
    with console.status(Text(neutralise(what))):
        yield


def short_path(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def count_items(counter: Counter[str]) -> list[str]:
    """["a 3", "b 1"] (most frequent first; ties in first-seen order), ["-"] when empty."""
    return [f"{k} {v}" for k, v in counter.most_common()] or ["-"]


def counts_text(counter: Counter[str]) -> str:
    """ "a 3, b 1" (most frequent first), or "-" when empty."""
    return ", ".join(count_items(counter))


def when(moment: datetime | None) -> str:
    """A time in UTC to the minute, "never" for None (ISO 8601 date and time, to the minute)."""
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "never"

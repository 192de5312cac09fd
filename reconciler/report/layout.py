"""Tables that fit the terminal: columns by priority, never a split address or id.

Every table of the reports is built here from `Column`s.  A column holding addresses, ids,
names, numbers or times never wraps: it is as wide as its widest cell.  A column of free text
(`wrap=True`: a diagnostic, a list of reasons, a detail) wraps at spaces and takes the room that
is left, never less than its `min_width`.  When the columns do not fit the console's width, the
ones of lowest priority (the highest number) are left out, the rightmost first, and a line under
the table names them (`--json` has every column).  Headers are never cut: a column is at least as
wide as its header.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from reconciler.frozenrecord import frozen_record
from reconciler.report.console import lines

__all__ = ["Cell", "Column", "fitted_table", "packed", "print_counts", "print_fitted"]

Cell = str | Text

# A SIMPLE_HEAD table with its edges: one space of padding on each side of every column, one
# separator between two columns and one edge character on each side.
_PER_COLUMN = 3
_EDGES = 1


@frozen_record
class Column:
    """One column: its header, how important it is, and whether its text may wrap."""

    header: str
    priority: int = 1  # 1: always shown; the highest number is left out first when narrow
    justify: JustifyMethod = "left"
    wrap: bool = False  # free text that may wrap at spaces (never an address or an id)
    min_width: int = 12  # a wrapping column's narrowest width
    want: int = 0  # a wrapping column's width worth leaving out columns of lower priority for


@frozen_record
class _Plan:
    shown: list[int]  # the columns shown, in order
    widths: dict[int, int]  # the width each one gets at least
    folded: set[int]  # no-wrap columns that fold all the same (the console is too narrow)


def _width(cell: Cell) -> int:
    text = cell if isinstance(cell, Text) else Text(cell)
    return max((line.cell_len for line in text.split("\n", allow_blank=True)), default=0)


def _plan(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> _Plan:
    """Which columns to show and how wide: all that fit at their wanted width, dropping the
    lowest priorities first; then wrapping columns narrow down to their `min_width`; and only
    when the columns of priority 1 still do not fit, the widest fold rather than be cut off."""
    content = [max([0, *(_width(row[i]) for row in rows)]) for i in range(len(columns))]
    header = [Text(c.header).cell_len for c in columns]
    floor = [max(h, c.min_width) if c.wrap else max(h, n)
             for c, h, n in zip(columns, header, content, strict=True)]  # fmt: skip
    needed = [max(f, min(n, c.want)) if c.wrap else f
              for c, f, n in zip(columns, floor, content, strict=True)]  # fmt: skip
    shown = list(range(len(columns)))
    folded: set[int] = set()

    def excess() -> int:
        return sum(needed[i] for i in shown) + _PER_COLUMN * len(shown) + _EDGES - width

    while excess() > 0:
        droppable = [i for i in shown if columns[i].priority > 1]
        if not droppable:
            break
        shown.remove(max(droppable, key=lambda i: (columns[i].priority, i)))
    for i in (i for i in shown if columns[i].wrap):
        needed[i] -= max(0, min(needed[i] - floor[i], excess()))
    while excess() > 0 and len(folded) < len(shown):
        widest = max((i for i in shown if i not in folded), key=lambda i: needed[i])
        folded.add(widest)
        needed[widest] = max(header[widest], needed[widest] - excess())
    return _Plan(shown, {i: needed[i] for i in shown}, folded)


def fitted_table(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str | None = None,
) -> tuple[Table, list[str]]:
    """The table of the columns that fit `console.width`, and the headers left out."""
    plan = _plan(columns, rows, console.width)
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    if title is not None and Text(title).cell_len > console.width // 2:
        table.title = None  # printed above the table by print_fitted: not wrapped to its width
    for i in plan.shown:
        column = columns[i]
        if column.wrap or i in plan.folded:
            table.add_column(
                column.header, justify=column.justify, overflow="fold", min_width=plan.widths[i]
            )
        else:
            table.add_column(
                column.header, justify=column.justify, no_wrap=True, min_width=plan.widths[i]
            )
    for row in rows:
        table.add_row(*(row[i] for i in plan.shown))
    return table, [columns[i].header for i in range(len(columns)) if i not in plan.shown]


def print_fitted(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str | None = None,
) -> None:
    """Print the fitted table, and under it which columns did not fit (if any)."""
    table, left_out = fitted_table(console, columns, rows, title=title)
    if title is not None and table.title is None:
        console.print(Text(title, style="italic"))
    console.print(table)
    if left_out:
        console.print(
            Text(
                f"not shown at {console.width} columns: {', '.join(left_out)} (see --json)",
                style="dim",
            )
        )


def packed(items: Sequence[str], width: int) -> list[str]:
    """Items ("userunknown 4") joined by ", " into lines of at most `width` cells, never
    breaking an item (one longer than the width stands on its own line)."""
    lines: list[str] = []
    line = ""
    for item in items:
        candidate = f"{line}, {item}" if line else item
        if line and Text(candidate + ",").cell_len > width:
            lines.append(line + ",")
            line = item
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines or ["-"]


def print_counts(console: Console, title: str, rows: Sequence[tuple[str, Sequence[str]]]) -> None:
    """A two-column table of counts ("by", "counts"): each row's items ("userunknown 4")
    packed into lines that fit the console, an item never split across two lines."""
    by_width = max([2, *(Text(name).cell_len for name, _ in rows)])
    room = max(20, console.width - by_width - 2 * _PER_COLUMN - _EDGES)
    cells = [(name, lines(*packed(items, room))) for name, items in rows]
    columns = (Column("by"), Column("counts"))
    print_fitted(console, columns, cells, title=title)

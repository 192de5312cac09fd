"""Exit codes and the operator's one-line notices: what `reconciler.cli` needs before it knows
the command, so nothing heavier than `sys` (the notice's text guard is imported when one is
printed), and the width of the terminal that plain lines are fitted to."""

from __future__ import annotations

import os
import sys

__all__ = [
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "print_notice",
    "terminal_columns",
]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


def print_notice(line: str) -> None:
    """One line on stderr for the operator (an error, a warning): `reconciler: line`.

    Plain text, no console: an error may quote a message or a file name, shown like any."""
    from reconciler.controls import neutralise

    print(f"reconciler: {neutralise(line)}", file=sys.stderr)


def terminal_columns() -> int:
    """The width output is fitted to: $COLUMNS, else stdout's terminal, else 80 (piped), as
    `shutil.get_terminal_size` decides, without importing shutil (and with it bz2 and lzma)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    out = sys.__stdout__
    if columns <= 0 and out is not None:
        try:
            columns = os.get_terminal_size(out.fileno()).columns
        except (AttributeError, ValueError, OSError):  # closed, detached, not a terminal
            columns = 0
    return columns if columns > 0 else 80

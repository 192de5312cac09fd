"""Exit codes and the operator's one-line notices: what `reconciler.cli` needs before it knows
the command, so nothing heavier than `sys` (the notice's text guard is imported when one is
printed), and the width of the terminal that plain lines are fitted to."""

from __future__ import annotations

import sys

from reconciler.terminal import terminal_columns

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

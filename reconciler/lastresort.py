"""The text formatter of our log lines, and the guard of Python's last-resort handler.

Apart from `reconciler.logs` (which uses the formatter) so that the command line can guard the
last-resort handler the moment `logging` is first imported, by whichever module imports it,
`reconciler.logs` included (see `reconciler.cli`): a command that never logs never imports
logging at all.
"""

from __future__ import annotations

import logging

from reconciler.controls import neutralise

__all__ = ["CONTINUED", "TextFormatter", "guard_last_resort"]

CONTINUED = "\n    "  # how the further lines of one record start


class TextFormatter(logging.Formatter):
    """Every control character of a record shown as its escape; its further lines indented,
    so that a line of the log always starts a record of ours."""

    def format(self, record: logging.LogRecord) -> str:
        return neutralise(super().format(record), lines=True).replace("\n", CONTINUED)


def guard_last_resort() -> None:
    """The same safe text for the warnings of a command that sets up no logging (`report`,
    `mode`, `undo`, ...): Python prints them bare through its last-resort handler."""
    if logging.lastResort is not None:
        logging.lastResort.setFormatter(TextFormatter("%(message)s"))

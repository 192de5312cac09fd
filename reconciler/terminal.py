"""The width of the terminal that output is fitted to: what the command line's tables and
notices (`cli.exits`) and the log lines written to a terminal (`logs`) both use.  Nothing
heavier than `os` and `sys`: every command imports it before it runs."""

from __future__ import annotations

import os
import sys

__all__ = ["terminal_columns"]


def terminal_columns(stream: object = None) -> int:
    """$COLUMNS, else the width of the terminal `stream` writes to (stdout by default), else
    80 (piped, or a terminal that tells no size), as `shutil.get_terminal_size` decides,
    without importing shutil (and with it bz2 and lzma)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    out = sys.__stdout__ if stream is None else stream
    if columns <= 0 and out is not None:
        try:
            columns = os.get_terminal_size(out.fileno()).columns  # type: ignore[attr-defined]
        except (AttributeError, ValueError, OSError):  # closed, detached, not a terminal
            columns = 0
    return columns if columns > 0 else 80

"""Logging set-up: human-readable lines by default, JSON lines on request.

Secrets never reach a log line: settings objects hide them in their repr, and the log calls
pass only counts, ids and reasons.  Addresses are logged at INFO only when the configuration
allows it (`logging.log_addresses`); `mask_address` is the helper for that.

Text from messages (a Message-ID, a remote MTA, an address, an error quoting them) reaches log
lines as arguments, and the formatters are the one place that makes it safe, whatever the
call site: a text line shows every control character as its escape
(`reconciler.controls.neutralise`) and indents the further lines of a record (a traceback's,
or a line break inside an argument), so a log line always starts a record of ours and no
message can forge one; a JSON line escapes every control character and stays faithful.

Text lines written to a terminal (a person running `poll --once` or `run` by hand, the demo)
fit its width: the time without milliseconds, the logger without the package's name, and a
record longer than the terminal wrapped at spaces onto indented lines, so every line at the
margin is still a record's first.  Anywhere else (a file, a pipe, the journal) a record is
one line, as log readers expect.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

from reconciler.controls import dumps
from reconciler.lastresort import CONTINUED, TextFormatter, guard_last_resort
from reconciler.terminal import terminal_columns

TYPE_CHECKING = False  # (not typing's) the settings are only named here: `reconciler.cli`
if TYPE_CHECKING:  # imports this module for every command, before it needs any settings
    from reconciler.settings import LoggingSettings

__all__ = ["configure_logging", "guard_last_resort", "mask_address"]

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_PACKAGE = "reconciler."


class _TerminalFormatter(TextFormatter):
    """`TextFormatter` for a person at a terminal `width` columns wide (see the module)."""

    def __init__(self, width: int) -> None:
        super().__init__(_TEXT_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
        self.width = max(width, 40)

    def format(self, record: logging.LogRecord) -> str:
        name = record.name
        if name.startswith(_PACKAGE):
            record.name = name[len(_PACKAGE) :]
        try:
            text = super().format(record)
        finally:
            record.name = name
        return CONTINUED.join(self._wrapped(line) for line in text.split(CONTINUED))

    def _wrapped(self, line: str) -> str:
        """One line of a record cut at spaces into lines of the width, the further ones
        indented like a record's further lines (a word longer than the width stays whole)."""
        import textwrap

        indent = CONTINUED[1:]
        if len(line) <= self.width:
            return line
        return "\n".join(
            textwrap.wrap(
                line, self.width, subsequent_indent=indent,
                break_long_words=False, break_on_hyphens=False,
            )
        )  # fmt: skip


def _terminal_width(stream: object) -> int | None:
    """The width of the terminal `stream` writes to (`terminal_columns`), None when it is
    not a terminal."""
    try:
        if not stream.isatty():  # type: ignore[attr-defined]
            return None
    except (AttributeError, ValueError, OSError):
        return None
    return terminal_columns(stream)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return dumps(out)


def configure_logging(settings: LoggingSettings) -> None:
    """Configure the root logger once, on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    width = _terminal_width(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(_JsonFormatter())
    elif width is not None:
        handler.setFormatter(_TerminalFormatter(width))
    else:
        handler.setFormatter(TextFormatter(_TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # At DEBUG these libraries log SQL parameters and whole message bodies (addresses)
    for chatty in ("peewee", "imapclient"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.INFO))


def mask_address(address: str | None, allowed: bool) -> str:
    """The address itself when the operator allows it, else `***@domain`."""
    if not address:
        return "-"
    if allowed:
        return address
    return "***@" + (address.rpartition("@")[2] or "?")

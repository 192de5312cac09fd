"""Logging set-up: human-readable lines by default, JSON lines on request.

Secrets never reach a log line: settings objects hide them in their repr, and the log calls
pass only counts, ids and reasons.  Addresses are logged at INFO only when the configuration
allows it (`logging.log_addresses`); `mask_address` is the helper for that.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from reconciler.config import LoggingSettings

__all__ = ["configure_logging", "mask_address"]

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
        return json.dumps(out, ensure_ascii=False)


def configure_logging(settings: LoggingSettings) -> None:
    """Configure the root logger once, on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
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

"""The returned original message: its headers as an OriginalMessage record."""

from __future__ import annotations

from email.message import Message

from reconciler.dsn.mime import Limits, Part, children, decoded, headers, part_text
from reconciler.records import OriginalMessage

__all__ = ["from_headers", "from_parts", "from_text"]

_NAMES = ("message-id", "return-path", "sender", "from", "to", "subject", "date")
_ATTACHED = ("message/rfc822", "message/global")
_HEADERS_ONLY = ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header")


def _record(fields: dict[str, str]) -> OriginalMessage | None:
    record = OriginalMessage(*(decoded(fields.get(name)) for name in _NAMES))
    return None if record == OriginalMessage() else record


def from_headers(message: Message) -> OriginalMessage | None:
    """The identifying headers of an original; None when it has none of them."""
    return _record(headers(message))


def from_text(text: str) -> OriginalMessage | None:
    """Read the header block at the start of `text` (an inline or headers-only original)."""
    head = text.lstrip("\n")[:65536].split("\n\n", 1)[0]
    fields: dict[str, str] = {}
    name = ""
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        name = key.strip().lower() if sep and " " not in key.strip() else ""
        if name and name not in fields:
            fields[name] = value.strip()
        elif name:
            name = ""  # a repeated header: keep the first, skip its continuation lines
    return _record(fields)


def from_parts(parts: list[Part], limits: Limits) -> OriginalMessage | None:
    """The first attached original (message/rfc822 or text/rfc822-headers) that has headers."""
    for part in parts:
        if part.in_original:
            continue
        if part.content_type in _ATTACHED:
            inner = children(part.message)
            if inner:
                found = from_headers(inner[0])
                if found is not None:
                    return found
        elif part.content_type in _HEADERS_ONLY:
            found = from_text(part_text(part.message, limits))
            if found is not None:
                return found
    return None

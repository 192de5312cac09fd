"""The returned original message: its headers as an OriginalMessage record."""

from __future__ import annotations

import re

from reconciler.parse.entity import Entity
from reconciler.parse.mime import MAX_VALUE, Limits, Part, decoded, part_text
from reconciler.records import OriginalMessage

__all__ = ["from_headers", "from_parts", "from_text"]

# A field line (not indented) with its continuation lines; other lines are skipped.
_FIELD_RE = re.compile(r"^([^:\n \t][^:\n]*):(.*(?:\n[ \t].*)*)", re.MULTILINE)
_NAMES = ("message-id", "return-path", "sender", "from", "to", "subject", "date")
_ATTACHED = ("message/rfc822", "message/global")
_HEADERS_ONLY = ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header")


def _record(fields: dict[str, str]) -> OriginalMessage | None:
    values = [decoded(_value(fields.get(name))) for name in _NAMES]
    return None if all(value is None for value in values) else OriginalMessage(*values)


def _value(value: str | None) -> str | None:
    return None if value is None else value[:MAX_VALUE]


def from_headers(entity: Entity) -> OriginalMessage | None:
    """The identifying headers of an original; None when it has none of them."""
    return _record(entity.first)


def from_text(text: str) -> OriginalMessage | None:
    """Read the header block at the start of `text` (an inline or headers-only original)."""
    head = text.lstrip("\n")[:65536].split("\n\n", 1)[0]
    fields: dict[str, str] = {}
    for found in _FIELD_RE.finditer(head):
        name = found.group(1).strip().lower()
        if name in _NAMES and name not in fields:  # a repeated header: the first counts
            lines = found.group(2).split("\n")
            fields[name] = (
                " ".join(line.strip() for line in lines) if len(lines) > 1 else lines[0].strip()
            )
    return _record(fields)


def from_parts(parts: list[Part], limits: Limits) -> OriginalMessage | None:
    """The first attached original (message/rfc822 or text/rfc822-headers) that has headers."""
    for part in parts:
        if part.in_original:
            continue
        if part.content_type in _ATTACHED:
            inner = part.entity.parts
            if inner:
                found = from_headers(inner[0])
                if found is not None:
                    return found
        elif part.content_type in _HEADERS_ONLY:
            found = from_text(part_text(part.entity, limits))
            if found is not None:
                return found
    return None

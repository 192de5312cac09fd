"""The returned original message: its headers as an OriginalMessage record."""

from __future__ import annotations

from typing import Final

from reconciler.parse.entity import Entity
from reconciler.parse.mime import MAX_VALUE, Limits, Part, decoded, part_text
from reconciler.records import OriginalMessage

__all__ = ["from_headers", "from_parts", "from_text"]

_NAMES: Final = ("message-id", "return-path", "sender", "from", "to", "subject", "date")
_LONGEST: Final = max(len(name) for name in _NAMES)
_MAX_HEAD: Final = 65536  # characters of a text read as a header block
_ATTACHED: Final = ("message/rfc822", "message/global")
_HEADERS_ONLY: Final = ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header")


def _record(fields: dict[str, str]) -> OriginalMessage | None:
    values = [decoded(_value(fields.get(name))) for name in _NAMES]
    return None if all(value is None for value in values) else OriginalMessage(*values)


def _value(value: str | None) -> str | None:
    return None if value is None else value[:MAX_VALUE]


def from_headers(entity: Entity) -> OriginalMessage | None:
    """The identifying headers of an original; None when it has none of them."""
    return _record(entity.first)


def from_text(text: str) -> OriginalMessage | None:
    """Read the header block at the start of `text` (an inline or headers-only original).

    A field is a line that starts with neither white space nor a colon and holds a colon,
    with the indented lines after it; other lines are skipped (read with string methods: what
    the regex `^([^:\n \t][^:\n]*):(.*(?:\n[ \t].*)*)` finds, at a fraction of the cost).
    The lines are read in place (offsets into the text: only the lines of a wanted field are
    copied), and a name longer than any wanted one (with no white space around it to strip)
    is skipped before it is copied.
    """
    start = 0
    while text.startswith("\n", start):
        start += 1
    stop = text.find("\n\n", start, start + _MAX_HEAD)
    end = stop if stop >= 0 else min(len(text), start + _MAX_HEAD)
    fields: dict[str, str] = {}
    name = ""  # the wanted field being read ("" when none), its value and continuations
    value: list[str] = []
    while True:  # each line of the block: [start, eol)
        eol = text.find("\n", start, end)
        if eol < 0:
            eol = end
        if start < eol and _blank(ord(text[start])):
            if name:
                value.append(text[start:eol].strip())
        else:
            if name:  # the field ends at a line that does not continue it
                fields[name] = " ".join(value) if len(value) > 1 else value[0]
            name = _wanted(text, start, eol, fields)
            if name:
                value = [text[text.find(":", start, eol) + 1 : eol].strip()]
        if eol >= end:
            break
        start = eol + 1
    if name:
        fields[name] = " ".join(value) if len(value) > 1 else value[0]
    return _record(fields)


def _blank(char: int) -> bool:
    """A space or a tab (by code point: `ord(text[i])` is read in place by the compiled
    build, where `text[i] in " \t"` makes a one-character string and a substring test)."""
    return char == 32 or char == 9  # noqa: PLR1714 (compiled: two integer compares)


def _wanted(text: str, start: int, end: int, fields: dict[str, str]) -> str:
    """The lower-cased name of the field the line `text[start:end]` starts, if it is one of
    `_NAMES` not read yet (a repeated header: the first counts), else ""."""
    if start >= end or ord(text[start]) == 58:  # ":" (read in place by the compiled build)
        return ""
    colon = text.find(":", start, end)
    if colon < 0:
        return ""
    if colon - start > _LONGEST and not (text[start].isspace() or text[colon - 1].isspace()):
        return ""  # (lower-casing never makes a name shorter)
    name = text[start:colon].strip().lower()
    return name if name in _NAMES and name not in fields else ""


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

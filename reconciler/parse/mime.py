"""Bounded MIME loading: bytes → Entity tree, a flat list of parts, decoded text.

Every limit that is hit is reported as a note instead of an exception, so that a huge, deeply
nested or broken message still gives a (partial) result in bounded time.
"""

from __future__ import annotations

import re
from typing import Final

from reconciler.parse.encodedwords import decode_words
from reconciler.parse.entity import Entity, parse_entity

__all__ = [
    "MAX_VALUE",
    "Limits",
    "Part",
    "cap_parts",
    "decoded",
    "header_text",
    "headers",
    "load",
    "part_text",
    "walk",
]

# Module constants are Final here and in the other compiled parse modules: the compiled build
# reads a Final name as a C static, any other as a lookup in the module's dict at each use.
# Longest header line (top level) and header or field value the parsers look at.
MAX_VALUE: Final = 16384
_CONTENT_TYPE_RE: Final = re.compile(rb"(?im)^content-type:")


class Limits:
    """Bounds on the work done for one message (a plain class, as `Part` below: no dataclass,
    and with it no `dataclasses` module, is defined when a command classifies)."""

    __slots__ = ("max_bytes", "max_depth", "max_headers", "max_parts", "max_text")

    def __init__(
        self,
        max_bytes: int = 4 * 1024 * 1024,  # the rest of a bigger message is ignored
        max_parts: int = 256,  # MIME entities the splitter makes; Content-Type headers flufl parses
        max_depth: int = 24,  # nesting of multiparts and attached messages
        max_headers: int = 2000,  # header lines of the top-level header block
        max_text: int = 256 * 1024,  # characters of one text part that are scanned
    ) -> None:
        self.max_bytes: Final = max_bytes
        self.max_parts: Final = max_parts
        self.max_depth: Final = max_depth
        self.max_headers: Final = max_headers
        self.max_text: Final = max_text


# Not a dataclass: the parser's own objects are plain classes with read-only (Final)
# attributes, which the compiled build constructs natively; a dataclass's __init__ runs as
# Python there (frozen: one object.__setattr__ per field), some 10x the cost.
class Part:
    """One leaf or container of the MIME tree, flattened in document order."""

    __slots__ = ("content_type", "depth", "entity", "in_original", "returned")

    def __init__(
        self,
        entity: Entity,
        depth: int,
        in_original: bool,
        content_type: str,
        returned: bool = False,
    ) -> None:
        self.entity: Final = entity
        self.depth: Final = depth
        self.in_original: Final = in_original  # inside an attached message/rfc822 (the original)
        self.content_type: Final = content_type
        # not the failure report: inside the returned original, or the returned content of a
        # multipart/report (its parts after the human-readable notice and the status, RFC
        # 6522), or a part attached as a file
        self.returned: Final = returned


def _cap_headers(data: bytes, limits: Limits, notes: list[str]) -> tuple[bytes, int]:
    """At most max_headers header lines of at most MAX_VALUE bytes each (top level); and
    where the header block ends (data.find(b"\n\n") of the bytes returned)."""
    end = data.find(b"\n\n")
    head_end = end if end >= 0 else len(data)
    # (no count for a header too short to hold that many line feeds: two line feeds in a row
    # end it, so each one but the first comes after a byte of text; without a blank line the
    # last byte may be one too: n of them in 2n - 1 bytes)
    many = (
        head_end >= 2 * limits.max_headers - 1
        and data.count(b"\n", 0, head_end) >= limits.max_headers
    )
    if not many and head_end <= MAX_VALUE:
        return data, end
    lines = data[:head_end].split(b"\n")
    if many:
        notes.append(f"limit: {len(lines)} header lines, kept the first {limits.max_headers}")
        lines = lines[: limits.max_headers]
    if any(len(line) > MAX_VALUE for line in lines):
        notes.append(f"limit: header lines longer than {MAX_VALUE} bytes cut")
        lines = [line[:MAX_VALUE] for line in lines]
    data = b"\n".join(lines) + data[head_end:]
    return data, data.find(b"\n\n")


def cap_parts(data: bytes, limits: Limits, notes: list[str]) -> bytes:
    """At most max_parts Content-Type headers, for the stdlib parser of the flufl fallback
    (the splitter has its own budget of entities)."""
    if data.lower().count(b"content-type:") <= limits.max_parts:
        return data
    for count, found in enumerate(_CONTENT_TYPE_RE.finditer(data), 1):
        if count > limits.max_parts:
            notes.append(f"limit: more than {limits.max_parts} MIME parts, rest ignored")
            return data[: found.start()]
    return data


def load(data: bytes, limits: Limits) -> tuple[Entity, list[str], bytes]:
    """Normalise line endings, apply the limits and split the MIME tree.

    Returns the tree, the notes and the bytes it was split from (for the flufl fallback).
    """
    notes: list[str] = []
    if len(data) > limits.max_bytes:
        notes.append(f"limit: message of {len(data)} bytes cut to {limits.max_bytes}")
        data = data[: limits.max_bytes]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data, blank = _cap_headers(data, limits, notes)
    return parse_entity(data, limits.max_depth, limits.max_parts, notes, blank), notes, data


def walk(root: Entity) -> list[Part]:
    """All entities in document order, without recursion."""
    out: list[Part] = []
    stack: list[tuple[Entity, int, bool, bool]] = [(root, 0, False, False)]
    while stack:
        entity, depth, in_original, returned = stack.pop()
        ctype = entity.content_type
        returned = returned or in_original or _attached(entity)
        out.append(Part(entity, depth, in_original, ctype, returned))
        if not entity.parts:
            continue
        inner = in_original or ctype in ("message/rfc822", "message/global")
        if ctype == "multipart/report":  # its parts after the notice and the status: returned
            stack.extend(
                (child, depth + 1, inner, returned or index >= 2)
                for index, child in reversed(list(enumerate(entity.parts)))
            )
        else:
            stack.extend((child, depth + 1, inner, returned) for child in reversed(entity.parts))
    return out


def _attached(entity: Entity) -> bool:
    """A part sent as a file (Content-Disposition: attachment with a file name)."""
    disposition = entity.first.get("content-disposition")
    if disposition is None:
        return False
    low = disposition.lower()
    return low.lstrip().startswith("attachment") and "filename" in low


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def part_text(entity: Entity, limits: Limits) -> str:
    """The decoded text of a leaf part (transfer encoding and charset), at most max_text chars."""
    raw = entity.payload()
    if not raw:
        return ""
    charset = entity.param("charset")
    # a charset name that is not ASCII is no charset (as compat32's get_content_charset)
    charset = charset.strip().lower() if charset and charset.isascii() else None
    if not charset and not raw.isascii():
        charset = "utf-8"
    return _decode(raw[: limits.max_text * 4], charset)[: limits.max_text]


def headers(entity: Entity) -> dict[str, str]:
    """The first value of every header, by lower-case name, cut at MAX_VALUE characters
    (one pass instead of many gets): the entity's own dict when no value is that long, which
    is most messages (the callers only read it)."""
    first = entity.first
    for value in first.values():
        if len(value) > MAX_VALUE:
            return {name: text[:MAX_VALUE] for name, text in first.items()}
    return first


def decoded(value: str | None) -> str | None:
    """A header value with RFC 2047 words decoded, stray 8-bit bytes made readable, unfolded."""
    if value is None:
        return None
    if not value.isascii() or "=?" in value:
        value = decode_words(value)
    return " ".join(value.split())


def header_text(entity: Entity, name: str) -> str | None:
    """One decoded header value of `entity` (see `decoded`)."""
    value = entity.get(name)
    return None if value is None else decoded(value[:MAX_VALUE])

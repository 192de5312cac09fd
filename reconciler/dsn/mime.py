"""Bounded MIME loading: bytes → compat32 Message, a flat list of parts, decoded text.

Every limit that is hit is reported as a note instead of an exception, so that a huge, deeply
nested or broken message still gives a (partial) result in bounded time.
"""

from __future__ import annotations

import email
import email.errors
import re
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.message import Message

__all__ = [
    "MAX_VALUE",
    "Limits",
    "Part",
    "children",
    "decoded",
    "header_text",
    "headers",
    "load",
    "part_bytes",
    "part_text",
    "skip_original_body",
    "walk",
]

# Longest header line (top level) and header or field value the parsers look at.
MAX_VALUE = 16384
_CONTENT_TYPE_RE = re.compile(rb"(?im)^content-type:")
_ATTACHED_RE = re.compile(rb"content-type:[ \t]*message/(?:rfc822|global)\b")
_REPORT_RE = re.compile(rb"(?i)multipart/report|delivery-status")
_HEADER_END_RE = re.compile(rb"\n\n")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on the work done for one message."""

    max_bytes: int = 4 * 1024 * 1024  # the rest of a bigger message is ignored
    max_parts: int = 256  # MIME parts (counted as Content-Type headers)
    max_depth: int = 24  # nesting of multiparts and attached messages
    max_headers: int = 2000  # header lines of the top-level header block
    max_text: int = 256 * 1024  # characters of one text part that are scanned


@dataclass(frozen=True, slots=True)
class Part:
    """One leaf or container of the MIME tree, flattened in document order."""

    message: Message
    depth: int
    in_original: bool  # inside an attached message/rfc822 (the returned original)
    content_type: str


def _cap_headers(data: bytes, limits: Limits, notes: list[str]) -> bytes:
    """At most max_headers header lines of at most MAX_VALUE bytes each (top level)."""
    end = _HEADER_END_RE.search(data)
    head_end = end.start() if end else len(data)
    many = data.count(b"\n", 0, head_end) >= limits.max_headers
    if not many and head_end <= MAX_VALUE:
        return data
    lines = data[:head_end].split(b"\n")
    if many:
        notes.append(f"limit: {len(lines)} header lines, kept the first {limits.max_headers}")
        lines = lines[: limits.max_headers]
    if any(len(line) > MAX_VALUE for line in lines):
        notes.append(f"limit: header lines longer than {MAX_VALUE} bytes cut")
        lines = [line[:MAX_VALUE] for line in lines]
    return b"\n".join(lines) + data[head_end:]


def _cap_parts(data: bytes, limits: Limits, notes: list[str]) -> bytes:
    if data.lower().count(b"content-type:") <= limits.max_parts:
        return data
    for count, found in enumerate(_CONTENT_TYPE_RE.finditer(data), 1):
        if count > limits.max_parts:
            notes.append(f"limit: more than {limits.max_parts} MIME parts, rest ignored")
            return data[: found.start()]
    return data


def _attached_headers(low: bytes) -> list[re.Match[bytes]]:
    """The "Content-Type: message/rfc822" header lines (lower-cased data), in order."""
    found: list[re.Match[bytes]] = []
    for needle in (b"message/rfc822", b"message/global"):
        at = low.find(needle)
        while at >= 0 and len(found) < 8:
            match = _ATTACHED_RE.match(low, low.rfind(b"\n", 0, at) + 1)
            if match is not None:
                found.append(match)
            at = low.find(needle, at + 1)
    return sorted(found, key=lambda match: match.start())


def _cut_body(data: bytes, found: re.Match[bytes]) -> bytes | None:
    start = data.rfind(b"\n--", 0, found.start())
    part_head_end = data.find(b"\n\n", found.end())
    inner_head_end = data.find(b"\n\n", part_head_end + 2) if part_head_end >= 0 else -1
    if start < 0 or inner_head_end < 0 or data.find(b"\n\n", start, found.start()) >= 0:
        return None  # not in the header block right after a boundary line
    if _REPORT_RE.search(data, part_head_end, inner_head_end):
        return None  # a forwarded bounce: its body is the report
    delimiter = data[start : data.find(b"\n", start + 1)].rstrip()
    resume = data.find(delimiter, inner_head_end)
    if len(delimiter) < 4 or resume < 0:
        return None
    return data[: inner_head_end + 2] + data[resume + 1 :]


def skip_original_body(data: bytes) -> bytes:
    """Drop the body of the first attached original up to the next boundary of its container.

    Only the original's headers are read, and its body (our own newsletter, often large) is
    most of the parsing time.  A forwarded bounce (the original is itself a report) is kept,
    and so is anything whose layout is not the plain "--boundary / headers / headers / body".
    """
    for found in _attached_headers(data.lower()):
        cut = _cut_body(data, found)
        if cut is not None:
            return cut
    return data


def load(data: bytes, limits: Limits) -> tuple[Message, list[str]]:
    """Normalise line endings, apply the size limits and parse with the compat32 policy."""
    notes: list[str] = []
    if len(data) > limits.max_bytes:
        notes.append(f"limit: message of {len(data)} bytes cut to {limits.max_bytes}")
        data = data[: limits.max_bytes]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data = _cap_parts(_cap_headers(data, limits, notes), limits, notes)
    data = skip_original_body(data)
    return email.message_from_bytes(data, policy=policy.compat32), notes


def walk(root: Message, limits: Limits, notes: list[str]) -> list[Part]:
    """All parts in document order, without recursion, at most `limits.max_depth` deep."""
    out: list[Part] = []
    stack: list[tuple[Message, int, bool]] = [(root, 0, False)]
    while stack:
        message, depth, in_original = stack.pop()
        ctype = message.get_content_type()
        out.append(Part(message, depth, in_original, ctype))
        if not message.is_multipart() or ctype == "message/delivery-status":
            continue
        if depth >= limits.max_depth:
            notes.append(f"limit: MIME nesting deeper than {limits.max_depth} ignored")
            continue
        inner = in_original or ctype in ("message/rfc822", "message/global")
        stack.extend((child, depth + 1, inner) for child in reversed(children(message)))
    return out


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def children(message: Message) -> list[Message]:
    """The sub-parts of a container (never calls get_payload() on a leaf, which can raise)."""
    if not message.is_multipart():
        return []
    return [child for child in message.get_payload() if isinstance(child, Message)]


def part_bytes(part: Message) -> bytes:
    """The payload of a leaf with its transfer encoding undone; b"" for a container."""
    raw = None if part.is_multipart() else part.get_payload(decode=True)
    return raw if isinstance(raw, bytes) else b""


def part_text(part: Message, limits: Limits) -> str:
    """The decoded text of a leaf part (transfer encoding and charset), at most max_text chars."""
    raw = part_bytes(part)
    if not raw:
        return ""
    charset = part.get_content_charset()
    if charset is None and not raw.isascii():
        charset = "utf-8"
    return _decode(raw[: limits.max_text * 4], charset)[: limits.max_text]


def headers(message: Message) -> dict[str, str]:
    """The first value of every header, by lower-case name (one pass instead of many gets)."""
    out: dict[str, str] = {}
    for name, value in message.raw_items():
        out.setdefault(name.lower(), str(value)[:MAX_VALUE])
    return out


def decoded(value: str | None) -> str | None:
    """A header value with RFC 2047 words decoded, stray 8-bit bytes made readable, unfolded."""
    if value is None:
        return None
    if max(value, default=" ") >= "\udc80" or "=?" in value:
        value = _decode_words(value)
    return " ".join(value.split())


def header_text(message: Message, name: str) -> str | None:
    """One decoded header value of `message` (see `decoded`)."""
    value = message.get(name)
    return None if value is None else decoded(str(value))


def _decode_words(text: str) -> str:
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = text.encode("ascii", "surrogateescape").decode("utf-8", errors="replace")
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeError, email.errors.MessageError):
        return text

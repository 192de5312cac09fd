"""Bounded MIME loading: bytes → Entity tree, a flat list of parts, decoded text.

Every limit that is hit is reported as a note instead of an exception, so that a huge, deeply
nested or broken message still gives a (partial) result in bounded time.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from typing import Final

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
# The lone surrogates that surrogateescape makes of 8-bit bytes (chr: mypyc refuses them as
# string literals).
_ESCAPED_MIN: Final = chr(0xDC80)
_ESCAPED_MAX: Final = chr(0xDCFF)
# One of them (a regex: a character loop in compiled code compares each as a Python object)
_ESCAPED_RE: Final = re.compile(f"[{_ESCAPED_MIN}-{_ESCAPED_MAX}]")


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
    # end it, so each one but the first comes after a byte of text)
    many = (
        head_end >= 2 * limits.max_headers and data.count(b"\n", 0, head_end) >= limits.max_headers
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
        value = _decode_words(value)
    return " ".join(value.split())


def header_text(entity: Entity, name: str) -> str | None:
    """One decoded header value of `entity` (see `decoded`)."""
    value = entity.get(name)
    return None if value is None else decoded(value[:MAX_VALUE])


def _decode_words(text: str) -> str:
    if _ESCAPED_RE.search(text) is not None:
        text = text.encode("ascii", "surrogateescape").decode("utf-8", errors="replace")
    if "=?" not in text:
        return text
    words = _WORDS.get("decode")
    if words is None:
        words = _WORDS["decode"] = _word_decoder()
    return words(text)


# The RFC 2047 decoder, made by the first encoded word and kept (a function-level import runs
# the import machinery at every call: some 1 % of a corpus pass).
_WORDS: Final[dict[str, Callable[[str], str]]] = {}
# An encoded word (email.header's own pattern): charset, encoding, encoded text.
_ENCODED_WORD_RE: Final = re.compile(r"=\?([^?]*?)\?([qQbB])\?(.*?)\?=")
_QUOTED_RE: Final = re.compile(r"=[a-fA-F0-9]{2}", re.ASCII)
# A charset name as email.charset reads it: (name after aliases, input codec, output codec).
_CHARSETS: Final[dict[str, tuple[str, str | None, str | None]]] = {}
_MAX_CHARSETS: Final = 64
_UNKNOWN_8BIT: Final = "unknown-8bit"


def _word_decoder() -> Callable[[str], str]:
    # imported by the first encoded word (email.header imports the charset and codec modules:
    # some 4 ms of a process that never meets one)
    from email.errors import MessageError
    from email.header import decode_header, make_header

    def decode(text: str) -> str:
        """str(make_header(decode_header(text))), or `text` when that raises."""
        try:
            if _ENCODED_WORD_RE.search(text) is None:
                return text
            runs = _runs(text)
            if runs is None:  # no word left whole by the split into lines
                return str(make_header(decode_header(text)))
            return _header_str(runs)
        except (LookupError, ValueError, UnicodeError, MessageError):
            return text

    return decode


def _runs(text: str) -> list[tuple[bytes, str | None]] | None:
    """What email.header.decode_header gives for a text with an encoded word: the decoded
    runs, each with its charset (None: not encoded); None when no word is left after the
    split into lines.  (The library's steps, without its per-word Python objects: the
    library runs some ten times the instructions.)"""
    words: list[tuple[str, str | None, str | None]] = []
    for line in text.splitlines():
        # parts: the text before the first word, then charset, encoding, encoded and the
        # text after it for each word
        parts = _ENCODED_WORD_RE.split(line)
        first = parts[0].lstrip()
        if first:
            words.append((first, None, None))
        for index in range(1, len(parts), 4):
            words.append((parts[index + 2], parts[index + 1].lower(), parts[index].lower()))
            if parts[index + 3]:
                words.append((parts[index + 3], None, None))
    if not words:
        return None
    # white space between two encoded words is dropped
    drop = {
        n - 1
        for n in range(2, len(words))
        if words[n][1] and words[n - 2][1] and words[n - 1][0].isspace()
    }
    runs: list[tuple[bytes, str | None]] = []
    for index, (encoded, encoding, charset) in enumerate(words):
        if index in drop:
            continue
        word = _word_bytes(encoded, encoding)
        if runs and runs[-1][1] == charset:
            last = runs[-1][0]
            runs[-1] = (last + b" " + word if charset is None else last + word, charset)
        else:
            runs.append((word, charset))
    return runs


def _word_bytes(encoded: str, encoding: str | None) -> bytes:
    if encoding == "b":
        missing = len(encoded) % 4
        padded = encoded + "==="[: 4 - missing] if missing else encoded
        return binascii.a2b_base64(_raw_bytes(padded))
    if encoding == "q":
        encoded = encoded.replace("_", " ")
        if "=" in encoded:
            encoded = _QUOTED_RE.sub(_unquote, encoded)
    return _raw_bytes(encoded)


def _raw_bytes(text: str) -> bytes:
    """text.encode("raw-unicode-escape"), as the library makes bytes of a word; for ASCII
    text the same bytes as the ASCII codec gives, which the compiled build calls directly."""
    return text.encode("ascii") if text.isascii() else text.encode("raw-unicode-escape")


def _unquote(found: re.Match[str]) -> str:
    return chr(int(found.group()[1:], 16))


def _charset(name: str) -> tuple[str, str | None, str | None]:
    known = _CHARSETS.get(name)
    if known is None:
        from email.charset import Charset  # (imported before: email.header imports it)

        charset = Charset(name)
        known = (charset.input_charset, charset.input_codec, charset.output_codec)
        if len(_CHARSETS) < _MAX_CHARSETS:  # bounded: hostile input names endless charsets
            _CHARSETS[name] = known
    return known


def _header_str(runs: list[tuple[bytes, str | None]]) -> str:
    """str(make_header(runs)): each run decoded by its charset, the runs of one charset
    joined by a space, and a space between encoded and plain text unless one is there."""
    chunks: list[tuple[str, str]] = []
    for raw, charset in runs:
        name, input_codec, output_codec = _charset("us-ascii" if charset is None else charset)
        codec = input_codec or "us-ascii"
        if codec == _UNKNOWN_8BIT:
            text = raw.decode("us-ascii", "surrogateescape")
        else:
            text = raw.decode(codec)
        output = output_codec or "us-ascii"
        if output != _UNKNOWN_8BIT:
            try:
                text.encode(output)
            except UnicodeEncodeError:
                if output != "us-ascii":
                    raise
                name = "utf-8"
        if chunks and chunks[-1][1] == name:
            chunks[-1] = (chunks[-1][0] + " " + text, name)
        else:
            chunks.append((text, name))
    return _spaced(chunks)


def _spaced(chunks: list[tuple[str, str]]) -> str:
    out: list[str] = []
    last: str | None = None
    last_space = False
    for chunk, name in chunks:
        next_name: str | None = name
        text = chunk
        if name == _UNKNOWN_8BIT:
            text = chunk.encode("ascii", "surrogateescape").decode("ascii", "replace")
        if out:
            space = bool(text) and _nonctext(text[0])
            if last not in (None, "us-ascii"):
                if next_name in (None, "us-ascii") and not space:
                    out.append(" ")
                    next_name = None
            elif next_name not in (None, "us-ascii") and not last_space:
                out.append(" ")
        last_space = bool(text) and _nonctext(text[-1])
        last = next_name
        out.append(text)
    return "".join(out)


def _nonctext(char: str) -> bool:
    return char.isspace() or char in ("(", ")", "\\")

"""A bytes-level MIME splitter: header blocks parsed, bodies kept as byte slices.

The stdlib feed parser reads every line of every body, the returned original included, which
was most of the parsing time.  Here a multipart body is cut at its boundary lines found with
bytes.find, header blocks are parsed with two regex passes (line by line when malformed), and
a leaf body is only decoded when a detector asks for its text.  The layout rules follow the
compat32 feed parser: a header block ends at the first line that is neither a field nor a
continuation, a part ends at the next delimiter line of its container, the line break before a
delimiter belongs to the delimiter, and a multipart whose boundary never occurs stays one leaf.
Unlike it, message/delivery-status and the other message/* types but rfc822 and global are
leaves (their fields are read from the text, see rfc3464.fields_from_text).

Input is already normalised to LF line endings (see `mime.load`).
"""

from __future__ import annotations

import binascii
import re
from typing import Final

__all__ = ["Entity", "field_key", "parse_entity"]

# A field line, a continuation line or a unix "From " line (compat32's headerRE).
_HEADER_LINE_RE: Final = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")
# The two Content-Type parameters that are read: name=value, value quoted or not (the quoted
# string's loop unrolled: runs of plain characters, not one alternation per character).
_PARAM_RES: Final = {
    name: re.compile(rf';\s*{name}\*?\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"?|[^;]*)', re.IGNORECASE)
    for name in ("boundary", "charset")
}
_ESCAPE_RE: Final = re.compile(r"\\(.)")
_NOT_BASE64_RE: Final = re.compile(rb"[^A-Za-z0-9+/]")
_ATTACHED: Final = ("message/rfc822", "message/global")
# Lines that start like a delimiter looked at per multipart, and lines read of one header
# block (bound the work on hostile input; the top-level header is cut earlier, see mime.load).
_MAX_CANDIDATES: Final = 10_000
_MAX_FIELD_LINES: Final = 5_000
# Field names already checked, and their lower-case form (see _field_name), at most this many.
_NAMES: Final[dict[str, str]] = {}
_MAX_NAMES: Final = 4096
_UNSEEN: Final = -2  # a position not looked for


class _Line:
    """A delimiter line (a plain class: see Entity)."""

    __slots__ = ("close", "end", "start")

    def __init__(self, start: int, end: int, close: bool) -> None:
        self.start: Final = start
        self.end: Final = end  # at the line feed (or the end of the data)
        self.close: Final = close


# A plain class, not a dataclass: constructed natively by the compiled build (see mime.Part).
class Entity:
    """One MIME entity: its header fields in order, and its body or its sub-entities."""

    __slots__ = ("body", "content_type", "first", "items", "multipart", "parts")

    def __init__(
        self,
        items: list[tuple[str, str]],
        content_type: str,
        first: dict[str, str],
    ) -> None:
        # (name as written, raw value); 8-bit bytes surrogate-escaped
        self.items: Final = items
        self.body = b""  # the body of a leaf (transfer-encoded); b"" for a container
        self.content_type: Final = content_type
        self.parts: list[Entity] = []
        # a container (multipart/* split at its boundary, message/rfc822)
        self.multipart = False
        self.first: Final = first  # first value by lower-case name

    def get(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        return self.first.get(name.lower())

    def param(self, name: str) -> str | None:
        """The "boundary" or "charset" parameter of the Content-Type header, or None."""
        value = self.first.get("content-type")
        if not value:
            return None
        if value.isascii():
            found = _param_text(value, name)
        else:  # (lower() may change the length of other text: the regex, case-insensitive)
            match = _PARAM_RES[name].search(value)
            found = None if match is None else match.group(1)
        if found is None:
            return None
        text = found.strip()
        if text.startswith('"'):
            text = text[1:-1] if len(text) > 1 and text.endswith('"') else text[1:]
            text = _ESCAPE_RE.sub(r"\1", text) if "\\" in text else text
        return text

    def payload(self) -> bytes:
        """The body of a leaf with its transfer encoding undone; b"" for a container."""
        if self.multipart or not self.body:
            return b""
        cte = (self.first.get("content-transfer-encoding") or "").strip().lower()
        if cte == "base64":
            return _base64(self.body)
        if cte == "quoted-printable":
            return binascii.a2b_qp(self.body)
        return self.body


def _param_text(value: str, name: str) -> str | None:
    """What _PARAM_RES[name] finds in an ASCII `value` (its group), read with string methods
    in the lower-cased text (same length, same places): the regex engine tries the pattern
    at every character, some ten times the instructions."""
    low = value.lower()
    size = len(low)
    at = low.find(";")
    while at >= 0:
        pos = _after_space(low, at + 1)
        if low.find(name, pos, pos + len(name)) == pos:  # (a method call with a start)
            pos += len(name)
            pos = _after_space(low, pos + 1 if pos < size and low[pos] == "*" else pos)
            if pos < size and low[pos] == "=":
                pos = _after_space(low, pos + 1)
                return value[pos : _value_end(value, pos)]
        at = low.find(";", at + 1)
    return None


def _after_space(text: str, pos: int) -> int:
    """The first position from `pos` on that is not white space (as the regex's \\s)."""
    size = len(text)
    while pos < size and text[pos].isspace():
        pos += 1
    return pos


def _value_end(text: str, pos: int) -> int:
    """The end of a parameter value at `pos`: a quoted string (its backslash escapes, the
    closing quote if there is one; an escape of a line feed ends it) or up to a semicolon."""
    size = len(text)
    if pos >= size or text[pos] != '"':
        end = text.find(";", pos)
        return size if end < 0 else end
    close = text.find('"', pos + 1)
    pos = text.find("\\", pos + 1, size if close < 0 else close)
    if pos < 0:  # no escape: up to the closing quote (the whole text when none)
        return size if close < 0 else close + 1
    while pos < size:
        char = text[pos]
        if char == '"':
            return pos + 1
        if char == "\\":
            if pos + 1 >= size or text[pos + 1] == "\n":
                return pos
            pos += 2
        else:
            pos += 1
    return size


def _base64(raw: bytes) -> bytes:
    try:
        return binascii.a2b_base64(raw)  # skips line breaks and other non-alphabet bytes
    except binascii.Error:
        pass  # bad padding: decode what the alphabet characters give
    data = _NOT_BASE64_RE.sub(b"", raw)
    data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return b""


def _content_type(value: str | None, default: str) -> str:
    if value is None:
        return default
    semi = value.find(";")  # (not partition: no tuple and no rest)
    ctype = (value if semi < 0 else value[:semi]).strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def _fields(lines: list[str]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    current: list[str] = []
    for line in lines:
        if line[0] in " \t":
            if current:
                current.append(line)
            continue
        if current:
            items.append(_field(current))
            current = []
        if line.startswith("From "):
            continue  # the unix envelope line, or a misplaced one
        if line[0] != ":":
            current = [line]
    if current:
        items.append(_field(current))
    return items


def _field(lines: list[str]) -> tuple[str, str]:
    name, _, value = lines[0].partition(":")
    value = value.lstrip(" \t")
    return name, "\n".join([value, *lines[1:]]) if len(lines) > 1 else value


def _field_name(name: str) -> str:
    """`name` lower-cased when it is a field name (printable ASCII but space and colon), else
    "" (the names seen are remembered: one lookup gives both the check and the key)."""
    known = _NAMES.get(name)
    if known is None:
        known = name.lower() if " " not in name and name.isascii() and name.isprintable() else ""
        if len(_NAMES) < _MAX_NAMES:  # bounded: hostile input has endless distinct names
            _NAMES[name] = known
    return known


def field_key(name: str) -> str:
    """A field name lower-cased: the key of `Entity.first` (from the names the header reader
    has checked, whose hash is already computed, when it is one of them)."""
    return _NAMES.get(name) or name.lower()


def _first(items: list[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in reversed(items)}


def _block(text: str, first: dict[str, str]) -> list[tuple[str, str]] | None:
    """The fields of a well-formed header block (`text`, each line ended by a line feed), or
    None when a line is neither a field nor the continuation of one.  The first value of
    each name goes into `first` in the same pass (keyed by the name lower-cased).

    What the regex `([\041-\071\073-\176]+):[ \t]*(.*(?:\n[ \t].*)*)\n` finds in a block
    it covers field for field (a name of printable ASCII but space and colon), read with
    string methods: some four times fewer instructions than the regex engine.  A value is
    sliced from the block whole, continuation lines and all: the lines are not split apart
    and joined again.
    """
    items: list[tuple[str, str]] = []
    size = len(text)
    pos = 0
    while pos < size:
        end = text.find("\n", pos)  # (found: the block ends with a line feed)
        colon = text.find(":", pos, end)
        if colon <= pos:
            return None  # no name: an empty line, a stray continuation, a line without colon
        name = text[pos:colon]
        key = _NAMES.get(name)
        if key is None:
            key = _field_name(name)
        if not key:
            return None  # not a field name
        # (ord of one character: read in place by the compiled build; `text[i] in " \t"`
        # makes a one-character string and a substring test of it)
        while end + 1 < size and _blank(ord(text[end + 1])):  # continuation lines
            end = text.find("\n", end + 1)
        start = colon + 1  # the value without the blanks before it (one slice, no lstrip)
        while start < end and _blank(ord(text[start])):
            start += 1
        value = text[start:end]
        items.append((name, value))
        first.setdefault(key, value)
        pos = end + 1
    return items


def _blank(char: int) -> bool:
    """A space or a tab (by code point)."""
    return char == 32 or char == 9  # noqa: PLR1714 (compiled: two integer compares)


_Head = tuple[list[tuple[str, str]], dict[str, str], int]


def _head(data: bytes, span: tuple[int, int], budget: _Budget) -> _Head:
    """The header fields at the start of data[span], their first values by lower-case name,
    and where the body begins.

    At most _MAX_FIELD_LINES lines of one header block are read; the rest is skipped.
    """
    start, end = span
    stop = budget.blank  # (the top-level header's, when the caller looked: once only)
    budget.blank = _UNSEEN
    if start < end and data[start] == 10:  # a blank line first: no fields
        return [], {}, start + 1
    if stop < -1:
        stop = data.find(b"\n\n", start, end)
    block_end = end if stop < 0 else stop + 1
    read_end = block_end
    # (a block shorter than the limit in bytes cannot have more lines: no count)
    if (
        block_end - start > _MAX_FIELD_LINES
        and data.count(b"\n", start, block_end) > _MAX_FIELD_LINES
    ):
        budget.notes.append(f"limit: header block over {_MAX_FIELD_LINES} lines cut")
        read_end = start
        for _ in range(_MAX_FIELD_LINES):
            read_end = data.find(b"\n", read_end, block_end) + 1
    text = data[start:read_end].decode("ascii", "surrogateescape")
    if not text or text.endswith("\n"):
        # well-formed fields up to the blank line: the common case, read in one pass
        first: dict[str, str] = {}
        fields = _block(text, first)
        if fields is not None:
            return fields, first, min(block_end + 1, end) if stop >= 0 else end
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for index, line in enumerate(lines):
        if not _HEADER_LINE_RE.match(line):
            # the first line that is not a header starts the body (one character per byte)
            head = _fields(lines[:index])
            return head, _first(head), start + sum(len(h) + 1 for h in lines[:index])
    head = _fields(lines)
    return head, _first(head), min(block_end + 1, end) if stop >= 0 else end


def _delimiters(data: bytes, boundary: bytes, span: tuple[int, int], limit: int) -> list[_Line]:
    """The delimiter lines of `boundary` in data[span], up to the close delimiter: at most
    `limit` of them, and at most _MAX_CANDIDATES lines that start like one are looked at.

    Found with bytes.find (a regex per boundary would be compiled once per message).
    """
    start, end = span
    marker = b"--" + boundary
    needle = b"\n" + marker
    out: list[_Line] = []
    # (a boundary may hold a line feed, quoted across a folded header line: then the marker
    # line's end is searched for from its start, as always)
    plain = b"\n" not in marker
    # (the first line compared as a slice: bytes.startswith with a start and an end is a
    # method call, some thousand instructions in the compiled build)
    first = start + len(marker) <= end and data[start : start + len(marker)] == marker
    at = start if first else _line_start(data, needle, start, end)
    for _ in range(_MAX_CANDIDATES):
        if at < 0:
            break
        after = at + len(marker)
        line_end = _line_end(data, after, end) if plain else -1
        if line_end < 0:
            line_end = data.find(b"\n", at, end)
            line_end = end if line_end < 0 else line_end
        kind = _delimiter_kind(data, after, line_end)
        if kind != _NOT_DELIMITER:
            close = kind == _CLOSE
            out.append(_Line(at, line_end, close))
            if close or len(out) >= limit:
                break  # after the close delimiter comes the epilogue
        at = _line_start(data, needle, at, end)
    return out


def _line_end(data: bytes, after: int, end: int) -> int:
    """Where a line that starts with a marker free of line feeds ends, when the marker is
    followed by the end of the data, a line feed, or "--" and one of them (the delimiter
    lines nearly every message has): told by reading those bytes in place, not by a search
    (a method call, some thousand instructions in the compiled build); else -1."""
    if after >= end or data[after] == 10:
        return after
    close = after + 2  # past b"--"
    if close <= end and data[after] == 45 and data[after + 1] == 45:
        return close if close == end or data[close] == 10 else -1
    return -1


_NOT_DELIMITER: Final = 0
_DELIMITER: Final = 1
_CLOSE: Final = 2


def _delimiter_kind(data: bytes, after: int, line_end: int) -> int:
    """What a line that starts with the marker is, by data[after:line_end] (what follows the
    marker): a delimiter (blanks only), the close delimiter ("--" and blanks) or neither.
    The two usual lines, nothing or "--" alone, are told without a slice.  A line that ends
    inside the marker (a boundary with a line feed) is a delimiter: Python's slice of it is
    empty (the compiled build's slice would raise: not made)."""
    size = line_end - after
    if size <= 0:
        return _DELIMITER
    if size == 2 and data[after] == 45 and data[after + 1] == 45:  # b"--"
        return _CLOSE
    rest = data[after:line_end]
    close = rest.startswith(b"--")
    if rest[2 if close else 0 :].strip(b" \t"):
        return _NOT_DELIMITER
    return _CLOSE if close else _DELIMITER


def _line_start(data: bytes, needle: bytes, pos: int, end: int) -> int:
    """Where the next line that starts with needle[1:] begins, after `pos`; -1 if none."""
    found = data.find(needle, pos, end)
    return found + 1 if found >= 0 else -1


class _Budget:
    __slots__ = ("blank", "max_depth", "notes", "parts_left")

    def __init__(self, max_depth: int, parts_left: int, notes: list[str], blank: int) -> None:
        self.max_depth: Final = max_depth
        self.parts_left = parts_left  # entities that may still be created (without a type too)
        self.notes: Final = notes
        # where the next header block to read ends (its b"\n\n", -1: none), when known
        self.blank = blank


def _split(entity: Entity, data: bytes, span: tuple[int, int], depth: int, budget: _Budget) -> None:
    start, end = span
    ctype = entity.content_type
    multipart = ctype.startswith("multipart/")
    if (multipart or ctype in _ATTACHED) and depth >= budget.max_depth:
        budget.notes.append(f"limit: MIME nesting deeper than {budget.max_depth} ignored")
        entity.body = data[start:end]
        return
    if ctype in _ATTACHED:
        entity.multipart = True
        entity.parts = [_entity(data, (start, end), "text/plain", depth + 1, budget)]
        return
    boundary = entity.param("boundary") if multipart else None
    # parts_left parts need parts_left + 1 delimiters; the part after the last one found runs
    # to the end of the container, unsplit
    limit = budget.parts_left + 1
    found = (
        _delimiters(data, boundary.rstrip().encode("ascii", "surrogateescape"), span, limit)
        if boundary and budget.parts_left > 0
        else []
    )
    if found and len(found) >= limit and not found[-1].close:
        budget.notes.append("limit: too many MIME parts, the rest is left unsplit")
    if not found:
        entity.body = data[start:end]
        return
    entity.multipart = True
    default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
    for index, here in enumerate(found):
        if here.close:
            break
        after = found[index + 1] if index + 1 < len(found) else None
        part_start = min(here.end + 1, end)
        part_end = max(after.start - 1, part_start) if after is not None else end
        entity.parts.append(_entity(data, (part_start, part_end), default, depth + 1, budget))


def _entity(
    data: bytes, span: tuple[int, int], default: str, depth: int, budget: _Budget
) -> Entity:
    budget.parts_left -= 1
    items, first, body_start = _head(data, span, budget)
    ctype = _content_type(first.get("content-type"), default)
    entity = Entity(items, ctype, first)
    _split(entity, data, (body_start, span[1]), depth, budget)
    return entity


def parse_entity(
    data: bytes, max_depth: int, max_parts: int, notes: list[str], blank: int = _UNSEEN
) -> Entity:
    """The MIME tree of `data` (LF line endings): at most `max_depth` containers deep and
    `max_parts` entities; a limit that is hit leaves the rest unsplit and adds a note.

    `blank`: data.find(b"\n\n") when the caller has looked for it (the end of the top-level
    header block: not looked for twice)."""
    budget = _Budget(max_depth, max_parts, notes, blank)
    return _entity(data, (0, len(data)), "text/plain", 0, budget)

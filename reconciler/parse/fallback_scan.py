"""The flufl fallback's fast path: flufl.bounce's answers for a fraction of its work.

flufl.bounce run as it ships costs some 5M instructions per message: its SimpleMatch and
SimpleWarning detectors walk the whole message again for each of their 46 pattern sets
(Message.walk, get_payload and a StringIO per part, a regex per line), and every detector
looks its headers up again.  Here the message is parsed once into a tree whose walk, payloads,
headers and content types are computed once (`_Parsed`), and on a release whose detectors
were checked line by line against this module (fallback._VERIFIED) the detectors run in
flufl's own order with the two simple ones replaced by `_simple_match`: the same pattern
tables on body lines read once, a pattern set skipped without its per-line loop when a
literal every start line must contain is nowhere in the body.  Any other release runs the
plain `all_failures`.  tests/test_fallback_equivalence.py holds both paths to the same
answers.

parse/fallback.py imports this module (and flufl.bounce, which this one never imports) the
first time a message needs the fallback: the email package's message and header code it
loads is no cost of a command that never gets there (tests/cli/test_startup.py).
"""

from __future__ import annotations

import email
import functools
import re
from collections.abc import Callable, Sequence
from email.iterators import body_line_iterator
from email.message import Message
from typing import Any, NamedTuple

__all__ = ["Flufl", "failures", "parse_once", "required_literal"]

Patterns = Sequence[tuple["re.Pattern[str]", "re.Pattern[str]", "re.Pattern[str]"]]
Found = tuple[frozenset[bytes], frozenset[bytes]]

# Bumped before and after every call of a Message mutator on a `_Parsed` part: a cache filled
# at another generation is stale (flufl's detectors mutate nothing; if a release ever did, the
# answer is recomputed by the plain call, see failures).
_GENERATION = [0]
_UNSET: Any = object()
_ABSENT: Any = object()
_MUTATORS = (
    *("__setitem__", "__delitem__", "set_raw", "add_header", "replace_header", "set_param"),
    *("del_param", "set_type", "set_boundary", "set_charset", "set_payload", "attach"),
    *("set_default_type", "set_unixfrom"),
)


# (typeshed's overloads of it admit no plain pass-through)
_PLAIN_GET_PAYLOAD: Callable[..., Any] = Message.get_payload


class _Parsed(Message):
    """A compat32 message part whose walk, payload, headers and content type are computed
    once: flufl's detectors ask for them again for every detector and every pattern set."""

    _seen = -1
    _parts: tuple[Message, ...] | None = None
    _fields: dict[str, Any] | None = None
    _ctype: str | None = None
    _payload_once: Any = _UNSET

    def _fresh(self) -> None:
        if self._seen != _GENERATION[0]:
            self._seen = _GENERATION[0]
            self._parts = self._fields = self._ctype = None
            self._payload_once = _UNSET

    def walk(self) -> Any:
        """Message.walk over a tuple of the parts, taken once (a generator all the same)."""
        self._fresh()
        if self._parts is None:
            self._parts = tuple(Message.walk(self))
        yield from self._parts

    def get_payload(self, i: Any = None, decode: bool = False) -> Any:
        """Message.get_payload, kept for the plain form (the only one detectors repeat)."""
        if i is not None or decode:
            return _PLAIN_GET_PAYLOAD(self, i, decode)
        self._fresh()
        if self._payload_once is _UNSET:
            self._payload_once = _PLAIN_GET_PAYLOAD(self)
        return self._payload_once

    def get(self, name: str, failobj: Any = None) -> Any:
        """Message.get, each field's answer kept; not a value compat32 turns into a Header
        (8-bit bytes in the field), which is a new object each time."""
        key = name.lower()
        self._fresh()
        fields = self._fields
        if fields is None:
            fields = self._fields = {}
        value = fields.get(key, _UNSET)
        if value is _UNSET:
            value = Message.get(self, name, _ABSENT)
            if value is _ABSENT or isinstance(value, str):
                fields[key] = value
        return failobj if value is _ABSENT else value

    def get_content_type(self) -> str:
        """Message.get_content_type, computed once."""
        self._fresh()
        if self._ctype is None:
            self._ctype = Message.get_content_type(self)
        return self._ctype


def _invalidating(name: str) -> Callable[..., Any]:
    base = getattr(Message, name)

    def mutator(self: Message, *args: Any, **kwargs: Any) -> Any:
        _GENERATION[0] += 1
        try:
            return base(self, *args, **kwargs)
        finally:
            _GENERATION[0] += 1

    mutator.__name__ = mutator.__qualname__ = name
    mutator.__doc__ = f"Message.{name}, which makes every cached answer stale."
    return mutator


for _name in _MUTATORS:
    setattr(_Parsed, _name, _invalidating(_name))


def parse_once(data: bytes) -> Message:
    """The compat32 parse of `data` (what email.message_from_bytes gives), as `_Parsed` parts.

    The parser builds plain parts (a wrapped mutator per header would add 0.5M instructions
    on the 3 Sisimai messages that reach flufl, 15 % of the parse) and each part then
    becomes a `_Parsed`: the same attributes, more methods."""
    message = email.message_from_bytes(data)
    for part in message.walk():
        part.__class__ = _Parsed
    return message


_QUANTIFIERS = frozenset("*+?{")
_SYNTAX = frozenset(".^$*+?{}[]|()")
_GROUP_KINDS = ("(?P<", "(?P=", "(?:", "(?=", "(?!", "(?<=", "(?<!")


def _skip_class(source: str, at: int) -> int:
    """The index just past the character class opened at `at`, or -1 when it never closes."""
    end = at + 1
    end += source.startswith("^", end)
    end += source.startswith("]", end)
    while end < len(source):
        if source[end] == "\\":
            end += 2
        elif source[end] == "]":
            return end + 1
        else:
            end += 1
    return -1


def _step(source: str, at: int) -> tuple[str, int]:
    """The literal character of the pattern at `at` ("" for syntax) and the index after it;
    -1 where the pattern is beyond this reading (an unclosed class, inline flags)."""
    char = source[at]
    if char == "\\":
        following = source[at + 1 : at + 2]
        return (following if following.isascii() and not following.isalnum() else ""), at + 2
    if char == "[":
        return "", _skip_class(source, at)
    if char == "{":
        closing = source.find("}", at)
        return "", at + 1 if closing < 0 else closing + 1
    if source.startswith("(?", at) and not source.startswith(_GROUP_KINDS, at):
        return "", -1
    return ("" if char in _SYNTAX else char), at + 1


@functools.cache
def required_literal(pattern: re.Pattern[str]) -> tuple[str, bool]:
    """The longest run of plain characters outside groups that every match of `pattern` must
    contain ("" when none can be told: alternation at the top, inline flags, VERBOSE), and
    whether it matches case-insensitively (then it is lower-case ASCII)."""
    source, flags = pattern.pattern, int(pattern.flags)
    if flags & re.VERBOSE or not isinstance(source, str):
        return "", False
    runs, run, depth, at = [""], "", 0, 0
    while at < len(source):
        char = source[at]
        if char == "|" and depth == 0:
            return "", False
        depth += (char == "(") - (char == ")")
        literal, at = _step(source, at)
        if at < 0:
            return "", False
        # a character a quantifier follows may be absent from a match
        if literal and depth == 0 and source[at : at + 1] not in _QUANTIFIERS:
            run += literal
        else:
            runs.append(run)
            run = ""
    runs.append(run)
    if not flags & re.IGNORECASE:
        return max(runs, key=len), False
    return max((each.lower() for each in runs if each.isascii()), key=len), True


class _Body:
    """The body lines flufl's simple detectors read (body_line_iterator), read once, and the
    text they make up, to tell which pattern sets can never start."""

    def __init__(self, message: Message) -> None:
        self.lines: list[str] = list(body_line_iterator(message))
        self._text = "".join(self.lines)
        self._folded = self._text.lower() if self._text.isascii() else None

    def may_start(self, start: re.Pattern[str]) -> bool:
        """False only when no line can match `start`: a literal each match holds is absent."""
        literal, folded = required_literal(start)
        if not literal:
            return True
        if not folded:
            return literal in self._text
        # an ASCII text: case-insensitive matching of ASCII letters is lower() equality
        return self._folded is None or literal in self._folded


def _simple_match(patterns: Patterns, body: _Body, flufl: Flufl) -> frozenset[bytes]:
    """SimpleMatch.process of flufl.bounce 6.0 with `patterns`: per pattern set, from the first
    line `start` matches on, each line's address, until a line matches `end`; the first set
    that finds any answers, with the addresses VALID accepts."""
    addresses: set[bytes] = set()
    for start, end, address_re in patterns:
        if not body.may_start(start):
            continue
        # the first line `start` matches (an equal earlier line would have matched too)
        first = next(filter(start.search, body.lines), None)
        if first is None:
            continue
        for line in body.lines[body.lines.index(first) :]:
            if found := address_re.search(line):
                if address := found.group("addr"):
                    addresses.add(flufl.decode(address))
            elif end.search(line):
                break
        if addresses:
            break
    # built as flufl builds it, so that the sets iterate in the same order
    valid: set[bytes] = set()
    for address in addresses:
        if flufl.valid.match(address):
            valid.add(address)
    return frozenset(valid)


class Flufl(NamedTuple):
    """What flufl.bounce gives the fallback: the plain call, and on a verified release its
    detectors in order with the pattern tables of the simple ones (None elsewhere)."""

    all_failures: Callable[[Message], Found]
    detectors: tuple[type[Any], ...] | None = None
    # detector class -> (its pattern sets, whether its finds are temporary failures)
    simple: dict[type[Any], tuple[Patterns, bool]] | None = None
    # SimpleMatch's VALID and _quopri_decode (unused by the plain call)
    valid: re.Pattern[bytes] = re.compile(b"")
    decode: Callable[[str], bytes] = str.encode


def _scan(flufl: Flufl, message: Message) -> Found:
    """flufl.bounce's all_failures on `message`, its simple detectors by `_simple_match`:
    the detectors in order until one finds any address, their finds put together."""
    assert flufl.detectors is not None and flufl.simple is not None
    temporary: set[bytes] = set()
    permanent: set[bytes] = set()
    body: _Body | None = None
    for detector in flufl.detectors:
        simple = flufl.simple.get(detector)
        try:
            if simple is not None and body is None:
                body = _Body(message)
        except Exception:  # flufl's own detector meets it below, where it would
            simple = None
        if simple is None or body is None:
            found_temporary, found_permanent = detector().process(message)
        elif simple[1]:
            found_temporary, found_permanent = _simple_match(simple[0], body, flufl), frozenset()
        else:
            found_temporary, found_permanent = frozenset(), _simple_match(simple[0], body, flufl)
        temporary.update(found_temporary)
        permanent.update(found_permanent)
        if found_temporary or found_permanent:
            break
    return frozenset(temporary), frozenset(permanent)


def failures(flufl: Flufl, data: bytes) -> Found:
    """flufl's (temporary, permanent) for `data`, by `_scan` on a message parsed once where
    the release was verified; by the plain call elsewhere, or when a detector mutated it."""
    if flufl.detectors is None:
        return flufl.all_failures(email.message_from_bytes(data))
    generation = _GENERATION[0]
    try:
        found = _scan(flufl, parse_once(data))
    except Exception:
        if generation == _GENERATION[0]:
            raise
    if generation != _GENERATION[0]:
        return flufl.all_failures(email.message_from_bytes(data))
    return found

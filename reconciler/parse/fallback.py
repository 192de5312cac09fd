"""The last resort for finding failed addresses: flufl.bounce's detectors (STYLE 2.4).

This is the only module that imports flufl.bounce.  It answers with addresses only; the
diagnostic, status and reply code stay empty unless the caller finds them elsewhere.

flufl.bounce run as it ships costs some 5M instructions per message: its SimpleMatch and
SimpleWarning detectors walk the whole message again for each of their 46 pattern sets
(Message.walk, get_payload and a StringIO per part, a regex per line), and every detector
looks its headers up again.  Here the message is parsed once into a tree whose walk, payloads,
headers and content types are computed once (`_Parsed`), and on a release whose detectors
were checked line by line against this module (`_VERIFIED`) the detectors run in flufl's own
order with the two simple ones replaced by `_simple_match`: the same pattern tables on body
lines read once, a pattern set skipped without its per-line loop when a literal every start
line must contain is nowhere in the body.  Any other release runs the plain `all_failures`.
tests/test_fallback_equivalence.py holds both paths to the same answers.
"""

from __future__ import annotations

import email
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.iterators import body_line_iterator
from email.message import Message
from typing import Any

from reconciler.errors import ParseError
from reconciler.parse.fields import bare_address, is_system_address

__all__ = ["flufl_failures"]

# The flufl.bounce releases whose detector list, SimpleMatch and SimpleWarning this module
# mirrors (checked by tests/test_fallback_equivalence.py); any other runs the plain call.
_VERIFIED = frozenset({"6.0.0"})

_Patterns = Sequence[tuple["re.Pattern[str]", "re.Pattern[str]", "re.Pattern[str]"]]
_Found = tuple[frozenset[bytes], frozenset[bytes]]

# Bumped before and after every call of a Message mutator on a `_Parsed` part: a cache filled
# at another generation is stale (flufl's detectors mutate nothing; if a release ever did, the
# answer is recomputed by the plain call, see _failures).
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


def _simple_match(patterns: _Patterns, body: _Body, flufl: _Flufl) -> frozenset[bytes]:
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


@dataclass(frozen=True, slots=True)
class _Flufl:
    """What flufl.bounce gives this module: the plain call, and on a verified release its
    detectors in order with the pattern tables of the simple ones (None elsewhere)."""

    all_failures: Callable[[Message], _Found]
    detectors: tuple[type[Any], ...] | None = None
    # detector class -> (its pattern sets, whether its finds are temporary failures)
    simple: dict[type[Any], tuple[_Patterns, bool]] | None = None
    # SimpleMatch's VALID and _quopri_decode (unused by the plain call)
    valid: re.Pattern[bytes] = re.compile(b"")
    decode: Callable[[str], bytes] = str.encode


def _scan(flufl: _Flufl, message: Message) -> _Found:
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


@functools.cache
def _flufl() -> _Flufl:
    """flufl.bounce, imported the first time a message needs it: its detectors compile some
    150 regexes, and a run whose messages our own parser answers never needs them
    (bench/startup.py); nor the logging package, imported here to quiet it."""
    import logging

    # flufl.bounce logs a traceback for every detector that fails on a message (hostile input
    # makes several fail); a failure here only means "no answer from the fallback", so its
    # log stays quiet whatever command runs (not only where reconciler.logs configures
    # logging): set before flufl.bounce runs for the first time.  (`_scan` does not log.)
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    import flufl.bounce
    from flufl.bounce import all_failures

    if getattr(flufl.bounce, "__version__", None) not in _VERIFIED:
        return _Flufl(all_failures)
    try:
        from flufl.bounce._detectors import simplematch, simplewarning
        from flufl.bounce._scan import _DETECTORS
    except ImportError:  # a verified release rebuilt otherwise: correct, if slower
        return _Flufl(all_failures)

    simple: dict[type[Any], tuple[_Patterns, bool]] = {
        simplematch.SimpleMatch: (simplematch.SimpleMatch.PATTERNS, False),
        simplewarning.SimpleWarning: (simplewarning.SimpleWarning.PATTERNS, True),
    }
    return _Flufl(
        all_failures, tuple(_DETECTORS), simple, simplematch.VALID, simplematch._quopri_decode
    )


def _failures(data: bytes) -> _Found:
    """flufl's (temporary, permanent) for `data`, by `_scan` on a message parsed once where
    the release was verified; by the plain call elsewhere, or when a detector mutated it."""
    flufl = _flufl()
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


def flufl_failures(data: bytes, exclude: frozenset[str]) -> list[tuple[str, bool]]:
    """(address, permanent) for every failure flufl.bounce finds, our own addresses removed.

    Raises ParseError when a flufl detector fails (several call str methods on header values,
    which compat32 returns as Header objects for 8-bit headers, or index an empty From).
    """
    try:
        # (compat32, the parser's default: flufl's detectors expect it; email.policy, whose
        # import builds the header registry, is not imported for it)
        temporary, permanent = _failures(data)
    # flufl's detectors are third-party code run on hostile input: any of their failures
    # means "no answer from the fallback", never a failed parse.
    except Exception as err:
        raise ParseError(f"flufl.bounce failed: {type(err).__name__}: {err}") from err
    out: list[tuple[str, bool]] = []
    for raw, is_permanent in [*((a, True) for a in permanent), *((a, False) for a in temporary)]:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        address = bare_address(f"<{text}>")
        if address and address not in exclude and not is_system_address(address):
            out.append((address, is_permanent))
    return list(dict.fromkeys(out))

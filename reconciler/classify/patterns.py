"""Regular expressions of the rules, on RE2.

RE2 runs in time linear in the text, whatever the pattern: an operator's badly written rule can
never make a hostile bounce cost seconds (no catastrophic backtracking).  Its set matcher finds,
in one pass over a text, every pattern of a rule set that matches, which is what keeps
classification fast with a hundred rules.  The price is RE2's syntax: no look-around and no
back-references; `check` says so when a rule uses them.

All matching is case-insensitive.  google-re2 is imported here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import re2

from reconciler.validtext import valid_text

__all__ = ["PatternSet", "check", "find"]


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return options


_OPTIONS = _options()


def check(pattern: str) -> str | None:
    """None when RE2 accepts the pattern, else the reason it does not."""
    try:
        re2.compile(pattern, _OPTIONS)
    except re2.error as err:
        detail = err.args[0] if err.args else err
        text = detail.decode() if isinstance(detail, bytes) else str(detail)
        return f"{text} (rules use RE2 syntax: no look-around, no back-references)"
    return None


# The non-ASCII characters RE2 folds together with an ASCII letter (U+017F long s with s,
# U+212A Kelvin sign with k): the only ones for which folding differs from lowering ASCII.
_ASCII_FOLDED = ("\u017f", "\u212a")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_CASE_ESCAPES = frozenset("bBsSdDwW")  # letters after a backslash that lowering keeps
# A pattern `_lowered` returns as it is (no capital letter to lower, no class, no flags): most
# rules' patterns, checked at once instead of character by character.
_UNCHANGED = re.compile(r"(?:[^\\\[(A-Z]++|\\[bBsSdDwW]|\\[^0-9A-Za-z]|\((?!\?)|\(\?:)*")


def _cased_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    return options


_CASED = _cased_options()


def _class_end(pattern: str, start: int) -> int:
    """The index just past the character class opening at `start`, or -1 when the class
    holds a letter or a range that could cover one (lowering would change it)."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    first = i
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and i > first:
            return i + 1
        if c == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] in _CASE_ESCAPES:
                i += 2 if i + 1 < len(pattern) else 1
                continue
            if pattern[i + 1].isalnum():
                return -1
            i += 2
            continue
        if c.isalpha() or c == "[":
            return -1  # a letter, or a POSIX class such as [:alpha:]
        if c == "-" and i > first and i + 1 < len(pattern) and pattern[i + 1] != "]":
            low, high = pattern[i - 1], pattern[i + 1]
            if not (low.isdigit() and high.isdigit()):
                return -1
        i += 1
    return -1


def _lowered(pattern: str) -> str | None:
    """`pattern` written for case-sensitive matching of ASCII-lowered text (its literal
    letters lowered), or None when it holds a construct lowering could change: a non-ASCII
    character, a letter in a class, an escape other than \\b \\s \\d \\w (and their
    negations), a group with flags or a name."""
    if not pattern.isascii():
        return None
    if _UNCHANGED.fullmatch(pattern):
        return pattern
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            following = pattern[i + 1 : i + 2]
            if following.isalnum() and following not in _CASE_ESCAPES:
                return None
            out.append(pattern[i : i + 2])
            i += 2
        elif c == "[":
            end = _class_end(pattern, i)
            if end < 0:
                return None
            out.append(pattern[i:end])
            i = end
        elif c == "(" and pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
            return None
        else:
            out.append(c.lower())
            i += 1
    return "".join(out)


def _written(patterns: Sequence[str]) -> list[str] | None:
    """The patterns of a set matched against ASCII-lowered text: lowered where `_lowered`
    can, else case-insensitive in a group; None when one could turn folding off or end its
    group early (flags, \\Q...): such a set matches the text as it is."""
    out = []
    for pattern in patterns:
        lowered = _lowered(pattern)
        if lowered is None:
            if "(?" in pattern.replace("(?:", "") or "\\Q" in pattern:
                return None
            lowered = f"(?i:{pattern})"
        out.append(lowered)
    return out


def _compiled_set(patterns: Sequence[str], options: re2.Options) -> re2.Set:
    found = re2.Set.SearchSet(options)
    for pattern in patterns:
        found.Add(pattern)
    if patterns:
        found.Compile()
    return found


class PatternSet:
    """Many patterns compiled together: `match` returns the indices of all that match.

    Case-insensitive matching is done as case-sensitive matching of the text with its ASCII
    letters lowered, against the patterns with their literal letters lowered: the same
    matches (RE2 folds no other character into an ASCII letter but the two of
    `_ASCII_FOLDED`, whose rare texts go to a folding set), at a fraction of the cost of
    RE2's case folding when it compiles the set and builds its automaton.
    """

    __slots__ = ("_folding", "_lower", "_match_bytes", "_patterns", "_set", "size")

    def __init__(self, patterns: Sequence[str]) -> None:
        self.size = len(patterns)
        self._patterns = tuple(patterns)
        written = _written(self._patterns)
        self._lower = written is not None
        self._folding: re2.Set | None = None  # built for the first text that needs it
        if written is None:
            self._set = _compiled_set(self._patterns, _OPTIONS)
        else:
            self._set = _compiled_set(written, _CASED)
        self._match_bytes = _bytes_matcher(self._set)

    def match(self, text: str) -> frozenset[int]:
        """The indices of the patterns that match `text`."""
        return frozenset(self.ordered(text))

    def ordered(self, text: str) -> list[int]:
        """`match` as a list in ascending order (what the classifier walks: no set made)."""
        if not self.size or not text:
            return []
        if not self._lower:
            return _matched(self._set, text)
        if not text.isascii() and (_ASCII_FOLDED[0] in text or _ASCII_FOLDED[1] in text):
            return _matched(self._folding_set(), text)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (a UTF-7 body): RE2 matches UTF-8 only
            data = valid_text(text).encode("utf-8")
        found = self._match_bytes(data.lower())  # bytes.lower lowers ASCII letters only
        if not found:
            return []
        out = list(found)
        out.sort()
        return out

    def _folding_set(self) -> re2.Set:
        found = self._folding
        if found is None:
            found = self._folding = _compiled_set(self._patterns, _OPTIONS)
        return found


def _bytes_matcher(found_in: re2.Set) -> Callable[[bytes], Any]:
    """The set's `Match` for UTF-8 bytes: the extension's own when google-re2's Python wrapper
    holds one where it has kept it so far (the wrapper adds an interpreted call to every
    match, and only encodes a str, never given here), else the wrapper's.  Either gives the
    indices that match (a list; the wrapper gives None for none)."""
    inner = getattr(found_in, "_set", None)
    match = getattr(inner, "Match", None)
    return match if callable(match) else found_in.Match  # type: ignore[no-any-return]


def _matched(found_in: re2.Set, text: str) -> list[int]:
    try:
        found = found_in.Match(text)
    except UnicodeEncodeError:  # a lone surrogate (a UTF-7 body): RE2 matches UTF-8 only
        found = found_in.Match(valid_text(text))
    return sorted(found) if found else []


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


def find(pattern: str, text: str) -> str | None:
    """The text the pattern matches first (for explanations), or None."""
    try:
        found = _compiled(pattern).search(text)
    except UnicodeEncodeError:  # as in `PatternSet.match`
        found = _compiled(pattern).search(valid_text(text))
    return None if found is None else str(found.group(0))

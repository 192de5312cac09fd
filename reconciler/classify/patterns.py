"""Regular expressions of the rules, on RE2.

RE2 runs in time linear in the text, whatever the pattern: an operator's badly written rule can
never make a hostile bounce cost seconds (no catastrophic backtracking).  Its set matcher finds,
in one pass over a text, every pattern of a rule set that matches, which is what keeps
classification fast with a hundred rules.  The price is RE2's syntax: no look-around and no
back-references; `check` says so when a rule uses them.

All matching is case-insensitive.  google-re2 is imported here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

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


class PatternSet:
    """Many patterns compiled together: `match` returns the indices of all that match."""

    __slots__ = ("_set", "size")

    def __init__(self, patterns: Sequence[str]) -> None:
        self.size = len(patterns)
        self._set = re2.Set.SearchSet(_OPTIONS)
        for pattern in patterns:
            self._set.Add(pattern)
        if patterns:
            self._set.Compile()

    def match(self, text: str) -> frozenset[int]:
        if not self.size or not text:
            return frozenset()
        try:
            found = self._set.Match(text)
        except UnicodeEncodeError:  # a lone surrogate (a UTF-7 body): RE2 matches UTF-8 only
            found = self._set.Match(valid_text(text))
        return frozenset(found) if found else frozenset()


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

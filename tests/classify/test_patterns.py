"""The rules' pattern set: lowered matching finds what RE2's case folding finds."""

from __future__ import annotations

import pytest
import re2

from reconciler.classify.patterns import PatternSet
from reconciler.classify.rules import load_rules
from reconciler.validtext import valid_text

# Patterns lowering keeps (literal letters, \b \s \d \w, letter-free classes) and patterns it
# cannot lower (a letter in a class, a range over letters, other escapes, non-ASCII): those
# are matched case-insensitively inside a group.
_PATTERNS = [
    r"\bmailbox (is )?full\b",
    r"User Unknown",
    r"5\.1\.1 <[^<>@\s]+@\S+>",
    r"no such (user|mailbox)\W",
    r"[-_ ]{2}Quota",
    r"aup#[a-z-]*(1000|11[0-4]\d)\b",
    r"gr[ae]y-?list",
    r"[!-~]{3}x",
    r"\x41ccount",
    r"\pLser",
    r"boîte pleine",
    r"(?:Over|Under) Quota",
    r"^Delivery$",
]
# A pattern whose flags could turn folding off: the set then matches the text as it is.
_FLAGGED = [*_PATTERNS, r"(?-i:ABC)d"]

_TEXTS = [
    "MAILBOX IS FULL",
    "mailbox full",
    "550 5.1.1 <Kim@Example.NET>: user unknown",
    "No Such User!",
    "-- quota",
    "AUP#Ab-1100",
    "GREYLIST",
    "AB!X",
    "Account",
    "ACCOUNT",
    "User",
    "BOÎTE PLEINE",
    "boîte pleine",
    "over quota",
    "DELIVERY",
    "ABCd",
    "abcD",
    # characters RE2 folds into ASCII letters: the long s and the Kelvin sign
    "mailbox i\u017f full",
    "\u212aim: no \u017fuch user.",
    "\u017fmailbox full",
    "user unknown \ud800",  # a lone surrogate
    "",
]


def _reference(patterns: list[str], text: str) -> frozenset[int]:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    folding = re2.Set.SearchSet(options)
    for pattern in patterns:
        folding.Add(pattern)
    folding.Compile()
    if not text:
        return frozenset()
    try:
        found = folding.Match(text)
    except UnicodeEncodeError:
        found = folding.Match(valid_text(text))
    return frozenset(found or ())


@pytest.mark.parametrize("patterns", [_PATTERNS, _FLAGGED], ids=["lowered", "flagged"])
@pytest.mark.parametrize("text", _TEXTS)
def test_set_matches_as_case_folding_does(patterns: list[str], text: str) -> None:
    assert PatternSet(patterns).match(text) == _reference(patterns, text)


def test_matches_are_found() -> None:
    """Not only agreement on empty answers: the texts above do match."""
    found = PatternSet(_PATTERNS)
    assert found.match("MAILBOX IS FULL") == {0, 7}  # and [!-~]{3}x: "ILBOX"
    assert found.match("\u212aim: no \u017fuch user.") == {3, 9}  # and \pLser: "user"
    assert found.match("GREYLIST") == {6}


def test_shipped_rules_agree_on_their_own_texts() -> None:
    """Every diagnostic pattern of the shipped rules, on texts written from those patterns
    in three cases (and with a long s): the same matches as RE2's case folding."""
    rules = load_rules()
    patterns = [p for r in rules.rules for p in (r.match.diagnostic or ())]
    texts = []
    for pattern in patterns:
        plain = "".join(c for c in pattern if c.isalnum() or c == " ")
        texts += [plain, plain.upper(), plain.title(), plain.replace("s", "\u017f")]
    found = PatternSet(patterns)
    folding = _Folding(patterns)
    differ = [t for t in texts if found.match(t) != folding.match(t)]
    assert differ == []
    assert sum(1 for t in texts if found.match(t)) > len(patterns)


class _Folding:
    def __init__(self, patterns: list[str]) -> None:
        options = re2.Options()
        options.case_sensitive = False
        self._set = re2.Set.SearchSet(options)
        for pattern in patterns:
            self._set.Add(pattern)
        self._set.Compile()

    def match(self, text: str) -> frozenset[int]:
        return frozenset(self._set.Match(text) or ()) if text else frozenset()

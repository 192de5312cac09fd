"""The classifier's per-result fast paths against the forms they replaced (kept below).

`Classifier._ordered` (merged, remembered) against `_candidates` (a set union and a sort),
`_union` against a sorted set, `PatternSet.ordered` against `match`, and in `facts`:
`_cut`, `has_code`, `_sender_domain` and `message_facts` against their former forms, on the
corpora and on generated inputs.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from reconciler.classify import Classifier
from reconciler.classify.facts import (
    _cut,
    _sender_domain,
    has_code,
    message_facts,
    rule_facts,
)
from reconciler.classify.match import _union
from reconciler.classify.patterns import PatternSet
from reconciler.classify.rules import load_rules
from reconciler.parse import parse
from reconciler.records import MessageKind, ParsedMessage, RuleFacts, Stage
from reconciler.validtext import valid_text
from tests.support import CORPUS, SAMPLES, TESTS

# -- the replaced forms ------------------------------------------------------------------------


def _old_cut(text: str | None, limit: int) -> str:
    cut = (text or "")[:limit]
    return cut if cut.isascii() and "\x00" not in cut else valid_text(cut)


_GENERIC_STATUS = re.compile(r"^[245]\.0\.0$")
_SENDER_DOMAIN_RE = re.compile(r"@([a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+)")


def _old_has_code(facts: RuleFacts) -> bool:
    specific = bool(facts.status) and not _GENERIC_STATUS.match(facts.status)
    return specific or bool(facts.reply_code)


def _old_sender_domain(sender: str | None) -> str | None:
    found = _SENDER_DOMAIN_RE.findall((sender or "").lower())[-1:]
    return found[0] if found else None


# -- inputs --------------------------------------------------------------------------------------


@cache
def _classifier() -> Classifier:
    return Classifier(load_rules().rules)


@cache
def _corpus_facts() -> tuple[tuple[ParsedMessage, tuple[RuleFacts, ...]], ...]:
    others = TESTS / "corpus" / "others" / "emails"
    files: list[Path] = sorted([*CORPUS.glob("*.eml"), *others.rglob("*.eml")])
    files += sorted(SAMPLES.rglob("*.eml"))
    out = []
    for path in files:
        message = parse(path.read_bytes())
        out.append((message, message_facts(message)))
    return tuple(out)


_TEXT = st.text(alphabet="@aZ0.-_ x\u03a3\u212a\u0130\u00e9", max_size=24)
_CODES = st.sampled_from(["", "5.1.1", "4.2.2", "5.0.0", "4.0.0", "2.0.0", "5.7.1", "9.9.9"])
_REPLIES = st.sampled_from(["", "550", "421", "452", "554", "250"])
_DIAGNOSTICS = st.sampled_from(
    [
        "",
        "user unknown",
        "mailbox full",
        "550 5.1.1 no such user here",
        "Quota exceeded (mailbox for user is full)",
        "blocked by spamhaus: listed",
        "connection timed out",
        "Host or domain name not found",
        "message rejected as spam",
    ]
)


@st.composite
def _facts(draw: st.DrawFn) -> RuleFacts:
    return RuleFacts(
        draw(st.sampled_from(list(MessageKind))),
        draw(_CODES),
        draw(_REPLIES),
        draw(_DIAGNOSTICS),
        draw(st.sampled_from(["", "mx.example.net", "gmail-smtp-in.l.google.com"])),
        draw(st.sampled_from(["", "example.com", "yahoo.co.jp"])),
        draw(st.sampled_from(list(Stage))),
        draw(st.sampled_from(["", "failed", "delayed"])),
        draw(st.sampled_from(["", "smtp", "x-postfix"])),
    )


# -- the classifier ------------------------------------------------------------------------------


def test_candidates_merged_are_the_sorted_union_on_the_corpora() -> None:
    classifier = _classifier()
    results = 0
    for _message, facts in _corpus_facts():
        for fact in facts:
            texts = classifier._texts(fact)
            expected = tuple(classifier._candidates(texts, fact))
            assert classifier._ordered(texts, fact) == expected
            assert classifier._ordered(texts, fact) == expected  # remembered, the same
            results += 1
    assert results > 500


@given(_facts())
def test_candidates_merged_are_the_sorted_union_on_generated_facts(fact: RuleFacts) -> None:
    classifier = _classifier()
    texts = classifier._texts(fact)
    assert classifier._ordered(texts, fact) == tuple(classifier._candidates(texts, fact))


@given(st.sets(st.integers(0, 60)), st.sets(st.integers(0, 60)))
def test_union_is_the_sorted_union(first: set[int], second: set[int]) -> None:
    merged = _union(tuple(sorted(first)), tuple(sorted(second)))
    assert merged == tuple(sorted(first | second))


_PATTERNS = ["user unknown", r"mailbox\s+full", "SPAM", r"\bblock", "(?i:Quota)", "[0-9]{3}"]


@given(st.text(alphabet="user unknowMAILBOXfl spam\u017f\u212ablock quota 550\t", max_size=40))
def test_ordered_matches_are_the_sorted_matches(text: str) -> None:
    patterns = PatternSet(_PATTERNS)
    assert patterns.ordered(text) == sorted(patterns.match(text))


def test_ordered_matches_of_a_set_that_keeps_case_folding() -> None:
    patterns = PatternSet(["(?-i:Exact)", "other"])  # flags: the set matches the text as is
    assert patterns.ordered("exact OTHER Exact") == [0, 1] == sorted(patterns.match("Exact other"))
    assert patterns.ordered("") == []


# -- the facts ---------------------------------------------------------------------------------


@given(st.none() | st.text(alphabet="ab\x00\u00e9\ud800 ", max_size=12), st.integers(0, 14))
def test_cut_is_the_replaced_cut(text: str | None, limit: int) -> None:
    assert _cut(text, limit) == _old_cut(text, limit)


@given(_facts(), st.sampled_from(["5.0.0\n", "4.0.0\n", "5.0.0 ", "3.0.0", "5.0.00", "2.0.0"]))
def test_has_code_is_the_replaced_test(fact: RuleFacts, status: str) -> None:
    assert has_code(fact) == _old_has_code(fact)
    odd = RuleFacts(fact.kind, status, fact.reply_code)
    assert has_code(odd) == _old_has_code(odd)


@given(st.none() | _TEXT)
@example("Mailer <postmaster@mx.example.org> via a@b.c@")  # the last "@" names no domain
@example("x@@Example.COM")  # the last "@" does; the one before it does not
@example("\u03a3@\u212aelvin.example")  # the Kelvin sign lowers to an ASCII k
@example("")
def test_sender_domain_is_the_last_match(sender: str | None) -> None:
    assert _sender_domain(sender) == _old_sender_domain(sender)


def test_message_facts_are_each_results_facts_on_the_corpora() -> None:
    senders = 0
    for message, facts in _corpus_facts():
        assert facts == tuple(rule_facts(bounce, message) for bounce in message.bounces)
        senders += any(f.sender_domain for f in facts)
        for fact in facts:
            assert has_code(fact) == _old_has_code(fact)
    assert senders > 100

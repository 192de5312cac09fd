"""Where a plain-text notice ends: the marker line is found as by a regex search for its keys."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from support import TESTS

from reconciler.parse import textformats
from reconciler.parse.context import _notice_text
from reconciler.parse.lazyre import Lazy
from reconciler.parse.mime import Limits, load, walk

_KEYS_RE = re.compile("|".join(re.escape(key) for key in textformats._MARK_KEYS))


def _old_mark_at(low: str, mark_re: Lazy, line: int) -> re.Match[str] | None:
    """The marker test before the keys were found with str.find (one regex search)."""
    end = low.find("\n", line)
    key = _KEYS_RE.search(low, line, len(low) if end < 0 else end)
    if key is None:
        return None
    found = mark_re.match(low, line)
    return found if found is not None and found.end() > key.start() else None


def _same_on_every_line(text: str) -> int:
    low, marks = text.lower(), 0
    for line in [0, *(m.end() for m in re.finditer("\n", low))]:
        for mark_re in (textformats._ORIGINAL_MARK_LOW_RE, textformats._ORIGINAL_MARK_RE):
            old = _old_mark_at(low, mark_re, line)
            new = textformats._mark_at(low, mark_re, line)
            assert (old and old.span()) == (new and new.span()), (text, line)
            marks += old is not None
    return marks


def _old_marker(text: str) -> re.Match[str] | None:
    """The marker search before the keys' occurrences were walked: every line that starts
    like a marker (a regex search for the line starts) is tried."""
    low, mark_re = text.lower(), textformats._ORIGINAL_MARK_LOW_RE
    as_is = len(low) != len(text)
    if as_is:
        low, mark_re = text, textformats._ORIGINAL_MARK_RE
    found = textformats._mark_at(low, mark_re, 0)
    for start in textformats._MARK_LINE_RES[as_is].finditer(low):
        if found is not None:
            break
        found = textformats._mark_at(low, mark_re, start.start() + 1)
    return found


def _same_marker(text: str) -> bool:
    old, new = _old_marker(text), textformats._marker(text)[0]
    assert (old and old.span()) == (new and new.span()), text
    return old is not None


def test_corpus_notices_are_cut_at_the_same_line() -> None:
    marks = 0
    found = 0
    for path in sorted((TESTS / "corpus" / "sisimai" / "emails").glob("*.eml")):
        root = load(path.read_bytes(), Limits())[0]
        text = _notice_text(walk(root), Limits())
        marks += _same_on_every_line(text)
        found += _same_marker(text)
    assert marks > 100
    assert found > 90


_WORDS = ["original message", "copy of the message", "returned", "follow", "以下 原文", "was:"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*_WORDS, "-- ", "\n", " ", "x", "this is a "]), max_size=30))
def test_generated_lines_are_cut_alike(pieces: list[str]) -> None:
    _same_on_every_line("".join(pieces))


# Lines that start like a marker and lines that hold its keys, in any order and case, with
# text whose lower case is longer (the search then reads the text as it is).
_LINE_PIECES = [
    *_WORDS, "\n", " ", "\t", "a", "A", "x", "-----", "== ", "this is a ", "Original Message",
    "Copy of", "the message follows", "unsent message", "İ", "message headers follow",
    "The message follows",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_LINE_PIECES), max_size=24))
def test_generated_texts_find_the_marker_of_a_line_by_line_search(pieces: list[str]) -> None:
    _same_marker("".join(pieces))


# Lines around the "follow"-only shortcut: "follow" with and without "message" before it,
# the "message ... follow(s)" phrasings, punctuation runs and words that carry other keys.
_FOLLOW_PIECES = [
    "follow", "follows", "following", "message", "messages", "headers", "header", "the",
    "original", "-----", "== ", "#", "\n", " ", "\t", "was:", "copy of", "returned", "x",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_FOLLOW_PIECES), max_size=14))
def test_follow_only_lines_are_cut_alike(pieces: list[str]) -> None:
    _same_on_every_line("".join(pieces))


def test_follow_only_shortcut_cases() -> None:
    for text, marked in [
        ("----- The following addresses had permanent fatal errors -----", False),
        ("----- Transcript of session follows -----", False),
        ("Message headers follow:", True),
        ("The message follows", True),
        ("--- the following is the original message ---", True),
        ("the\nmessage follows", False),
    ]:
        assert (_same_on_every_line(text) > 0) is marked, text


def _lowered_alike(text: str) -> None:
    notice, original, low = textformats.notice_parts(text)
    assert (notice, original) == textformats.split_notice(text)
    if low is not None:  # given: it is the notice's own lower()
        assert low == notice.lower(), text


def test_corpus_notices_come_with_their_lower_case() -> None:
    given_low = 0
    for path in sorted((TESTS / "corpus" / "sisimai" / "emails").glob("*.eml")):
        text = _notice_text(walk(load(path.read_bytes(), Limits())[0]), Limits())
        _lowered_alike(text)
        given_low += textformats.notice_parts(text)[2] is not None
    assert given_low > 300


# Capital sigma lower-cases by what follows it (final sigma), dotted capital I to two
# characters: the notice's own lower() is needed then, never a cut of the text's.
_CASE_PIECES = [
    "ΟΔΟΣ", "Σ", "σ", "İ", "ß", "\n", " ", ">", "> quoted\n", "Original Message\n", "x", "X",
    "\nFrom: a@b\nTo: c@d\nSubject: s\n",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_CASE_PIECES), max_size=16))
def test_generated_notices_come_with_their_lower_case(pieces: list[str]) -> None:
    _lowered_alike("".join(pieces))


def test_final_sigma_at_the_cut_is_lowered_by_the_notice() -> None:
    text = "ΟΔΟΣ\n----- Original message -----\nΑΒ"
    notice, _, low = textformats.notice_parts(text)
    assert notice == "ΟΔΟΣ\n"
    assert low is None  # not cut from the text's: the notice holds a capital sigma


def test_a_line_of_a_alone_leaves_the_next_line_a_marker() -> None:
    # "a" is the first word of "a copy of the message": a line holding only "a" once took
    # the line feed of the next line with it, and the next line was never tried
    for text in (
        "Delivery failed.\na\nOriginal message:\nSubject: hi\n",
        "Delivery failed.\na\ncopy of the original message\nSubject: hi\n",
        "Delivery failed.\nx\n  a\nOriginal message:\nSubject: hi\n",
    ):
        notice, original = textformats.split_notice(text)
        assert original == "Subject: hi\n", text
        assert notice == text[: text.index("a\n") + 2], text


_QUOTE_PIECES = [">", " > ", "\t>", ">>>", ">> ", "\n", "\n", "x", "a@b", "<a@b>", " "]


def _cut_as_searched(text: str) -> None:
    notice = textformats._split(text)[0]
    quoted = textformats._QUOTED_RUN_RE.search(notice) if ">" in notice else None
    expected = notice if quoted is None else notice[: quoted.start() + 1]
    assert textformats.split_notice(text)[0] == expected, text


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_QUOTE_PIECES), max_size=24))
def test_quoted_copy_is_cut_where_a_search_from_the_start_finds_it(pieces: list[str]) -> None:
    _cut_as_searched("".join(pieces))


def test_quoted_copy_from_the_first_mark_is_cut() -> None:
    for text in ("x\n>\n>\n>\n", "x <a@b>\n > 1\n\t> 2\n> 3\ny", ">\n>\n>\n>\n", "\n>\n>\n>\n"):
        _cut_as_searched(text)
    assert textformats.split_notice("Sorry.\n> a\n> b\n> c\n")[0] == "Sorry.\n"

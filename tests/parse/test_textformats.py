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
# The line-start regex as searched before the lines were walked (lower-cased text: plain;
# text as it is: case-insensitive).
_MARK_LINE_RES = {
    False: re.compile(r"\n" + textformats._MARK_LINE),
    True: re.compile(r"\n" + textformats._MARK_LINE, re.IGNORECASE),
}


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
    for start in _MARK_LINE_RES[as_is].finditer(low):
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


_PUNCTUATION_START_RE = re.compile(r"\n[ \t]*[-=_*#|>]{2}")


def _line_starts_hold(text: str) -> int:
    """At every line start: `_line_start` says punctuation where the line-start regex matches
    two punctuation marks, says a word only where that regex matches, and says one of them
    wherever a marker starts (so the lines it passes over hold none).  Counts the markers."""
    low, marks = text.lower(), 0
    for line in [0, *(m.end() for m in re.finditer("\n", low))]:
        start = textformats._line_start(low, line)
        after_feed = "\n" + low  # (the line feed before the first line too)
        punctuation = _PUNCTUATION_START_RE.match(after_feed, line) is not None
        assert (start == textformats._PUNCTUATION_START) is punctuation, (text, line)
        if start == textformats._WORD_START:
            assert _MARK_LINE_RES[False].match(after_feed, line) is not None, (text, line)
        if _old_mark_at(low, textformats._ORIGINAL_MARK_LOW_RE, line) is not None:
            assert start != textformats._NO_START, (text, line)
            marks += 1
    return marks


def test_corpus_line_starts_hold() -> None:
    marks = 0
    folders = [TESTS / "corpus" / "sisimai" / "emails", TESTS / "corpus" / "others" / "emails"]
    for path in [p for f in folders for p in sorted(f.glob("*.eml"))]:
        data = path.read_bytes()
        marks += _line_starts_hold(_notice_text(walk(load(data, Limits())[0]), Limits()))
        marks += _line_starts_hold(data.decode("utf-8", "replace"))
    assert marks > 200


# The word alternatives of the marker, each as its words (white space between them).
_MARKER_WORDINGS = [
    "this is a copy of the message", "this is a copy of your original message",
    "a copy of the message", "copy of your message", "below this line is a copy",
    "original message", "original mail", "original header", "original headers",
    "unsent message", "returned message", "rejected message", "message header follow",
    "message headers follow", "headers of the original", "headers of the returned",
    "the original message follows", "the message headers was:", "the message is attached",
    "undelivered message", "content of the message", "content of the original message",
    "元のメッセージ", "原文", "以下の原文", "以下のメッセージ",
]  # fmt: skip
# What may stand between the words: white space of every kind, or a miss.
_BETWEEN = [" ", "  ", "\t", "\n", " \n ", "\u00a0", "\u2028", "\x1c", "", "x", "-"]
# Before the first word and after the last.
_AROUND = ["", " ", "\t", "-- ", "==", "x", "\n", "> ", ">>", "a ", "the ", "İ"]


@st.composite
def _marker_lines(draw: st.DrawFn) -> str:
    words = draw(st.sampled_from(_MARKER_WORDINGS)).split(" ")
    if draw(st.booleans()):  # a word left out or changed
        index = draw(st.integers(0, len(words) - 1))
        words[index] = draw(st.sampled_from(["", words[index][:-1], words[index] + "s", "of"]))
    text = draw(st.sampled_from(_AROUND)) + words[0]
    for word in words[1:]:
        text += draw(st.sampled_from(_BETWEEN)) + word
    return text + draw(st.sampled_from(_AROUND))


@settings(max_examples=4000, deadline=None)
@given(st.lists(_marker_lines(), min_size=1, max_size=3))
def test_generated_marker_lines_start_as_the_line_start_says(lines: list[str]) -> None:
    text = "\n".join(lines)
    _line_starts_hold(text)
    _same_marker(text)


# Every word of the line-start regex, its prefixes and near misses, blanks, punctuation and
# the white space a lone "a" may stand before.
_START_PIECES = [
    "this", "thi", "the", "th", "t", "a", "a ", "a\t", "a\u00a0", "a\u2028", "ab", "copy",
    "cop", "content", "below", "original", "origin", "unsent", "undelivered", "un",
    "returned", "rejected", "re", "message", "messag", "headers", "header", "元のメッセージ",
    "元の", "元", "原文", "原", "以下", "以", "-", "=", "_", "*", "#", "|", ">", "+", " ", "\t",
    "\n", "\n", "\n", "\r", "x", " of", " is", " copy",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_START_PIECES), max_size=12))
def test_generated_line_starts_hold(pieces: list[str]) -> None:
    _line_starts_hold("".join(pieces))


def test_every_marker_wording_starts_with_a_phrase() -> None:
    line_words = _MARK_LINE_RES[False].pattern.split("(?:", 1)[1].rstrip(")").split("|")
    for phrase in textformats._MARK_PHRASES:
        assert phrase[0] in line_words or phrase[0] + r"(?=\s)" in line_words, phrase
    for wording in _MARKER_WORDINGS:
        for between in (" ", "\n\t", "\u00a0"):
            for before in ("", " \t", "-- ", "== "):
                low = before + wording.replace(" ", between)
                assert textformats._ORIGINAL_MARK_LOW_RE.match(low) is not None, low
                assert textformats._line_start(low, 0) != textformats._NO_START, low


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


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a `(?:a|b|...)` pattern."""
    assert pattern.startswith("(?:") and pattern.endswith(")")
    found, depth, start, body = [], 0, 0, pattern[3:-1]
    for index, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0) if body[index - 1 : index] != "\\" else 0
        if char == "|" and depth == 0:
            found.append(body[start:index])
            start = index + 1
    return [*found, body[start:]]


def _literal_start(alternative: str) -> str:
    """The characters an alternative always starts with (before its first operator)."""
    end = next((i for i, c in enumerate(alternative) if c in "\\()[].|?*+{"), len(alternative))
    optional = alternative[end : end + 1] in ("?", "*", "{")
    return alternative[: end - 1] if optional else alternative[:end]


def test_every_bounce_phrase_starts_with_a_listed_start() -> None:
    alternatives = _alternatives(textformats.BOUNCE_PHRASE_RE.pattern)
    assert len(alternatives) > 20
    for alternative in alternatives:
        literal = _literal_start(alternative)
        assert literal, alternative
        assert any(literal.startswith(s) for s in textformats._PHRASE_STARTS), alternative
    # each phrase is matched where its own word stands: it starts with that word
    for word, phrase in textformats._PHRASES:
        assert _literal_start(phrase).startswith(word), (word, phrase)
    grouped = [
        p for _, group in textformats._PHRASE_GROUPS for p in _alternatives(f"(?:{group.pattern})")
    ]
    assert sorted(grouped) == sorted(alternatives)


def _same_phrase_answer(low: str) -> bool:
    found = textformats.BOUNCE_PHRASE_RE.search(low) is not None
    assert textformats.has_bounce_phrase(low) is found, low
    return found


def test_corpus_texts_hold_a_bounce_phrase_as_the_search_finds() -> None:
    answers = []
    folders = [TESTS / "corpus" / "sisimai" / "emails", TESTS / "corpus" / "others" / "emails"]
    paths = [p for f in folders for p in sorted(f.glob("*.eml"))]
    paths += sorted((TESTS / "samples").rglob("*.eml"))
    for path in paths:
        data = path.read_bytes()
        text = _notice_text(walk(load(data, Limits())[0]), Limits())
        answers.append(_same_phrase_answer(text[:20000].lower()))
        _same_phrase_answer(data.decode("utf-8", "replace").lower())
    assert len(answers) > 400
    assert answers.count(True) > 200 and answers.count(False) > 10


_PHRASE_PIECES = [
    "could", "not", "be", "delivered", "undeliver", "un", "deliver", "delivery", "to the",
    "following", "failed", "permanently", "permanent", "ly", "error", "fatal", "wasn't",
    "able", "unable", "address", "recipient", "transcript", "of session", "mail", "box",
    "full", "returned", "message", "user", "unknown", "no", "such", "remote", "host", "said",
    "rejected", "occurred", "配信", "送信できません", "届きません", "宛先不明", "не",
    "доставлено", "non", "remis", "consegnat", "unzustellbar", " ", "  ", "\n", "\t", "x",
    "\u00a0", "İ",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PHRASE_PIECES), max_size=12))
def test_generated_texts_hold_a_bounce_phrase_as_the_search_finds(pieces: list[str]) -> None:
    _same_phrase_answer("".join(pieces).lower())


# The search for an inline original's first header line that `_header_starts` replaced.
_HEADER_START = (
    r"[^\S\n]*\n(?=(?:Return-Path|Received|Message-I[Dd]|From|Date|To|Subject)[^\S\n]*:)"
)
_OLD_HEADER_START_RES = (re.compile(_HEADER_START), re.compile(r"\n" + _HEADER_START))


def _same_header_starts(text: str) -> int:
    first = _OLD_HEADER_START_RES[0].match(text)
    old = [first.end()] if first else []
    old += [found.end() for found in _OLD_HEADER_START_RES[1].finditer(text)]
    assert textformats._header_starts(text) == old, text
    return len(old)


def test_corpus_header_starts_are_the_search_s() -> None:
    starts = 0
    folders = [TESTS / "corpus" / "sisimai" / "emails", TESTS / "corpus" / "others" / "emails"]
    for path in [p for f in folders for p in sorted(f.glob("*.eml"))]:
        data = path.read_bytes()
        starts += _same_header_starts(_notice_text(walk(load(data, Limits())[0]), Limits()))
        starts += _same_header_starts(data.decode("utf-8", "replace"))
    assert starts > 250


# Header names (and near misses), blank lines of every kind of white space, other lines.
_HEADER_PIECES = [
    "\n", "\n", "\n", " ", "\t", "\r", "\x1c", "\u00a0", "From:", "From :", "From", "To:",
    "Toto:", "Date\t:", "Message-Id:", "Message-ID:", "Message-Ix:", "Received: x",
    "Return-Path:", "Subject", ":", "x", "X-From: y",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_HEADER_PIECES), max_size=16))
def test_generated_header_starts_are_the_search_s(pieces: list[str]) -> None:
    _same_header_starts("".join(pieces))


def test_header_starts_after_blank_lines_only() -> None:
    assert textformats._header_starts("\nFrom: a\n\nTo: b\n \t\nDate: c\nx\nSubject: d") == [
        1,
        10,
        19,
    ]
    assert textformats.split_notice("Sorry.\n\nFrom: a\nTo: b\nSubject: c\n") == (
        "Sorry.\n",
        "From: a\nTo: b\nSubject: c\n",
    )


def _old_quoted_run(notice: str) -> re.Match[str] | None:
    """The replaced form: one search from the line feed before the first ">"'s line."""
    first = notice.find(">")
    if first < 0:
        return None
    return textformats._QUOTED_RUN_RE.search(notice, max(notice.rfind("\n", 0, first), 0))


def _same_quoted_run(notice: str) -> bool:
    first = notice.find(">")
    new = textformats._quoted_run(notice, first) if first >= 0 else None
    old = _old_quoted_run(notice)
    assert (new and new.span()) == (old and old.span()), notice
    return old is not None


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from([*_QUOTE_PIECES, "\t", " >>", "x>", "\n\n"]), max_size=24))
def test_quoted_run_is_the_search_from_the_first_mark(pieces: list[str]) -> None:
    _same_quoted_run("".join(pieces))


def test_corpus_quoted_runs_are_the_search_from_the_first_mark() -> None:
    marked = 0  # notices with a ">" (the corpora hold no quoted run of three lines)
    for corpus in ("sisimai", "others"):
        for path in sorted((TESTS / "corpus" / corpus / "emails").glob("*.eml")):
            text = _notice_text(walk(load(path.read_bytes(), Limits())[0]), Limits())
            for notice in (text, textformats._split(text)[0], text.replace("\n", "\n> ")):
                _same_quoted_run(notice)
                marked += ">" in notice
    assert marked > 300


def test_quoted_runs_indented_with_blanks() -> None:
    for notice in (
        "x <a@b>\n\t> 1\n\t> 2\n\t> 3\n",
        "x\n \t> 1\n  > 2\n\t > 3\ny",
        "a > b\n> 1\n>> 2\n> 3\n> 4\n",  # (a ">>" line is quoted too; ">>>" is not)
        "a\n>>> x\n> 1\n> 2\n> 3\n",
    ):
        assert _same_quoted_run(notice), notice

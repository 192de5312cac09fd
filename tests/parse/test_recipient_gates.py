"""The recipient scan's cheap gates refuse only lines their regex cannot match, so `_hit`
answers what it answered with the substring tests they replaced (the replaced table is kept
here as the reference)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import TESTS

from reconciler.parse import recipients
from reconciler.parse.fields import is_system_address
from reconciler.parse.mime import Limits, load, part_text, walk

_CORPORA = [TESTS / "corpus" / "sisimai" / "emails", TESTS / "corpus" / "others" / "emails"]

_Row = tuple[str, str, tuple[str, ...], Callable[[str], bool] | None, re.Pattern[str]]


def _replaced_table() -> tuple[_Row, ...]:
    """`_HIT_RES` as it was: the label and keyword-bracket regexes behind word tests only."""
    rows = list(recipients._HIT_RES)
    label = rows[0]
    bracket = rows[4]
    assert label[3] is recipients._labelled and bracket[3] is recipients._keyed_bracket
    label_words = ("recipient", "rcpt", "address", "user", "mailbox", "destinataire", "empfänger")
    bracket_words = ("recipient", "rcpt", "address", "user", "mailbox")
    rows[0] = (label[0], label[1], label_words, None, label[4])
    rows[4] = (bracket[0], bracket[1], bracket_words, None, bracket[4])
    return tuple(rows)


_REPLACED = _replaced_table()


def _replaced_hit(line: str, exclude: frozenset[str], listed: bool) -> str | None:
    """`_hit` as it was (its body, with the replaced table)."""
    if "@" not in line:
        return None
    low = line[:1000].lower()
    for needle, other, words, gate, regex in _REPLACED:
        if needle not in low and (not other or other not in low):
            continue
        if words and not any(word in low for word in words):
            continue
        if gate is not None and not gate(low):
            continue
        found = regex.search(low)
        if found is None:
            continue
        address = found.group(1).strip(".")
        if is_system_address(address):
            continue
        if address not in exclude or (listed and regex is recipients._LINE_START_RE):
            return address
    return None


def _gates_hold(line: str) -> None:
    """Each gate passes every line its regex matches; `_hit` answers as the replaced one."""
    low = line.lower()
    for _, _, _, gate, regex in recipients._HIT_RES:
        if gate is not None and regex.search(low) is not None:
            assert gate(low), (gate.__name__, line)
    exclude = frozenset({"ours@example.org"})
    for listed in (False, True):
        assert recipients._hit(line, exclude, listed) == _replaced_hit(line, exclude, listed)


# Pieces that make and break the label and keyword patterns: labels and their last words,
# separators, white space of str (and of the regex), brackets, addresses.
_PIECES = [
    "final-recipient", "recipient", "recipients", "(s)", "address", "(es)", "original-rcpt-to",
    "user", " id", "mailbox", "destinataire", "empfänger", "invalid ", "failed ", "rcpt",
    "x", "r", "a", "u", "m", "-", "*", ">", "•", ":", "=", ";", " ", "  ", "\t", "\u3000",
    "\x1c", "<", "rfc822; ", "a@b.example", "ours@example.org", "mailer-daemon@b.example",
    "'", '"', ".", "to ", "deliver", "550 ", "5.1.1 ", "\n",
]  # fmt: skip


@settings(max_examples=4000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=16).map("".join))
def test_generated_lines_hit_as_before(line: str) -> None:
    _gates_hold(line)


@pytest.mark.parametrize(
    "line",
    [
        "Final-Recipient: rfc822; a@b.example",
        "   Recipient(s) address = <a@b.example>",
        "Recipient(s): a@b.example",
        "> Address(es)= a@b.example",
        "Invalid user ID: a@b.example",
        "* Original-Rcpt-To:a@b.example",
        "Some other words: a@b.example",  # a colon, no label before it
        "Recipient a@b.example: 550 no such user",  # a label, but the colon comes later
        "user id\u3000: a@b.example",  # str's white space is the regex's
        "rejected recipient <a@b.example>",
        "Address:\t<a@b.example>",
        "address :: <a@b.example>",  # two separators: no keyword bracket
        "[Status: Error, Address: <a@b.example>, ResponseText: 550]",
        "x <y> recipient <a@b.example>",  # the keyword's bracket is not the first
        "superuser <a@b.example>",  # refused by the regex's look-behind, let through here
    ],
)
def test_chosen_lines_hit_as_before(line: str) -> None:
    _gates_hold(line)


def _lines() -> list[str]:
    out = []
    for corpus in _CORPORA:
        for path in sorted(corpus.glob("*.eml")):
            root = load(path.read_bytes(), Limits())[0]
            for part in walk(root):
                if part.content_type.startswith("text/"):
                    out += [ln for ln in part_text(part.entity, Limits()).split("\n") if "@" in ln]
    return out


def test_corpus_lines_hit_as_before() -> None:
    lines = _lines()
    assert len(lines) > 1000  # the corpora are there
    for line in lines:
        _gates_hold(line)


def _transcript_gate_holds(line: str) -> None:
    if recipients._TRANSCRIPT_RE.match(line):
        assert ">..." in line, line


_TRANSCRIPT_PIECES = [
    "<<<", " ", "\t", "550", "554-", "4", "5.1.1 ", "5.", ".1", "<", ">", "a@b.example", "...",
    "..", ".", "x",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_TRANSCRIPT_PIECES), max_size=12).map("".join))
def test_generated_transcript_lines_hold_the_gate_word(line: str) -> None:
    _transcript_gate_holds(line)


def test_corpus_transcript_lines_hold_the_gate_word() -> None:
    lines = _lines()
    assert sum(1 for line in lines if recipients._TRANSCRIPT_RE.match(line)) > 10
    for line in lines:
        _transcript_gate_holds(line)


def _replaced_spans(lines: list[str], starts: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """`_spans` as it was: the transcript regex tried on every recipient line."""
    spans: list[tuple[int, int]] = []
    floor = -1
    for index, _ in starts:
        if recipients._TRANSCRIPT_RE.match(lines[index]):
            start = index
            while start - 1 > floor and recipients._EXCHANGE_RE.match(lines[start - 1]):
                start -= 1
            stop = index + 1
            while stop < len(lines) and recipients._owned(lines[stop]):
                stop += 1
            spans.append((start, stop))
        else:
            spans.append((index, index + 40))
        floor = index
    return [
        (start, min(end, spans[n + 1][0]) if n + 1 < len(spans) else min(end, len(lines)))
        for n, (start, end) in enumerate(spans)
    ]


def test_corpus_spans_as_before() -> None:
    transcripts = 0
    for corpus in _CORPORA:
        for path in sorted(corpus.glob("*.eml")):
            root = load(path.read_bytes(), Limits())[0]
            for part in walk(root):
                if not part.content_type.startswith("text/"):
                    continue
                lines = part_text(part.entity, Limits()).split("\n")
                starts = [(n, "") for n, line in enumerate(lines) if "<" in line]
                assert recipients._spans(lines, starts) == _replaced_spans(lines, starts)
                transcripts += sum(
                    1 for n, _ in starts if recipients._TRANSCRIPT_RE.match(lines[n])
                )
    assert transcripts > 10

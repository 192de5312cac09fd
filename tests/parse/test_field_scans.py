"""The field scans tried only where a match can start answer what the regex searches they
replaced answer (`_X_RE.search(text)`, kept here as the reference)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import TESTS

from reconciler.parse import fields
from reconciler.parse.mime import Limits, load, part_text, walk

_CORPORA = [TESTS / "corpus" / "sisimai" / "emails", TESTS / "corpus" / "others" / "emails"]

# The replaced forms: one regex search of the whole text each.
_SCANS: list[tuple[str, Callable[[str], re.Match[str] | None], re.Pattern[str]]] = [
    ("enhanced", fields._enhanced, fields._ENHANCED_RE),
    ("replied", fields._replied_status, fields._REPLIED_STATUS_RE),
    ("remote", fields._remote, fields._REMOTE_RE),
]

# Pieces that make and break the three patterns: class digits, dots, separators, quotes,
# the remote host's words and what its look-behinds refuse ("at host", "xhost").
_PIECES = [
    "2", "4", "5", "0", "1", "9", "55", "550", "5.", ".", "..", "1.", " ", "-", "'", '"', ":",
    "/", "#", "=", "host", "server", "mx", "at ", "x", "h", "s", "m", "ost", "erver", "[", "<",
    "(", "mail.example.jp", "192.0.2.1", "\n", "\t", "smtp; ", "a",
]  # fmt: skip


def _same(text: str) -> None:
    for name, scan, regex in _SCANS:
        got, want = scan(text), regex.search(text)
        assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups())), (
            name,
            text,
        )


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_generated_texts_scan_as_the_search(text: str) -> None:
    _same(text)


@pytest.mark.parametrize(
    "text",
    [
        "5.1.1",  # a code at the very start
        "550 5.1.1 user unknown",
        "550-'5.7.1 refused",  # the quoted code: its dot 6 after the start
        '550 "5.2.2 full',
        "0.5.5.1.1",  # refused by the look-behind, then a later start
        "x5.1.1 2.0.0",
        "host mx.example.jp [192.0.2.1]",
        "at host a.example: xhost b.example; smtp server c.example",
        "mx: d.example",
        "",
        ".",
    ],
)
def test_chosen_texts_scan_as_the_search(text: str) -> None:
    _same(text)
    _same(text.lower())


def _notices() -> list[str]:
    out = []
    for corpus in _CORPORA:
        for path in sorted(corpus.glob("*.eml")):
            root = load(path.read_bytes(), Limits())[0]
            for part in walk(root):
                if part.content_type.startswith("text/") or "status" in part.content_type:
                    out.append(part_text(part.entity, Limits()))
    return out


def test_corpus_texts_scan_as_the_search() -> None:
    """Every text part of both corpora, as is, lower-cased, and cut as the callers cut it."""
    texts = _notices()
    assert len(texts) > 500
    found = 0
    for text in texts:
        for variant in (text, text.lower(), text[:2000], text[:3000].lower()):
            _same(variant)
        found += fields._replied_status(text[:2000]) is not None
    assert found > 50  # the corpus exercises the matches, not only their absence


def _old_reply_code(text: str) -> str | None:
    """The replaced reader: every match of one regex search over the text, in order."""
    first: str | None = None
    for found in fields._REPLY_RE.finditer(text[:4000]):
        code = found.group(1)
        if code[0] != "2":
            return code
        if first is None:
            first = code
    return first


_CODE_PIECES = [
    "2", "4", "5", "0", "3", "6", "9", "22", "250", "421", "550", "555", "5.", ".", ". ", ":",
    "-", " ", ",", ";", "#", "/", "=", "\n", "x", "\u0663", "12:30", "192.0.2.1", "#550",
]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_CODE_PIECES), max_size=30).map("".join))
def test_generated_reply_codes_as_the_search(text: str) -> None:
    assert fields._reply_code(text) == _old_reply_code(text), text


@pytest.mark.parametrize(
    "text",
    [
        "250 ok 550 no",
        "2555 550",  # the class digit inside a longer number, then a code
        "220-mx 421 4.7.0",
        "a 5555 b 255 c",
        "x" * 3998 + " 550",  # cut at 4,000 characters
        "550\u0663 451",  # a digit of another script after the code
        "",
    ],
)
def test_chosen_reply_codes_as_the_search(text: str) -> None:
    assert fields._reply_code(text) == _old_reply_code(text)


def test_corpus_reply_codes_as_the_search() -> None:
    codes = 0
    for text in _notices():
        for variant in (text, text[:2000], text[-3000:]):
            assert fields._reply_code(variant) == _old_reply_code(variant)
        codes += _old_reply_code(text) is not None
    assert codes > 300

"""`reconciler.controls`: control characters of message text shown as escapes, and JSON that
is faithful to the text yet safe on a terminal."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.controls import dumps, neutralise

UNSAFE = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + list(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\ud800"
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("550 5.1.1 user unknown", "550 5.1.1 user unknown"),
        ("a\x1b[2Jb", r"a\x1b[2Jb"),
        ("\x1b]0;title\x07", r"\x1b]0;title\x07"),
        ("line\r\nnext\ttab", r"line\r\nnext\ttab"),
        ("\x9b31m\x7f\x00", r"\x9b31m\x7f\x00"),
        ("gnp.\u202eexe", r"gnp.\u202eexe"),
        ("lone \ud83d", r"lone \ud83d"),
        ("[link=https://x.example/]ünïcödé ✓[/]", "[link=https://x.example/]ünïcödé ✓[/]"),
    ],
)
def test_neutralise_shows_each_control_as_its_escape(text: str, shown: str) -> None:
    assert neutralise(text) == shown


def test_neutralise_keeps_line_feeds_only_when_asked() -> None:
    assert neutralise("a\r\nb\nc\rd\x1b", lines=True) == "a\nb\nc\\rd\\x1b"
    assert neutralise("a\nb") == "a\\nb"


@given(st.text())
def test_nothing_unsafe_survives_neutralise(text: str) -> None:
    for lines in (False, True):
        shown = neutralise(text, lines=lines)
        assert not any(char in shown for char in UNSAFE if not (lines and char == "\n"))


@given(st.recursive(st.text() | st.integers() | st.none(), lambda inner: st.lists(inner)
                    | st.dictionaries(st.text(), inner)))  # fmt: skip
def test_dumps_is_faithful_and_has_no_raw_control(value: object) -> None:
    text = dumps(value, indent=2)
    assert json.loads(text) == value
    assert not any(char in text for char in UNSAFE if char != "\n")  # the indent's own


def test_every_character_escaped_is_one_isprintable_rejects() -> None:
    """The premise of the shortcut: a printable text holds nothing to escape, so `neutralise`
    and `dumps` return it without a search (and without compiling their patterns)."""
    from reconciler.controls import _pattern

    for which in ("shown", "shown_but_lines", "json_raw"):
        found = [c for c in range(0x110000) if _pattern(which).fullmatch(chr(c))]
        assert len(found) > 2000  # the surrogates at least: the classes are not empty
        assert [hex(c) for c in found if chr(c).isprintable()] == []
    text = "ünïcödé ✓ 550 5.1.1 <kim@example.org>"
    assert text.isprintable() and neutralise(text) is text and dumps(text) == f'"{text}"'


@pytest.mark.parametrize("indent", [None, 2])
def test_ascii_json_escapes_its_del_and_nothing_else(indent: int | None) -> None:
    """The ASCII shortcut of `dumps`: JSON escapes C0 itself, DEL is the one ASCII control
    it leaves raw, and a text without either comes back as encoded."""
    value = ["a\x7fb", "c\x1bd"]
    text = dumps(value, indent=indent)
    assert "\x7f" not in text and "a\\u007fb" in text and json.loads(text) == value
    assert text == json.dumps(value, indent=indent).replace("\x7f", "\\u007f")
    plain = {"status": "5.1.1", "diagnostic": "550 user unknown"}
    assert dumps(plain, indent=indent) == json.dumps(plain, indent=indent)

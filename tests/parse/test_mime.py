"""The MIME loader's header decoding: its own RFC 2047 reader gives the library's answer."""

from __future__ import annotations

import base64
import binascii
import quopri
from email.errors import MessageError
from email.header import decode_header, make_header

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.parse import encodedwords
from reconciler.parse.mime import decoded


def _library(text: str) -> str:
    """The form the reader replaced: the email package's decode and join."""
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeError, MessageError):
        return text


def _reader(text: str) -> str:
    return encodedwords._word_decoder()(text)


_CHARSETS = [
    "utf-8", "UTF-8", "us-ascii", "ascii", "iso-8859-1", "ISO-8859-15", "latin_1", "iso-2022-jp",
    "euc-jp", "shift_jis", "gb2312", "unknown-8bit", "utf-8*en", "x-bogus", "", "none", "é",
]  # fmt: skip
_TEXTS = ["André Brás", "kijitora@example.jp", "配信", "(x)", "a_b=c?", "", " ", "Status (Failure)"]
_PLAIN = [
    "a", "Re:", " ", "  ", "\t", "\n", "\n ", "\x0c", "\x85", "é", "(", ")", "\\", "<x@y.z>",
    "=?", "?=", "=?utf-8?q?", "=?utf-8?b?QQ", "_", "=",
]  # fmt: skip


def _encode(text: str, charset: str, kind: str) -> str:
    try:
        raw = text.encode(charset.partition("*")[0] or "ascii")
    except (LookupError, UnicodeError):
        raw = text.encode("utf-8")
    if kind in "bB":
        payload = base64.b64encode(raw).decode("ascii")
    else:
        payload = quopri.encodestring(raw, header=True).decode("ascii")
    return f"=?{charset}?{kind}?{payload}?="


_ENCODED = st.builds(
    _encode, st.sampled_from(_TEXTS), st.sampled_from(_CHARSETS), st.sampled_from("qQbB")
)
_JUNK = st.builds(
    "=?{}?{}?{}?=".format,
    st.sampled_from(_CHARSETS),
    st.sampled_from("qQbB"),
    st.text(alphabet="AQZaz09+/=_? \té", max_size=9),
)
_PIECES = st.one_of(st.sampled_from(_PLAIN), _ENCODED, _JUNK, st.text(max_size=4))


@settings(max_examples=600)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_reader_gives_the_library_answer(text: str) -> None:
    assert _reader(text) == _library(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=?utf-8?B?QW5kcsOpIEJyw6Fz?= <dummy@example.com>", "André Brás <dummy@example.com>"),
        ("=?iso-8859-15?Q?Status_=28Failure=29?=", "Status (Failure)"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # the space between two words is dropped
        ("=?utf-8?q?a?=<x@y.z>", "a <x@y.z>"),  # a space between encoded and plain text
        ("=?x-bogus?q?a?= b", "=?x-bogus?q?a?= b"),  # an unknown charset: the text as it is
        ("=?utf-8?b?QQ?=", "A"),  # missing padding
    ],
)
def test_encoded_words(text: str, expected: str) -> None:
    assert decoded(text) == expected
    assert _library(text) == expected or "bogus" in text


def test_a_word_cut_by_a_line_break_is_the_library_reading() -> None:
    # a form feed ends a line for str.splitlines but not for the word pattern
    text = "=?utf-8?q?a\x0cb?= =?utf-8?q?c?="
    assert _reader(text) == _library(text)


def test_bad_base64_leaves_the_text() -> None:
    text = "=?utf-8?b?A?="
    with pytest.raises(binascii.Error):
        binascii.a2b_base64(b"A===")
    assert _reader(text) == text == _library(text)


@settings(max_examples=300)
@given(st.text(alphabet="a\udc7f\udc80\udcc0\udcff\udd00é", max_size=8))
def test_escaped_bytes_found_as_by_the_character_loop(text: str) -> None:
    loop = any("\udc80" <= char <= "\udcff" for char in text)
    assert (encodedwords._ESCAPED_RE.search(text) is not None) == loop


def test_stray_8bit_bytes_read_as_utf8() -> None:
    raw = "caf\u00e9  au lait".encode()
    assert decoded(raw.decode("ascii", "surrogateescape")) == "café au lait"
    # beside an encoded word: the library's answer (which leaves such a text as it is)
    raw = "caf\u00e9 =?utf-8?q?ol=C3=A9?=".encode()
    assert decoded(raw.decode("ascii", "surrogateescape")) == _library(raw.decode())

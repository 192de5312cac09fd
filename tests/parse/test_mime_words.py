"""Header values with RFC 2047 encoded words: the parser's own decoder for the common charsets
gives what email.header gives (`str(make_header(decode_header(value)))`, the value itself
where email.header raises)."""

from __future__ import annotations

import base64
from email.errors import MessageError
from email.header import decode_header, make_header

from hypothesis import given, settings
from hypothesis import strategies as st
from support import TESTS

from reconciler.parse import mime
from reconciler.parse.mime import Limits, load, walk


def _stdlib(text: str) -> str:
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeError, MessageError):
        return text


def _b(charset: str, text: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


_WORDS = [
    _b("utf-8", "André Brás"),
    _b("UTF-8", "配信エラー"),
    _b("iso-2022-jp", "不達"),
    _b("iso-8859-15", "Zoë €"),
    "=?utf-8?B?eHB0bw?=",  # padding missing
    "=?utf-8?B?eHB0b?=",  # padding that cannot be made right
    "=?utf-8?b?/w==?=",  # not UTF-8
    "=?iso-8859-1?Q?Delivery_Status_=28Failure=29?=",
    "=?utf-8?q?kijitora=40example=2Ejp?=",
    "=?utf-8?Q?caf=C3=A9_=E2=82=AC?=",
    "=?utf-8?Q?=FF?=",
    "=?us-ascii?Q?plain?=",
    "=?utf8?B?YQ==?=",  # an alias: left to email.header
    "=?x-unknown?Q?a?=",
    "=?utf-8*ja?Q?a?=",
    "=?utf-8?Q??=",
    "=?utf-8?B??=",
    "=?iso-2022-jp?B?GyRCJSIbKEI=?=",
]
_TEXT = [
    " ",
    "  ",
    "\t",
    "\n ",
    "\n\t",
    "\r\n ",
    "\x0b",
    "(",
    ")",
    "\\",
    "<a@b.example>",
    "x",
    "=?",
    "?=",
    "=?utf-8?Q?",
    "plain words",
    '"',
    "é",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_WORDS + _TEXT), max_size=12))
def test_generated_values_decode_as_email_header_decodes_them(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert mime._decode_words(text) == _stdlib(mime._decode_words_input(text))


def test_corpus_values_decode_as_email_header_decodes_them() -> None:
    simple = 0
    for corpus in ("sisimai", "others"):
        for path in sorted((TESTS / "corpus" / corpus / "emails").glob("*.eml")):
            for part in walk(load(path.read_bytes(), Limits())[0]):
                for _, value in part.entity.items:
                    if "=?" in value:
                        text = mime._decode_words_input(value)
                        assert mime._decode_words(value) == _stdlib(text), value
                        simple += mime._simple_words(text) is not None
    assert simple > 40  # the common case is the one taken here

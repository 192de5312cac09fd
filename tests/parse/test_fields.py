"""The shared field helpers: the reply code of a failure, the answers remembered."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.parse import fields
from reconciler.parse.fields import reply_code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("220-mx.example.net ESMTP 421 4.7.0 try later", "421"),  # a greeting is not the answer
        ("250 ok then 550 5.1.1 unknown and 552 full", "550"),
        ("250 2.0.0 ok", "250"),  # only 2xx: the first one
        ("220 hello 250 ok", "220"),
        ("no code at all", None),
        ("", None),
        (None, None),
        ("x" * 3999 + " 550 too far", None),  # only the first 4,000 characters are read
    ],
)
def test_reply_code_is_the_first_that_is_not_2xx(text: str | None, code: str | None) -> None:
    assert reply_code(text) == code


_SCANS = [
    (fields.enhanced_status, fields._STATUS_SEEN),
    (fields.reply_code, fields._REPLY_SEEN),
    (fields.bare_address, fields._ADDRESS_SEEN),
]
_PIECES = ["550", " 5.1.1", "4.2.2", "250 ok", "a@b.example", "<x@y.jp>", "rfc822;", " ", "x", "."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=6).map("".join), max_size=40))
def test_remembered_answers_are_the_scans_answers(texts: list[str]) -> None:
    """Asked again (remembered, None included) or after the memory was emptied when full,
    each helper answers what a fresh scan of the text answers."""
    for scan, seen in _SCANS:
        seen.clear()
        fresh = []
        for text in texts:
            fresh.append(scan(text))
            seen.clear()
        for _ in range(2):
            assert [scan(text) for text in texts] == fresh
    pairs = list(zip(texts, [None, *texts], strict=False))
    fields._ADDRESSES_SEEN.clear()
    lists = []
    for pair in pairs:
        lists.append(fields.all_addresses(*pair))
        fields._ADDRESSES_SEEN.clear()
    for _ in range(2):
        got = [fields.all_addresses(*pair) for pair in pairs]
        assert got == lists
        for found in got:
            found.append("changed@example.org")  # each caller's list is its own


def test_the_memory_of_answers_is_bounded() -> None:
    for scan, seen in _SCANS:
        for number in range(3 * fields._MAX_SEEN):
            scan(f"550 5.1.{number} u{number}@example.org")
        assert 0 < len(seen) <= fields._MAX_SEEN
        assert scan("550 5.1.7 u7@example.org") in {"5.1.7", "550", "u7@example.org"}
    for number in range(3 * fields._MAX_SEEN):
        fields.all_addresses(f"u{number}@example.org", None)
    assert 0 < len(fields._ADDRESSES_SEEN) <= fields._MAX_SEEN


def test_a_long_text_is_answered_but_never_kept() -> None:
    """A whole notice or a hostile header value is scanned each time: 128 of them kept
    would hold megabytes in a long-running daemon."""
    long = "550 5.1.1 <u@example.org> " + "x" * fields._MAX_KEPT
    for scan, seen in _SCANS:
        seen.clear()
        assert scan(long) in {"5.1.1", "550", "u@example.org"}
        assert long not in seen
    fields._ADDRESSES_SEEN.clear()
    assert fields.all_addresses(long, None) == ["u@example.org"]
    assert not fields._ADDRESSES_SEEN


def test_remote_host_reads_the_lower_cased_start_it_is_given() -> None:
    from reconciler.parse.fields import remote_host

    text = "550 5.1.1 unknown (Host: MX.Example.ORG)"
    assert remote_host(text) == "mx.example.org"
    assert remote_host(text, text[:3000].lower()) == "mx.example.org"
    assert remote_host(text, "") is None  # the given text is the one searched

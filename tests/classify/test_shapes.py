"""Diagnostic shapes (review groups) and their rule patterns (`rules suggest`)."""

from __future__ import annotations

import pytest
from support import SAMPLES, TESTS

from reconciler.classify.patterns import check, find
from reconciler.classify.shapes import diagnostic_shape, shape_id, shape_pattern
from reconciler.parse import parse


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        (
            "550 5.1.1 <kim@example.net>: User unknown (mx7.example.net)",
            "{n} {n}.{n}.{n} <{addr}>: user unknown ({host})",
        ),
        (
            "host mx.example.org[192.0.2.1] said: 452 4.2.2 Mailbox full at 12:34:56 "
            "via 2001:db8::1, queue id 4F1A2B3C4D",
            "host {host}[{ip}] said: {n} {n}.{n}.{n} mailbox full at {n}:{n}:{n} via {ip}, "
            "queue id {id}",
        ),
        (
            "550-5.1.1 The email account that you tried to reach does not exist.  Learn more "
            "at\n  https://support.google.com/mail/?p=NoSuchUser a640c23a62f3a-a9f2e1b3c5dsi1.50"
            " - gsmtp",
            "{n}-{n}.{n}.{n} the email account that you tried to reach does not exist. learn "
            "more at https://{host}/mail/?p=nosuchuser {id} - gsmtp",
        ),
        ("", ""),
        ("RFC5321 says: e.g. retry", "rfc{n} says: e.g. retry"),  # short tokens are words
    ],
)
def test_shapes_mask_what_changes_between_messages(text: str, shape: str) -> None:
    assert diagnostic_shape(text) == shape


def test_one_providers_messages_to_different_users_have_one_shape() -> None:
    refused = "Recipient address rejected (in reply to RCPT TO)"
    one = f"550 5.1.1 <ann@a.example>: {refused} id=7Gq2x9Zk"
    two = f"550 5.1.1 <bob.two@b.example>: {refused} id=A1b2C3d4"
    assert diagnostic_shape(one) == diagnostic_shape(two)
    assert shape_id("unmatched", diagnostic_shape(one)) == shape_id(
        "unmatched", diagnostic_shape(two)
    )
    assert shape_id("unmatched", "x") != shape_id("undetermined", "x")
    assert shape_id("unmatched", "x").startswith("g") and len(shape_id("unmatched", "x")) == 9


def _diagnostics() -> list[str]:
    found = []
    for path in sorted((TESTS / "corpus").rglob("*.eml")) + sorted(SAMPLES.rglob("*.eml")):
        found += [b.diagnostic for b in parse(path.read_bytes()).bounces if b.diagnostic]
    assert len(found) > 400
    return found


def test_the_pattern_of_each_real_diagnostics_shape_matches_it() -> None:
    """Every diagnostic of the corpus and the samples: its shape's pattern is valid RE2 and
    finds the text it came from (as a rule's `diagnostic` condition searches it)."""
    for text in _diagnostics():
        pattern = shape_pattern(diagnostic_shape(text))
        assert check(pattern) is None, pattern
        assert find(pattern, text) is not None, (pattern, text)


def test_a_long_shape_is_cut_at_a_word_and_never_inside_a_mask() -> None:
    shape = diagnostic_shape("word " * 60 + "<kim@example.net> tail")
    assert len(shape_pattern(shape)) < len(shape) * 3
    glued = "x" * 195 + "{addr}" + "y" * 20  # no space to cut at: the cut mask is dropped
    assert shape_pattern(glued).endswith("x") and "{" not in shape_pattern(glued)

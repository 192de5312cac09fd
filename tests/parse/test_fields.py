"""The shared field helpers: the reply code of a failure."""

from __future__ import annotations

import pytest

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


def test_remote_host_reads_the_lower_cased_start_it_is_given() -> None:
    from reconciler.parse.fields import remote_host

    text = "550 5.1.1 unknown (Host: MX.Example.ORG)"
    assert remote_host(text) == "mx.example.org"
    assert remote_host(text, text[:3000].lower()) == "mx.example.org"
    assert remote_host(text, "") is None  # the given text is the one searched

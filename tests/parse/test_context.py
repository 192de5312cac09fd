"""The notice context's header tests: each cheaper form gives the answer of the simple one."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.parse import context
from reconciler.parse.entity import field_key
from reconciler.parse.fields import ROLE_LOCALPARTS, all_addresses
from reconciler.parse.mime import MAX_VALUE, Limits, decoded, load, walk
from reconciler.records import OriginalMessage

_SUBJECT_WORDS = [
    "Undeliverable",
    "Mail Delivery",
    "DELIVERY  STATUS",
    "Returned\tmail",
    "not member",
    "MAILER-DAEMON",
    "Post_Master",
    "\u212a",  # Kelvin sign: re.IGNORECASE matches it to "k", lower() does not make it ASCII
    "\u017f",  # long s: re.IGNORECASE matches it to "s"
    "\u0130",  # capital I with dot: lower() makes two characters of it
    "配信",
    "Unzustellbar",
    "mail",
    "er",
    " ",
    "-",
]
_CONTENT_TYPE_WORDS = [
    "multipart/report",
    "Multipart/Report",
    "multipart/reports",
    "report-type",
    "xreport-type",
    " = ",
    "=",
    '"',
    "delivery-status",
    "global-",
    "; ",
    ";\n\t",
    "a",
]


def _joined(words: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(words), max_size=10).map("".join)


@settings(max_examples=2000, deadline=None)
@given(_joined(_SUBJECT_WORDS))
def test_folded_search_is_the_ignorecase_search(text: str) -> None:
    for regexes in (
        context._BOUNCE_SUBJECT_RES,
        context._LIST_ERROR_SUBJECT_RES,
        context._DAEMON_NAME_RES,
    ):
        simple = re.compile(regexes[0].pattern, re.IGNORECASE).search(text) is not None
        assert context._folded(regexes, text) is simple, text


def test_folded_search_keeps_the_case_folding_of_non_ascii_text() -> None:
    assert context._folded(context._DAEMON_NAME_RES, "Mailer-Daemon")
    # "po\u017ftmaster": re.IGNORECASE reads the long s as an "s"
    assert context._folded(context._DAEMON_NAME_RES, "po\u017ftmaster")
    assert not context._folded(context._DAEMON_NAME_RES, "po\u017f master")
    assert not context._folded(context._BOUNCE_SUBJECT_RES, None)


@settings(max_examples=2000, deadline=None)
@given(_joined(_CONTENT_TYPE_WORDS))
def test_dsn_report_is_the_one_regex_search(content_type: str) -> None:
    one = re.compile(
        r"multipart/report\b.*\breport-type\s*=\s*\"?(?:global-)?delivery-status", re.DOTALL
    )
    low = content_type.lower()
    assert context._dsn_report(low) is (one.search(low) is not None), low


def _simple_addressing(data: bytes) -> tuple[tuple[str, str], ...]:
    root = load(data, Limits())[0]
    return tuple(
        (field_key(name), decoded(value[:MAX_VALUE]) or "")
        for name, value in root.items
        if field_key(name) in context.ADDRESSING_HEADERS
    )


def test_addressing_reads_every_addressing_field_in_order() -> None:
    data = (
        b"Received: from a\nDelivered-To: one@example.org\nTO: two@example.org\n"
        b"Return-Path: <>\nX-Envelope-To: three@example.org\nCc: four@example.org\n"
        b"Content-Type: text/plain\nDelivered-To: five@example.org\nX-Original-To: six@x.org\n"
        b"ENVELOPE-TO: seven@example.org\nSubject: to\n\nbody\n"
    )
    found = context.addressing(load(data, Limits())[0])
    assert found == _simple_addressing(data)
    assert [key for key, _ in found] == [
        "delivered-to",
        "to",
        "x-envelope-to",
        "cc",
        "delivered-to",
        "x-original-to",
        "envelope-to",
    ]


_HTML_WORDS = ["<", ">", "<br>", "<BR/>", "</p>", "</DIV >", "</tr>", "</li>", "<b>", "x", "\n"]


@settings(max_examples=2000, deadline=None)
@given(_joined(_HTML_WORDS))
def test_tags_become_line_breaks_as_with_the_line_breaking_alternatives(html: str) -> None:
    """One tag one line break, the newline that ends its source line included (`<br>` then a
    newline is one break, not a blank line)."""
    old = re.compile(r"(?:<(?:br|/p|/div|/tr|/li)[^>]*>|<[^>]*>)(?:\r?\n)?", re.IGNORECASE)
    assert context._TAG_RE.sub("\n", html) == old.sub("\n", html)


def test_an_html_notice_reads_as_the_plain_one() -> None:
    """Character references decoded: the address in angle brackets that plain notices give,
    written as HTML by a system that sends its notices so; a line per `<br>`."""
    html = (
        "<p>Hi.<br>\r\n&lt;user@example.net&gt;:<br>\nRemote host said: 550 No&nbsp;such user<br>\n"
    )
    assert context._html_text(html) == (
        "\nHi.\n<user@example.net>:\nRemote host said: 550 No such user\n"
    )


def test_html_notice_is_read_when_no_plain_text_says_anything() -> None:
    data = (
        b"From: MAILER-DAEMON@example.org\nContent-Type: multipart/alternative; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: text/html\n\n"
        b"<p>Delivery failed:<br>user@example.net&nbsp;unknown</p>\n--b--\n"
    )
    parts = walk(load(data, Limits())[0])
    assert context._notice_text(parts, Limits()) == "\nDelivery failed:\nuser@example.net unknown\n"


_OLD_MULTIPART_REPORT_RE = re.compile(r"multipart/report\b")
_OLD_DELIVERY_REPORT_TYPE_RE = re.compile(r"\breport-type\s*=\s*\"?(?:global-)?delivery-status")


def _old_dsn_report(content_type: str) -> bool:
    """The replaced test: two regex searches."""
    found = _OLD_MULTIPART_REPORT_RE.search(content_type)
    return (
        found is not None
        and _OLD_DELIVERY_REPORT_TYPE_RE.search(content_type, found.end()) is not None
    )


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "multipart/report", "multipart/reports", "report-type", "report", "-type", "=",
                " ", "\t", '"', "global-", "delivery-status", ";", "x", "-", "a", "/",
            ]
        ),
        max_size=12,
    ).map("".join)
)  # fmt: skip
def test_delivery_report_container_as_the_searches(content_type: str) -> None:
    assert context._dsn_report(content_type) == _old_dsn_report(content_type), content_type


@pytest.mark.parametrize(
    ("content_type", "report"),
    [
        ("multipart/report; report-type=delivery-status", True),
        ('multipart/report; report-type="global-delivery-status"', True),
        ("multipart/reports; report-type=delivery-status", False),  # not the type's name
        ("multipart/reports; multipart/report; report-type=delivery-status", True),
        ("multipart/report; xreport-type=delivery-status", False),  # not the parameter
        ("multipart/report; xreport-type=x; report-type=delivery-status", True),
        ("multipart/report; report-type=x; report-type = delivery-status", True),
        ("report-type=delivery-status; multipart/report", False),  # the parameter before
        ("text/plain", False),
    ],
)
def test_delivery_report_container_chosen(content_type: str, report: bool) -> None:
    assert context._dsn_report(content_type) is report
    assert _old_dsn_report(content_type) is report


def _old_own_addresses(
    heads: dict[str, str], original: OriginalMessage | None, addressee: frozenset[str]
) -> frozenset[str]:
    """The replaced form: every role address built for every domain, each time."""
    senders = [heads.get("from", "")]
    if original is not None:
        senders += [original.from_ or "", original.return_path or "", original.sender or ""]
    own = all_addresses(*senders)
    domains = {address.partition("@")[2] for address in own}
    domains.update([address.partition("@")[2] for address in addressee])
    own += [f"{role}@{domain}" for domain in domains for role in ROLE_LOCALPARTS]
    return frozenset(own)


_SENDERS = ["", "a@x.example", "B <b@y.example>", "c@x.example, d@z.example", "no address"]


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(_SENDERS),
    st.none() | st.tuples(*[st.sampled_from(_SENDERS)] * 3),
    st.frozensets(st.sampled_from(["t@x.example", "u@w.example", "v@y.example"])),
)
def test_own_addresses_as_the_replaced_form(
    sender: str, original: tuple[str, str, str] | None, addressee: frozenset[str]
) -> None:
    heads = {"from": sender}
    message = None
    if original is not None:
        message = OriginalMessage(return_path=original[0], sender=original[1], from_=original[2])
    for _ in range(2):  # asked again: the role addresses remembered
        got = context._own_addresses(heads, message, addressee)
        assert got == _old_own_addresses(heads, message, addressee)


def test_remembered_role_addresses_are_bounded() -> None:
    for number in range(3 * context._MAX_ROLES_SEEN):
        assert context._role_addresses(f"d{number}.example")[0] == f"postmaster@d{number}.example"
    assert 0 < len(context._ROLES_SEEN) <= context._MAX_ROLES_SEEN

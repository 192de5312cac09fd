"""Failed recipients named in the text of a notice, by the layout, not one MTA's wording."""

from __future__ import annotations

import pytest

from reconciler.parse import parse
from reconciler.parse.recipients import scan
from reconciler.records import MessageKind


@pytest.mark.parametrize(
    "line",
    [
        # SurfControl's transcript header
        "Addressed To: ann@example.com",
        # the notice of an MTA that gave up on an uncollected message
        "The following message, addressed to 'ann@example.com',",
        # a notice that names the address first mailed
        "(Originally addressed to ann@example.com)",
        # Ipswitch's notice: the adjective form of "delivered to"
        "undeliverable  to ann@example.com",
        # the forms read before
        "Your message could not be delivered to <ann@example.com>",
        "error delivering your mail to ann@example.com",
    ],
)
def test_the_address_a_message_was_addressed_or_undeliverable_to(line: str) -> None:
    notice = f"Your message has encountered delivery problems\n\n{line}\n\nUser not known\n"
    assert [address for address, _ in scan(notice, frozenset())] == ["ann@example.com"]


def test_our_own_address_is_never_the_one_addressed() -> None:
    notice = "This notice is addressed to 'list-bounces@example.org'.\n"
    assert scan(notice, frozenset({"list-bounces@example.org"})) == []


_REPORT = (
    "From: Mail Gateway <gateway@mx.example.net>\nTo: list-bounces@example.org\n"
    "Subject: Nyaan\nMIME-Version: 1.0\n"
    'Content-Type: multipart/report;\n    report-type="{report}";\n    boundary="b"\n\n'
    "--b\nContent-Type: text/plain\n\nYour message could not be sent.\n"
    "ann@example.com: [192.0.2.1], 554 Service currently unavailable\n\n"
    # a status part that names no recipient: the text must
    "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
    "Action: failed\nStatus: 5.0.0\n\n--b--\n"
)


def test_a_delivery_report_container_is_a_bounce_signal() -> None:
    """RFC 6522 multipart/report of report-type delivery-status (RFC 3464) is a delivery
    report whatever its sender and subject say; its text names the recipient."""
    result = parse(_REPORT.format(report="delivery-status").encode())
    assert result.kind is MessageKind.BOUNCE
    assert [b.recipient for b in result.bounces] == ["ann@example.com"]


def test_another_report_type_is_no_bounce_signal() -> None:
    result = parse(_REPORT.format(report="disposition-notification").encode())
    assert result.kind is MessageKind.OTHER
    assert result.bounces == ()


def test_x_failed_recipients_in_any_case_and_every_header_decide() -> None:
    """Exim's X-Failed-Recipients is authoritative when the notice names one of them: the
    header's name in any case, every one of the headers read."""
    head = (
        "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
        "To: list-bounces@example.org\nSubject: Mail delivery failed\n"
        "x-FAILED-recipients: ann@example.com\nX-Failed-Recipients: bob@example.com\n\n"
    )
    notice = (
        "The following address(es) failed:\n\n  ann@example.com\n    unknown user\n\n"
        "  carl@example.com\n    unknown user\n"
    )
    result = parse((head + notice).encode())
    assert [b.recipient for b in result.bounces] == ["ann@example.com", "bob@example.com"]
    plain = parse((head.replace("x-FAILED-recipients: ann@example.com\n", "") + notice).encode())
    assert "bob@example.com" not in [b.recipient for b in plain.bounces]  # the notice's own

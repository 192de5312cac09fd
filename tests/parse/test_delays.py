"""Plain-text delay warnings: the notice says the delivery goes on, so it is a delay (its
recipients are reported, kind DELAY: never a bounce, never counted toward a suppression).

The wordings are the vendors' delay templates; each control is the same vendor's final
failure, which must stay a bounce.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from reconciler.parse import detectors, parse
from reconciler.records import MessageKind

_HEAD = "From: {sender}\nTo: list-bounces@example.org\nSubject: {subject}\n\n"

# (sender, subject, notice, kind)
CASES = [
    pytest.param(
        "Symantec_AntiVirus_for_SMTP_Gateways@gw.example.net",
        "Delivery failure notification",
        "Your message with Subject: Hello\ncould not be delivered to the following "
        "recipients:\n\nann@example.com\n\nPlease do not resend your original message.\n\n"
        "Delivery attempts will continue to be made for 5  day(s).\n",
        MessageKind.DELAY,
        id="symantec-gateway-delay",
    ),
    pytest.param(
        "MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        "Mail delivery status",  # not the template's "Delayed Mail" subject: the text decides
        "This is the mail system at host mx.example.net.\n\n"
        "####################################################################\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
        "####################################################################\n\n"
        "Your message could not be delivered for more than 4 hour(s).\n"
        "It will be retried until it is 5 day(s) old.\n\n"
        "<ann@example.com>: connect to mx.example.com[192.0.2.1]:25: Connection timed out\n",
        MessageKind.DELAY,
        id="postfix-delay-template",
    ),
    pytest.param(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification",  # without "(Delay)"
        "This is an automatically generated Delivery Status Notification\n\n"
        "THIS IS A WARNING MESSAGE ONLY.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n"
        "Delivery to the following recipient has been delayed:\n\n     ann@example.com\n\n"
        "Message will be retried for 2 more day(s)\n",
        MessageKind.DELAY,
        id="gmail-delay",
    ),
    pytest.param(
        "MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        "Undelivered Mail Returned to Sender",
        "This is the mail system at host mx.example.net.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        "<ann@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1 <ann@example.com>:"
        " Recipient address rejected: User unknown in local recipient table (in reply to "
        "RCPT TO command)\n",
        MessageKind.BOUNCE,
        id="postfix-failure-control",
    ),
    pytest.param(
        "Mail Delivery System <Mailer-Daemon@mx.example.net>",
        "Mail delivery failed: returning message to sender",
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  ann@example.com\n    retry timeout exceeded\n",
        MessageKind.BOUNCE,
        id="exim-failure-control",
    ),
]


@pytest.mark.parametrize(("sender", "subject", "notice", "kind"), CASES)
def test_a_notice_that_says_delivery_goes_on_is_a_delay(
    sender: str, subject: str, notice: str, kind: MessageKind
) -> None:
    result = parse((_HEAD.format(sender=sender, subject=subject) + notice).encode())
    assert result.kind is kind
    assert [(b.recipient, b.kind) for b in result.bounces] == [("ann@example.com", kind)]


_DELAY_PIECES = [
    "(delay)", "message", "delayed", "has", "not", "yet", "been", "delivered", "will", "keep",
    "trying", "delivery", "attempts", "continue", "be", "retried", "for", "until", "warning",
    "only", "do", "don't", "need", "to", "resend", "x", " ", "  ", "\n", "\t", "\u00a0",
]  # fmt: skip


def test_the_delay_phrase_gate_finds_what_the_search_finds() -> None:
    rng = random.Random(1616)
    texts = [
        "".join(rng.choice(_DELAY_PIECES) for _ in range(rng.randint(1, 12))) for _ in range(6000)
    ]
    corpus = Path(__file__).resolve().parents[1] / "corpus" / "sisimai" / "emails"
    texts += [
        f.read_bytes().decode("utf-8", "replace").lower() for f in sorted(corpus.glob("*.eml"))
    ]
    found = 0
    for text in texts:
        expected = detectors._DELAY_RE.search(text) is not None
        assert detectors._delay_phrase(text) is expected, text
        found += expected
    assert found > 100  # the generated texts do hold delay phrases

"""A Sieve `reject` after delivery (RFC 5429 2.2.2) answers with an MDN (RFC 8098) that names
the recipient in Final-Recipient and the reason in its text: a bounce, about that recipient.
Any other MDN (a read receipt) is not a bounce."""

from __future__ import annotations

from reconciler.parse import parse
from reconciler.records import MessageKind, ParsedMessage

_MDN = (
    "From: {sender}\nTo: <list-bounces@example.org>\n"
    "Subject: {subject}\nMIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=disposition-notification;\n"
    '\tboundary="b"\n\n'
    "--b\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
    "--b\nContent-Type: message/disposition-notification\n\n"
    "Reporting-UA: mail; Sieve\nFinal-Recipient: rfc822; ann@example.com\n"
    "Original-Message-ID: <1@example.org>\nDisposition: {disposition}\n\n--b--\n"
)


def _parse_mdn(sender: str, subject: str, text: str, disposition: str) -> ParsedMessage:
    mdn = _MDN.format(sender=sender, subject=subject, text=text, disposition=disposition)
    return parse(mdn.encode())


def test_a_sieve_reject_is_a_bounce_for_its_final_recipient() -> None:
    result = _parse_mdn(
        "Mail Delivery Subsystem <admin@mail.example.com>",
        "Automatically rejected mail",
        "Your message to <ann@example.com> was automatically rejected:\nQuota exceeded",
        "automatic-action/MDN-sent-automatically; deleted",
    )
    assert result.kind is MessageKind.BOUNCE
    (bounce,) = result.bounces
    assert (bounce.recipient, bounce.detector) == ("ann@example.com", "sieve-reject")
    assert "Quota exceeded" in bounce.diagnostic


def test_a_read_receipt_is_not_a_bounce() -> None:
    result = _parse_mdn(
        "Ann <ann@example.com>",
        "Read: your newsletter",
        "The message was displayed on the recipient's computer.",
        "manual-action/MDN-sent-manually; displayed",
    )
    assert result.kind is MessageKind.OTHER
    assert result.bounces == ()

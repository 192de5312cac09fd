"""Messages that are not bounces: ARF complaint reports (RFC 5965) and auto-replies (RFC 3834)."""

from __future__ import annotations

import re

from reconciler.parse.fields import all_addresses, bare_address, fold
from reconciler.parse.lazyre import Lazy
from reconciler.parse.mime import Part, decoded, header_text
from reconciler.parse.rfc3464 import fields_from_part
from reconciler.records import UNDISCLOSED_RECIPIENT, MessageKind, OriginalMessage, ParsedBounce

__all__ = ["auto_reply", "complaint_copy", "feedback_report", "unsubscribe_request"]

_AUTO_SUBJECT_RE = Lazy(
    r"^\W*(?:auto(?:matic)?[ _-]?(?:reply|response|respons|answer|antwort)\b|auto:|"
    r"automatische\s+antwort|réponse\s+automatique|respuesta\s+automática|"
    r"out\s+of\s+(?:the\s+)?office|away\s+(?:from|until|till)|on\s+(?:vacation|leave)|"
    r"vacation\b|abwesenheit|"
    r"i\s+am\s+(?:away|out)|absence|自動応答|自動返信|不在)",
    re.IGNORECASE,
)
# Header presence (any value) that marks an automatic reply.
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-vacation")
_PRECEDENCE_AUTO = ("auto_reply", "auto-reply", "autoreply")


def feedback_report(parts: list[Part], original: OriginalMessage | None) -> list[ParsedBounce]:
    """One FEEDBACK result per complaining recipient, or [] when there is no ARF report part."""
    report = next((p for p in parts if p.content_type == "message/feedback-report"), None)
    if report is None:
        return []
    fields = [field for block in fields_from_part(report.entity) for field in block]
    feedback_type = next((v.strip().lower() for n, v in fields if n == "feedback-type"), None)
    recipients = [addr for n, v in fields if n == "original-rcpt-to" for addr in all_addresses(v)]
    if not recipients and original is not None:
        recipients = all_addresses(original.to)
    extensions = tuple((n, fold(v, 500)) for n, v in fields if n != "original-rcpt-to")
    targets = [*dict.fromkeys(recipients)] or [UNDISCLOSED_RECIPIENT]
    return [
        ParsedBounce(
            kind=MessageKind.FEEDBACK,
            recipient=recipient,
            detector="arf",
            feedback_type=feedback_type,
            extensions=extensions,
        )
        for recipient in targets
    ]


def complaint_copy(parts: list[Part]) -> list[ParsedBounce]:
    """Microsoft JMRP: the complained-about message attached with X-HmXmrOriginalRecipient."""
    for part in parts:
        if part.content_type != "message/rfc822" or part.in_original:
            continue
        inner = part.entity.parts
        if not inner:
            continue
        recipient = bare_address(header_text(inner[0], "x-hmxmroriginalrecipient"))
        if recipient:
            return [
                ParsedBounce(
                    kind=MessageKind.FEEDBACK,
                    recipient=recipient,
                    detector="jmrp",
                    feedback_type="abuse",
                )
            ]
    return []


def unsubscribe_request(heads: dict[str, str]) -> list[ParsedBounce]:
    """Apple Mail's one-click unsubscribe message (X-Apple-Unsubscribe): an opt-out complaint."""
    if heads.get("x-apple-unsubscribe", "").strip().lower() != "true":
        return []
    sender = bare_address(decoded(heads.get("from")))
    return [
        ParsedBounce(
            kind=MessageKind.FEEDBACK,
            recipient=sender,
            detector="unsubscribe",
            feedback_type="opt-out",
        )
    ]


def auto_reply(heads: dict[str, str], subject: str | None) -> list[ParsedBounce]:
    """A VACATION result for the replying address when the message is an automatic reply."""
    auto = heads.get("auto-submitted", "").strip().lower()
    precedence = heads.get("precedence", "").strip().lower()
    marked = (
        auto.startswith("auto-replied")
        or any(name in heads for name in _AUTO_HEADERS)
        or precedence in _PRECEDENCE_AUTO
        or bool(subject and _AUTO_SUBJECT_RE.search(subject))
    )
    if not marked:
        return []
    replier = bare_address(decoded(heads.get("from")))
    return [ParsedBounce(kind=MessageKind.VACATION, recipient=replier, detector="rfc3834")]

"""Provider notifications that are not mail-formatted bounces: Amazon SES JSON (SNS e-mail)."""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.parse.fields import bare_address, enhanced_status, fold, reply_code, split_typed
from reconciler.records import MessageKind, ParsedBounce

__all__ = ["ses_notification"]

_KINDS = {
    "bounce": MessageKind.BOUNCE,
    "complaint": MessageKind.FEEDBACK,
    "delivery": MessageKind.DELIVERED,
}
_UNWRAP_RE = re.compile(r"\n ?")


def _load(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    chunk = text[start : end + 1]
    for candidate in (chunk, _UNWRAP_RE.sub("", chunk)):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            return _load(data["Message"])  # the SNS envelope around the SES message
        return data if isinstance(data, dict) else None
    return None


def _rows(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    body = data.get(kind) or data.get(kind.capitalize()) or {}
    if not isinstance(body, dict):
        return []
    if kind == "delivery":
        response = str(body.get("smtpResponse") or "")
        rcpts = body.get("recipients") or []
        return [
            {"emailAddress": r, "diagnosticCode": response, "action": "delivered"} for r in rcpts
        ]
    key = "bouncedRecipients" if kind == "bounce" else "complainedRecipients"
    rows = body.get(key) or []
    return [row for row in rows if isinstance(row, dict)]


def _bounce(row: dict[str, Any], kind: MessageKind, feedback: str | None) -> ParsedBounce:
    diag_type, diagnostic = split_typed(str(row.get("diagnosticCode") or ""))
    status = str(row.get("status") or "") or enhanced_status(diagnostic)
    return ParsedBounce(
        kind=kind,
        recipient=bare_address(f"<{row.get('emailAddress') or ''}>"),
        detector="amazonses-json",
        action=str(row.get("action") or "") or None,
        status=status or None,
        reply_code=reply_code(diagnostic),
        diagnostic=fold(diagnostic),
        diagnostic_type=diag_type,
        feedback_type=feedback,
    )


def ses_notification(text: str) -> list[ParsedBounce]:
    """One result per recipient of an SES Bounce/Complaint/Delivery notification, else []."""
    if "notificationType" not in text:  # (the SNS envelope's escaped form holds it too)
        return []
    data = _load(text)
    if data is None:
        return []
    kind_name = str(data.get("notificationType") or data.get("eventType") or "").lower()
    kind = _KINDS.get(kind_name)
    if kind is None:
        return []
    complaint = data.get("complaint")
    feedback = complaint.get("complaintFeedbackType") if isinstance(complaint, dict) else None
    return [_bounce(row, kind, feedback) for row in _rows(data, kind_name)]

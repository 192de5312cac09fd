"""The `classify` command's output: one row per (message, recipient), and its stable JSON.

Plain records and dicts, no terminal: `classify --json` writes these without the tables of
`report.classify` (and without rich).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.frozenrecord import frozen_record
from reconciler.records import MessageKind, VerpMatch

if TYPE_CHECKING:  # a type only: `verp check --json` does not load the parser and the rules
    from reconciler.analysis import Analysis

__all__ = ["ResultRow", "result_json", "result_rows", "row_json", "verp_json"]


@frozen_record
class ResultRow:
    """One output line of `classify`: a (message, recipient) pair, or the message alone."""

    file: str
    kind: MessageKind
    recipient: str | None
    status: str | None = None
    reply_code: str | None = None
    reason: str | None = None
    severity: str | None = None
    fault: str | None = None
    rule: str | None = None
    diagnostic: str | None = None
    remote_mta: str | None = None
    original_message_id: str | None = None
    verp: VerpMatch | None = None
    original_recipient: str | None = None
    stage: str | None = None
    error: str | None = None


def result_rows(label: str, analysis: Analysis) -> list[ResultRow]:
    """The classify output rows of one message (at least one)."""
    msg = analysis.message
    original_id = msg.original.message_id if msg.original else None
    rows = [
        ResultRow(
            file=label,
            kind=v.bounce.kind,
            recipient=v.bounce.recipient,
            status=v.bounce.status,
            reply_code=v.bounce.reply_code,
            reason=v.classification.reason.value,
            severity=v.classification.severity.value,
            fault=v.classification.fault.value,
            rule=v.classification.rule_id,
            diagnostic=v.bounce.diagnostic or None,
            remote_mta=v.bounce.remote_mta,
            original_message_id=original_id,
            verp=analysis.verp,
            original_recipient=v.bounce.original_recipient,
            stage=v.bounce.stage.value,
        )
        for v in analysis.verdicts
    ]
    if rows:
        return rows
    kind = MessageKind.ERROR if msg.kind is MessageKind.ERROR else MessageKind.OTHER
    return [
        ResultRow(
            file=label,
            kind=kind,
            recipient=None,
            original_message_id=original_id,
            verp=analysis.verp,
            error=msg.error,
        )
    ]


def result_json(label: str, analysis: Analysis) -> list[dict[str, object]]:
    """`row_json` of each of `result_rows(label, analysis)`, without the rows: what
    `classify --json` writes for one message (the rows, frozen dataclasses, serve the tables
    only: with them, 3 times the work for 1,260 messages; a test holds the two ways equal)."""
    msg = analysis.message
    original_id = msg.original.message_id if msg.original else None
    verp = verp_json(analysis.verp)
    out: list[dict[str, object]] = []
    for v in analysis.verdicts:
        bounce, found = v.bounce, v.classification
        out.append(
            {
                "file": label,
                "kind": bounce.kind.value,
                "recipient": bounce.recipient,
                "original_recipient": bounce.original_recipient,
                "stage": bounce.stage.value,
                "status": bounce.status,
                "reply_code": bounce.reply_code,
                "reason": found.reason.value,
                "severity": found.severity.value,
                "fault": found.fault.value,
                "rule": found.rule_id,
                "diagnostic": bounce.diagnostic or None,
                "remote_mta": bounce.remote_mta,
                "original_message_id": original_id,
                "verp": verp,
            }
        )
    return out or [row_json(row) for row in result_rows(label, analysis)]


def verp_json(match: VerpMatch | None) -> dict[str, object] | None:
    if match is None:
        return None
    return {
        "valid": match.valid,
        "realm": match.realm,
        "user": match.user_id,
        "issued": match.issued,
        "key_id": match.key_id,
        "format": match.format,
        "address": match.address,
        "found_in": match.found_in,
        "failure": match.failure.value if match.failure else None,
    }


def row_json(row: ResultRow) -> dict[str, object]:
    """The stable JSON shape of a classify row (documented in docs/cli.md)."""
    out: dict[str, object] = {
        "file": row.file,
        "kind": row.kind.value,
        "recipient": row.recipient,
        "original_recipient": row.original_recipient,
        "stage": row.stage,
        "status": row.status,
        "reply_code": row.reply_code,
        "reason": row.reason,
        "severity": row.severity,
        "fault": row.fault,
        "rule": row.rule,
        "diagnostic": row.diagnostic,
        "remote_mta": row.remote_mta,
        "original_message_id": row.original_message_id,
        "verp": verp_json(row.verp),
    }
    if row.error is not None:
        out["error"] = row.error
    return out

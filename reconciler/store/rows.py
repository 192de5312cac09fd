"""Rows ↔ records: the only place that knows both shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler.records import (
    BounceEvent,
    EvidenceEvent,
    Fault,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Reason,
    Severity,
    Stage,
    VerpFailure,
)
from reconciler.store.connection import from_db, to_db
from reconciler.store.models import ADDRESS_LENGTH, Event, Message

__all__ = ["event_row", "to_entry", "to_event", "to_evidence"]


def to_entry(row: Message) -> LedgerEntry:
    return LedgerEntry(
        mailbox=row.mailbox,
        uidvalidity=row.uidvalidity,
        uid=row.uid,
        sha256=row.sha256,
        size=row.size,
        outcome=MessageOutcome(row.outcome),
        received_at=from_db(row.received_at),
        processed_at=from_db(row.processed_at),
        message_id=row.message_id,
        destination=row.destination,
        moved_at=from_db(row.moved_at) if row.moved_at is not None else None,
    )


def to_event(row: Event) -> BounceEvent:
    return BounceEvent(
        recipient=row.recipient,
        kind=MessageKind(row.kind),
        reason=Reason(row.reason),
        severity=Severity(row.severity),
        fault=Fault(row.fault),
        rule_id=row.rule_id,
        event_time=from_db(row.event_time),
        status=row.status,
        reply_code=row.reply_code,
        diagnostic=row.diagnostic,
        remote_mta=row.remote_mta,
        original_message_id=row.original_message_id,
        realm=row.realm,
        user_id=row.user_id,
        verp_valid=row.verp_valid,
        verp_failure=VerpFailure(row.verp_failure) if row.verp_failure else None,
        send_ref=row.send_ref,
        address_bound=bool(row.address_bound),
        original_recipient=row.original_recipient,
        stage=Stage(row.stage) if row.stage else Stage.UNKNOWN,
    )


def domain_of(recipient: str) -> str:
    """The recipient's domain as policy groups it: after the last "@", lower case."""
    return recipient.rpartition("@")[2].lower() if "@" in recipient else ""


def event_row(message_id: int, event: BounceEvent, now: datetime) -> dict[str, Any]:
    return {
        "message": message_id,
        "recipient": event.recipient[:ADDRESS_LENGTH],
        "kind": event.kind.value,
        "status": event.status,
        "reply_code": event.reply_code,
        "reason": event.reason.value,
        "severity": event.severity.value,
        "fault": event.fault.value,
        "rule_id": event.rule_id,
        "diagnostic": event.diagnostic,
        "remote_mta": event.remote_mta,
        "original_message_id": event.original_message_id,
        "realm": event.realm,
        "user_id": event.user_id,
        "verp_valid": event.verp_valid,
        "verp_failure": event.verp_failure.value if event.verp_failure else None,
        "send_ref": event.send_ref,
        "event_time": to_db(event.event_time),
        "created_at": now,
        "domain": domain_of(event.recipient)[:255],
        "address_bound": event.address_bound,
        "original_recipient": (event.original_recipient or "")[:ADDRESS_LENGTH] or None,
        "stage": event.stage.value,
    }


def to_evidence(row: Event) -> EvidenceEvent:
    """A stored event as policy reads it (see `UserHistory`)."""
    return evidence(tuple(getattr(row, field.name) for field in EVIDENCE_FIELDS))


# The columns `evidence` reads: select just these as tuples (`select(*EVIDENCE_FIELDS)
# .tuples()`) when many events are read; model instances cost several times more per row.
EVIDENCE_FIELDS = (
    Event.id,
    Event.realm,
    Event.user_id,
    Event.recipient,
    Event.remote_mta,
    Event.kind,
    Event.reason,
    Event.severity,
    Event.fault,
    Event.verp_valid,
    Event.event_time,
    Event.original_message_id,
    Event.send_ref,
    Event.address_bound,
    Event.original_recipient,
)
_KINDS = {member.value: member for member in MessageKind}
_REASONS = {member.value: member for member in Reason}
_SEVERITIES = {member.value: member for member in Severity}
_FAULTS = {member.value: member for member in Fault}


def evidence(values: tuple[Any, ...]) -> EvidenceEvent:
    """An EvidenceEvent from the values of EVIDENCE_FIELDS, in that order."""
    (event_id, realm, user_id, recipient, remote_mta, kind, reason, severity, fault, verp_valid,
     event_time, message_id, send_ref, bound, original) = values  # fmt: skip
    return EvidenceEvent(
        event_id=int(event_id),
        realm=realm,
        user_id=user_id,
        address=recipient,
        domain=domain_of(recipient),
        remote_mta=remote_mta or "",
        kind=_KINDS.get(kind) or MessageKind(kind),
        reason=_REASONS.get(reason) or Reason(reason),
        severity=_SEVERITIES.get(severity) or Severity(severity),
        fault=_FAULTS.get(fault) or Fault(fault),
        verp_valid=bool(verp_valid),
        at=int(from_db(event_time).timestamp()),
        message_id=message_id,
        send_ref=send_ref,
        bound=bool(bound),
        original_address=original,
    )

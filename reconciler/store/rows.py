"""Rows ↔ records: the only place that knows both shapes.

The ledger and events (`to_entry`, `to_event`, `event_row`, the evidence the policy reads)
and the tables of decisions, audit, suppressions, actions, outbox and incidents.  Lists inside
a decision (event ids, message ids, reasons, ignored counts) are stored as JSON text, so every
backend reads them back the same way.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from reconciler.records import (
    ActionRecord,
    ActionStatus,
    AuditEntry,
    BounceEvent,
    Decision,
    DecisionKind,
    Disposition,
    EvidenceEvent,
    Fault,
    Ignored,
    Incident,
    IncidentScope,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    OutboxItem,
    Reason,
    Severity,
    Stage,
    StoredDecision,
    StoredEvent,
    Suppression,
    Trigger,
    VerpFailure,
)
from reconciler.store.connection import from_db, to_db
from reconciler.store.models import (
    ADDRESS_LENGTH,
    WITHHELD_LENGTH,
    ActionLog,
    AuditRow,
    DecisionRow,
    Event,
    IncidentRow,
    Message,
    OutboxRow,
    SuppressionRow,
)

__all__ = [
    "EVIDENCE_FIELDS",
    "INCIDENT_FIELDS",
    "STORED_EVENT_FIELDS",
    "decision_row",
    "domain_of",
    "event_row",
    "evidence",
    "from_unix",
    "incident_of",
    "key_digest",
    "maybe",
    "normalise",
    "stored_event",
    "to_action",
    "to_audit",
    "to_entry",
    "to_event",
    "to_evidence",
    "to_outbox",
    "to_stored",
    "to_stored_event",
    "to_suppression",
    "unix",
    "unix_seconds",
]


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
        error=row.error,
    )


# The columns of `bounce_event` that make a BounceEvent, by field name.
_EVENT_NAMES = (
    "recipient", "kind", "reason", "severity", "fault", "rule_id", "event_time", "status",
    "reply_code", "diagnostic", "remote_mta", "original_message_id", "realm", "user_id",
    "verp_valid", "verp_failure", "send_ref", "address_bound", "original_recipient", "stage",
    "action", "diagnostic_type", "reporting_mta", "sender_domain", "final_domain", "detector",
)  # fmt: skip


def _event(v: dict[str, Any]) -> BounceEvent:
    return BounceEvent(
        recipient=v["recipient"],
        kind=_KINDS.get(v["kind"]) or MessageKind(v["kind"]),
        reason=_REASONS.get(v["reason"]) or Reason(v["reason"]),
        severity=_SEVERITIES.get(v["severity"]) or Severity(v["severity"]),
        fault=_FAULTS.get(v["fault"]) or Fault(v["fault"]),
        rule_id=v["rule_id"],
        event_time=from_db(v["event_time"]),
        status=v["status"],
        reply_code=v["reply_code"],
        diagnostic=v["diagnostic"],
        remote_mta=v["remote_mta"],
        original_message_id=v["original_message_id"],
        realm=v["realm"],
        user_id=v["user_id"],
        verp_valid=bool(v["verp_valid"]),
        verp_failure=VerpFailure(v["verp_failure"]) if v["verp_failure"] else None,
        send_ref=v["send_ref"],
        address_bound=bool(v["address_bound"]),
        original_recipient=v["original_recipient"],
        stage=Stage(v["stage"]) if v["stage"] else Stage.UNKNOWN,
        action=v["action"] or "",
        diagnostic_type=v["diagnostic_type"] or "",
        reporting_mta=v["reporting_mta"] or "",
        sender_domain=v["sender_domain"] or "",
        final_domain=v["final_domain"],
        detector=v["detector"] or "",
    )


def to_event(row: Event) -> BounceEvent:
    return _event({name: getattr(row, name) for name in _EVENT_NAMES})


def to_stored_event(row: Event) -> StoredEvent:
    """An event row selected with its ledger row (`.join(Message)`), with where it was read."""
    message = row.message
    return StoredEvent(
        id=int(row.id),
        mailbox=message.mailbox,
        uidvalidity=int(message.uidvalidity),
        uid=int(message.uid),
        recorded_at=from_db(row.created_at),
        event=to_event(row),
    )


# The columns `stored_event` reads, for `select(*STORED_EVENT_FIELDS).join(Message).tuples()`:
# many times faster than model instances when a whole window of events is read (a replay).
STORED_EVENT_FIELDS = (
    Event.id,
    Event.created_at,
    Message.mailbox,
    Message.uidvalidity,
    Message.uid,
    *(getattr(Event, name) for name in _EVENT_NAMES),
)


def stored_event(values: tuple[Any, ...]) -> StoredEvent:
    """A StoredEvent from the values of STORED_EVENT_FIELDS, in that order."""
    event_id, created, mailbox, uidvalidity, uid, *rest = values
    return StoredEvent(
        id=int(event_id),
        mailbox=mailbox,
        uidvalidity=int(uidvalidity),
        uid=int(uid),
        recorded_at=from_db(created),
        event=_event(dict(zip(_EVENT_NAMES, rest, strict=True))),
    )


def domain_of(recipient: str) -> str:
    """The recipient's domain as policy groups it: after the last "@", lower case."""
    return recipient.rpartition("@")[2].lower() if "@" in recipient else ""


def event_row(message_id: int, event: BounceEvent, now: datetime) -> dict[str, Any]:
    """The row of an event (`_value_`: the enum's plain attribute, read without the
    descriptor that `.value` goes through; a drain writes tens of thousands)."""
    return {
        "message": message_id,
        "recipient": event.recipient[:ADDRESS_LENGTH],
        "kind": event.kind._value_,
        "status": event.status,
        "reply_code": event.reply_code,
        "reason": event.reason._value_,
        "severity": event.severity._value_,
        "fault": event.fault._value_,
        "rule_id": event.rule_id,
        "diagnostic": event.diagnostic,
        "remote_mta": event.remote_mta,
        "original_message_id": event.original_message_id,
        "realm": event.realm,
        "user_id": event.user_id,
        "verp_valid": event.verp_valid,
        "verp_failure": event.verp_failure._value_ if event.verp_failure else None,
        "send_ref": event.send_ref,
        "event_time": to_db(event.event_time),
        "created_at": now,
        "domain": domain_of(event.recipient)[:255],
        "address_bound": event.address_bound,
        "original_recipient": (event.original_recipient or "")[:ADDRESS_LENGTH] or None,
        "stage": event.stage._value_,
        "action": event.action,
        "diagnostic_type": event.diagnostic_type,
        "reporting_mta": event.reporting_mta,
        "sender_domain": event.sender_domain,
        "final_domain": event.final_domain,
        "detector": event.detector,
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


_EPOCH = datetime(1970, 1, 1)


def unix_seconds(value: Any) -> int:
    """`int(from_db(value).timestamp())` without making an aware datetime first (the same
    sum: `timestamp` subtracts the epoch as well; a drain converts tens of thousands)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return int((moment.replace(tzinfo=None) - _EPOCH).total_seconds())


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
        at=unix_seconds(event_time),
        message_id=message_id,
        send_ref=send_ref,
        bound=bool(bound),
        original_address=original,
    )


# -- decisions, audit, suppressions, actions, outbox, incidents (the version-2 tables) ----


def normalise(address: str) -> str:
    """The form addresses are stored and looked up in: stripped, lower case."""
    return address.strip().lower()


def from_unix(seconds: int) -> datetime:
    """Unix seconds → naive UTC, the storage form of times."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def unix(value: Any) -> int:
    return int(from_db(value).timestamp())


def maybe(value: Any) -> datetime | None:
    return from_db(value) if value is not None else None


def decision_row(decision: Decision, run_id: str, now: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "at": from_unix(decision.at),
        "realm": decision.realm,
        "user_id": decision.user_id,
        "address": normalise(decision.address) if decision.address else None,
        "kind": decision.kind.value,
        "mode": decision.mode.value,
        "disposition": decision.disposition.value,
        "trigger": decision.trigger.value if decision.trigger else None,
        "rule": decision.rule,
        "hard_days": decision.hard_days,
        "soft_days": decision.soft_days,
        "event_ids": json.dumps(list(decision.event_ids)),
        "message_ids": json.dumps(list(decision.message_ids)),
        "reasons": json.dumps([r.value for r in decision.reasons]),
        "ignored": json.dumps([[c.value, n] for c, n in decision.ignored]),
        "recorded_at": now,
        "withheld": decision.withheld[:WITHHELD_LENGTH] or None,
    }


def _decision(row: DecisionRow) -> Decision:
    return Decision(
        kind=DecisionKind(row.kind),
        realm=row.realm,
        user_id=int(row.user_id),
        address=row.address,
        at=unix(row.at),
        mode=Mode(row.mode),
        disposition=Disposition(row.disposition),
        trigger=Trigger(row.trigger) if row.trigger else None,
        rule=row.rule,
        hard_days=int(row.hard_days),
        soft_days=int(row.soft_days),
        event_ids=tuple(int(i) for i in json.loads(row.event_ids)),
        message_ids=tuple(str(m) for m in json.loads(row.message_ids)),
        reasons=tuple(Reason(r) for r in json.loads(row.reasons)),
        ignored=tuple((Ignored(c), int(n)) for c, n in json.loads(row.ignored)),
        withheld=row.withheld or "",
    )


def to_stored(row: DecisionRow) -> StoredDecision:
    return StoredDecision(
        id=int(row.id),
        run_id=row.run_id,
        decision=_decision(row),
        recorded_at=from_db(row.recorded_at),
        applied_at=maybe(row.applied_at),
        undone_at=maybe(row.undone_at),
    )


def to_audit(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=int(row.id),
        at=from_db(row.at),
        actor=row.actor,
        action=row.action,
        detail=row.detail,
        old_mode=Mode(row.old_mode) if row.old_mode else None,
        new_mode=Mode(row.new_mode) if row.new_mode else None,
        decision_id=int(row.decision_id) if row.decision_id is not None else None,
    )


def to_suppression(row: SuppressionRow) -> Suppression:
    decision_id = row.__data__.get("decision")  # the raw foreign key: no extra query
    return Suppression(
        address=row.address,
        realm=row.realm,
        user_id=int(row.user_id),
        reason=row.reason,
        since=from_db(row.since),
        decision_id=int(decision_id) if decision_id is not None else None,
    )


def to_action(row: ActionLog, decision: DecisionRow) -> ActionRecord:
    return ActionRecord(
        id=int(row.id),
        decision_id=int(decision.id),
        action=row.action,
        status=ActionStatus(row.status),
        detail=row.detail,
        at=from_db(row.at),
        realm=decision.realm,
        user_id=int(decision.user_id),
        address=decision.address,
        undo_data=row.undo_data,
        undone_at=maybe(row.undone_at),
    )


def to_outbox(row: OutboxRow) -> OutboxItem:
    decision_id = row.__data__.get("decision")
    return OutboxItem(
        id=int(row.id),
        event_id=row.event_id,
        kind=row.kind,
        payload=row.payload,
        attempts=int(row.attempts),
        next_at=from_db(row.next_at),
        created_at=from_db(row.created_at),
        decision_id=int(decision_id) if decision_id is not None else None,
        delivered_at=maybe(row.delivered_at),
        failed_at=maybe(row.failed_at),
        last_error=row.last_error,
    )


def key_digest(key: str) -> str:
    """What `incident_key` holds: the SHA-256 (hex) of the key's UTF-8."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


# The columns `incident_of` reads: a decide run lists the stored incidents twice, and a drained
# backlog stores hundreds (model instances cost several times more per row)
INCIDENT_FIELDS = (
    IncidentRow.scope,
    IncidentRow.key_text,
    IncidentRow.incident_key,
    IncidentRow.reason,
    IncidentRow.users,
    IncidentRow.start_at,
    IncidentRow.end_at,
    IncidentRow.active,
    IncidentRow.event_ids,
)


def incident_of(values: tuple[Any, ...], with_events: bool = True) -> Incident:
    """An Incident from the driver's values of INCIDENT_FIELDS, in that order."""
    scope, text, digest, reason, users, start, end, active, event_ids = values
    return Incident(
        scope=IncidentScope(scope),
        key=text if text is not None else digest,
        reason=Reason(reason),
        users=int(users),
        start=unix(start),
        end=unix(end),
        active=bool(active),
        event_ids=tuple(int(i) for i in json.loads(event_ids)) if with_events else (),
    )

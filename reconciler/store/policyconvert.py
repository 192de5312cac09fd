"""Rows ↔ records for the version-2 tables (decisions, audit, suppressions, actions, outbox).

Lists inside a decision (event ids, message ids, reasons, ignored counts) are stored as JSON
text, so every backend reads them back the same way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from reconciler.records import (
    ActionRecord,
    ActionStatus,
    AuditEntry,
    Decision,
    DecisionKind,
    Disposition,
    Ignored,
    Incident,
    IncidentScope,
    Mode,
    OutboxItem,
    Reason,
    StoredDecision,
    Suppression,
    Trigger,
)
from reconciler.store.connection import from_db
from reconciler.store.models import (
    ActionLog,
    AuditRow,
    DecisionRow,
    IncidentRow,
    OutboxRow,
    SuppressionRow,
)

__all__ = [
    "decision_row",
    "from_unix",
    "maybe",
    "normalise",
    "to_action",
    "to_audit",
    "to_incident",
    "to_outbox",
    "to_stored",
    "to_suppression",
    "unix",
]


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


def to_incident(row: IncidentRow, with_events: bool = True) -> Incident:
    return Incident(
        scope=IncidentScope(row.scope),
        key=row.key_text if row.key_text is not None else row.incident_key,
        reason=Reason(row.reason),
        users=int(row.users),
        start=unix(row.start_at),
        end=unix(row.end_at),
        active=bool(row.active),
        event_ids=tuple(int(i) for i in json.loads(row.event_ids)) if with_events else (),
    )

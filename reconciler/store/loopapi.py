"""Store queries of the operator's loop (issue 17): the review queue (events the reconciler
could not use, quarantined ledger entries), the stored evidence for a replay, and the writes of
`reclassify` (new verdicts with one audit row per event).

A mixin of `Store`.  Reads come in pages by id (`after`, `limit`), so that a window of any
size is read with bounded memory on every backend; every method returns records and raises
`StoreError` (chained).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from reconciler.records import (
    Fault,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Reason,
    Reclassified,
    Severity,
    StoredEvent,
    Verdict,
    VerdictChange,
)
from reconciler.store.connection import from_db, to_db, wrap_errors
from reconciler.store.models import Event, Message, ReclassifiedRow, database
from reconciler.store.rows import STORED_EVENT_FIELDS, stored_event, to_entry

__all__ = ["LoopStore"]

# never in the review queue: not failures, whoever they name
_NOT_FAILURES = (MessageKind.VACATION.value, MessageKind.DELIVERED.value)
UNDETERMINED = (Reason.ONHOLD.value, Reason.UNDEFINED.value)
_CHUNK = 400  # ids per IN (...) list


def _window(since: datetime, until: datetime) -> Any:
    return (Event.event_time >= to_db(since)) & (Event.event_time < to_db(until))


def _page(condition: Any, after: int, limit: int) -> list[StoredEvent]:
    query = (
        Event.select(*STORED_EVENT_FIELDS)
        .join(Message)
        .where(condition & (Event.id > after))
        .order_by(Event.id)
        .limit(limit)
        .tuples()
    )
    return [stored_event(values) for values in query.iterator()]


def _same(verdict: Verdict) -> Any:
    """The condition: an event still carries `verdict`."""
    return (
        (Event.rule_id == verdict.rule_id)
        & (Event.reason == verdict.reason.value)
        & (Event.severity == verdict.severity.value)
        & (Event.fault == verdict.fault.value)
    )


def _verdict(rule: str, reason: str, severity: str, fault: str) -> Verdict:
    return Verdict(Reason(reason), Severity(severity), Fault(fault), rule)


class LoopStore:
    """Mixin: the review, replay and reclassify queries of `Store`."""

    @wrap_errors("reading the review queue")
    def review_events(
        self, since: datetime, until: datetime, after: int = 0, limit: int = 1000
    ) -> list[StoredEvent]:
        """Failures with event time in [since, until) that the reconciler could not use (no
        verified token, or no rule decided them: `onhold`, `undefined`), by id above `after`."""
        unusable = (Event.verp_valid == False) | Event.reason.in_(UNDETERMINED)  # noqa: E712
        condition = _window(since, until) & Event.kind.not_in(_NOT_FAILURES) & unusable
        return _page(condition, after, limit)

    @wrap_errors("reading quarantined messages")
    def quarantined_entries(
        self, since: datetime, until: datetime, after: int = 0, limit: int = 1000
    ) -> list[tuple[int, LedgerEntry]]:
        """Ledger entries quarantined (processed in [since, until)), with their ledger ids."""
        query = (
            Message.select()
            .where(
                (Message.outcome == MessageOutcome.QUARANTINED.value)
                & (Message.processed_at >= to_db(since))
                & (Message.processed_at < to_db(until))
                & (Message.id > after)
            )
            .order_by(Message.id)
            .limit(limit)
        )
        return [(int(row.id), to_entry(row)) for row in query]

    @wrap_errors("reading stored events")
    def window_events(
        self, since: datetime, until: datetime, after: int = 0, limit: int = 1000
    ) -> list[StoredEvent]:
        """Every event with event time in [since, until), by id above `after` (a replay)."""
        return _page(_window(since, until), after, limit)

    @wrap_errors("reading an event")
    def stored_event(self, event_id: int) -> StoredEvent | None:
        found = _page(Event.id == event_id, 0, 1)
        return found[0] if found else None

    @wrap_errors("reading an event's message")
    def event_entry(self, event_id: int) -> LedgerEntry | None:
        """The ledger entry of the message an event was read from."""
        row = Message.select().join(Event).where(Event.id == event_id).first()
        return to_entry(row) if row is not None else None

    @wrap_errors("reading events' messages")
    def event_entries(self, event_ids: Sequence[int]) -> dict[int, LedgerEntry]:
        """The ledger entries of the messages these events were read from, by event id."""
        found: dict[int, LedgerEntry] = {}
        ids = sorted(set(event_ids))
        for start in range(0, len(ids), _CHUNK):
            query = (
                Event.select(Event.id, Message)
                .join(Message)
                .where(Event.id.in_(ids[start : start + _CHUNK]))
            )
            found.update((int(row.id), to_entry(row.message)) for row in query)
        return found

    @wrap_errors("writing new verdicts")
    def reclassify(self, changes: Sequence[VerdictChange], audit_id: int, now: datetime) -> int:
        """Write the new verdict of each change whose event still carries the old one, with
        one `reclassification` row each (under `audit_id`), in one transaction; returns how
        many were written (an event reclassified meanwhile, or pruned, is left alone)."""
        groups: dict[tuple[Verdict, Verdict], list[int]] = {}
        for change in changes:
            groups.setdefault((change.old, change.new), []).append(change.event_id)
        written = 0
        with database.atomic():
            for (old, new), ids in groups.items():
                for start in range(0, len(ids), _CHUNK):
                    written += _rewrite(old, new, ids[start : start + _CHUNK], audit_id, now)
        return written

    @wrap_errors("reading an event's reclassifications")
    def reclassifications(self, event_id: int) -> list[Reclassified]:
        """The audit rows of one event's reclassifications, oldest first."""
        query = (
            ReclassifiedRow.select()
            .where(ReclassifiedRow.event == event_id)
            .order_by(ReclassifiedRow.id)
        )
        return [
            Reclassified(
                event_id=event_id,
                audit_id=int(row.audit_id),
                at=from_db(row.at),
                old=_verdict(row.old_rule, row.old_reason, row.old_severity, row.old_fault),
                new=_verdict(row.new_rule, row.new_reason, row.new_severity, row.new_fault),
            )
            for row in query
        ]


def _rewrite(old: Verdict, new: Verdict, ids: Sequence[int], audit_id: int, now: datetime) -> int:
    """One chunk of events going from `old` to `new` (in the caller's transaction)."""
    still: Any = Event.select(Event.id).where(Event.id.in_(list(ids)) & _same(old)).tuples()
    found = [int(row[0]) for row in still]
    if not found:
        return 0
    Event.update(
        rule_id=new.rule_id,
        reason=new.reason.value,
        severity=new.severity.value,
        fault=new.fault.value,
    ).where(Event.id.in_(found)).execute()
    ReclassifiedRow.insert_many(
        [
            {
                "event": event_id,
                "audit_id": audit_id,
                "at": to_db(now),
                "old_rule": old.rule_id,
                "new_rule": new.rule_id,
                "old_reason": old.reason.value,
                "new_reason": new.reason.value,
                "old_severity": old.severity.value,
                "new_severity": new.severity.value,
                "old_fault": old.fault.value,
                "new_fault": new.fault.value,
            }
            for event_id in found
        ]
    ).execute()
    return len(found)

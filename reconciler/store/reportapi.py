"""Store queries for reports, user evidence trails and health (`report`, `user show`, `status`).

A mixin of `Store`; every method is read-only, returns records (never rows) and raises
`StoreError` (chained).  Counting is done by the database (GROUP BY) wherever the three
backends agree on the SQL; `DATE(timestamp)` is one such function (SQLite, PostgreSQL and
MariaDB all have it).  Recipient domains are split off in Python from a GROUP BY recipient.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, cast

import peewee as pw

from reconciler.records import (
    ActionCount,
    ActionStatus,
    AuditEntry,
    Checkpoint,
    DayCount,
    DecisionSummary,
    Disposition,
    EventSummary,
    EvidenceEvent,
    Fault,
    MailboxState,
    MessageKind,
    MessageOutcome,
    Reason,
    Severity,
    StoredDecision,
    StoredEvent,
    Trigger,
    UserHistory,
    UserSelector,
)
from reconciler.store.connection import from_db, to_db, wrap_errors
from reconciler.store.models import (
    ActionLog,
    Attempt,
    AuditRow,
    CheckpointRow,
    DecisionRow,
    Event,
    Message,
)
from reconciler.store.rows import normalise, to_audit, to_evidence, to_stored, to_stored_event

__all__ = ["ReportStore"]

E = TypeVar("E", MessageKind, Severity, Reason, Fault)
_TRAIL_LIMIT = 10_000  # events of one user or address shown at most
_CHUNK = 500  # ids per IN (...) list


def _rows(query: pw.ModelSelect[Any]) -> list[tuple[Any, ...]]:
    """Tuple rows of a GROUP BY query (the peewee stubs type tuples() as models)."""
    return cast("list[tuple[Any, ...]]", list(query.tuples()))


def _events_in(since: datetime, until: datetime, mailbox: str | None) -> Any:
    """The condition for events with event time in [since, until) (of one mailbox)."""
    where = (Event.event_time >= to_db(since)) & (Event.event_time < to_db(until))
    return where & (Message.mailbox == mailbox) if mailbox is not None else where


def _count_by(field: pw.Field, where: Any) -> Counter[str]:
    query = Event.select(field, pw.fn.COUNT(Event.id)).join(Message).where(where).group_by(field)
    return Counter({str(value or ""): int(n) for value, n in _rows(query)})


def _every(members: Iterable[E], counts: Counter[str]) -> tuple[tuple[E, int], ...]:
    return tuple((member, counts[member.value]) for member in members)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _days(where: Any) -> tuple[DayCount, ...]:
    day = pw.fn.DATE(Event.event_time)
    query = (
        Event.select(day, Event.severity, pw.fn.COUNT(Event.id))
        .join(Message)
        .where(where)
        .group_by(day, Event.severity)
    )
    table: dict[date, Counter[str]] = {}
    for value, severity, n in _rows(query):
        table.setdefault(_as_date(value), Counter())[str(severity)] += int(n)
    return tuple(
        DayCount(d, c[Severity.HARD.value], c[Severity.SOFT.value], c[Severity.NONE.value])
        for d, c in sorted(table.items())
    )


def _domains(where: Any, top: int) -> tuple[tuple[str, int], ...]:
    domains: Counter[str] = Counter()
    for recipient, n in _count_by(Event.recipient, where).items():
        domains[recipient.rpartition("@")[2].lower() if "@" in recipient else ""] += n
    return tuple(domains.most_common(top))


def _user_where(selector: UserSelector) -> Any:
    if selector.address is not None:
        return Event.recipient == normalise(selector.address)
    where = Event.user_id == selector.user_id
    return where & (Event.realm == selector.realm) if selector.realm is not None else where


def _decision_where(selector: UserSelector) -> Any:
    if selector.address is not None:
        return DecisionRow.address == normalise(selector.address)
    where = DecisionRow.user_id == selector.user_id
    return where & (DecisionRow.realm == selector.realm) if selector.realm is not None else where


class ReportStore:
    """Read-only queries for the operator's reports."""

    @wrap_errors("summarising events")
    def event_summary(
        self, since: datetime, until: datetime, mailbox: str | None = None, top: int = 10
    ) -> EventSummary:
        """Events with event time in [since, until), counted by field, per day, top `top`."""
        where = _events_in(since, until, mailbox)
        severities = _count_by(Event.severity, where)
        return EventSummary(
            total=sum(severities.values()),
            kinds=_every(MessageKind, _count_by(Event.kind, where)),
            severities=_every(Severity, severities),
            reasons=_every(Reason, _count_by(Event.reason, where)),
            faults=_every(Fault, _count_by(Event.fault, where)),
            domains=_domains(where, top),
            remote_mtas=tuple(_count_by(Event.remote_mta, where).most_common(top)),
            days=_days(where),
        )

    @wrap_errors("counting ledger outcomes")
    def outcome_counts(
        self, since: datetime, until: datetime, mailbox: str | None = None
    ) -> tuple[tuple[MessageOutcome, int], ...]:
        """Ledger messages processed in [since, until), by outcome (every outcome present)."""
        where = (Message.processed_at >= to_db(since)) & (Message.processed_at < to_db(until))
        if mailbox is not None:
            where &= Message.mailbox == mailbox
        query = (
            Message.select(Message.outcome, pw.fn.COUNT(Message.id))
            .where(where)
            .group_by(Message.outcome)
        )
        counts = Counter({str(outcome): int(n) for outcome, n in _rows(query)})
        return tuple((outcome, counts[outcome.value]) for outcome in MessageOutcome)

    @wrap_errors("summarising decisions")
    def decision_summary(self, since: datetime, until: datetime) -> DecisionSummary:
        """Decisions made in [since, until) and the action log rows written in it."""
        where = (DecisionRow.at >= to_db(since)) & (DecisionRow.at < to_db(until))
        dispositions = self._group(DecisionRow.disposition, where)
        triggers = self._group(DecisionRow.trigger, where)
        in_period = DecisionRow.select().where(where)
        acted = (ActionLog.at >= to_db(since)) & (ActionLog.at < to_db(until))
        query = (
            ActionLog.select(ActionLog.action, ActionLog.status, pw.fn.COUNT(ActionLog.id))
            .where(acted)
            .group_by(ActionLog.action, ActionLog.status)
            .order_by(ActionLog.action, ActionLog.status)
        )
        return DecisionSummary(
            total=sum(dispositions.values()),
            dispositions=tuple((d, dispositions[d.value]) for d in Disposition),
            triggers=tuple((t, triggers[t.value]) for t in Trigger),
            applied=in_period.where(DecisionRow.applied_at.is_null(False)).count(),
            undone=in_period.where(DecisionRow.undone_at.is_null(False)).count(),
            actions=tuple(ActionCount(str(a), ActionStatus(s), int(n)) for a, s, n in _rows(query)),
        )

    @staticmethod
    def _group(field: pw.Field, where: Any) -> Counter[str]:
        query = DecisionRow.select(field, pw.fn.COUNT(DecisionRow.id)).where(where).group_by(field)
        return Counter({str(value or ""): int(n) for value, n in _rows(query)})

    @wrap_errors("reading checkpoints")
    def checkpoints(self) -> list[Checkpoint]:
        """Every mailbox's checkpoint, by mailbox name."""
        return [
            Checkpoint(
                row.mailbox,
                int(row.uidvalidity),
                int(row.last_uid),
                from_db(row.last_success) if row.last_success is not None else None,
            )
            for row in CheckpointRow.select().order_by(CheckpointRow.mailbox)
        ]

    @wrap_errors("reading a mailbox's state")
    def mailbox_state(self, mailbox: str) -> MailboxState:
        """The checkpoint, the committed-but-unmoved messages and those being retried."""
        row = CheckpointRow.get_or_none(CheckpointRow.mailbox == mailbox)
        checkpoint = None
        unmoved = Message.select().where(
            (Message.mailbox == mailbox)
            & Message.destination.is_null(False)
            & (Message.moved == False)  # noqa: E712 (peewee builds SQL from the comparison)
        )
        if row is not None:
            success = from_db(row.last_success) if row.last_success is not None else None
            checkpoint = Checkpoint(mailbox, int(row.uidvalidity), int(row.last_uid), success)
            unmoved = unmoved.where(Message.uidvalidity == checkpoint.uidvalidity)
        retrying = Attempt.select().where(Attempt.mailbox == mailbox).count()
        return MailboxState(mailbox, checkpoint, unmoved.count(), retrying)

    @wrap_errors("reading users' histories")
    def period_histories(
        self, since: datetime, until: datetime, mailbox: str | None = None
    ) -> list[UserHistory]:
        """Verified events in [since, until), as one `UserHistory` per user, by realm and id."""
        query = (
            Event.select(Event)
            .join(Message)
            .where(
                _events_in(since, until, mailbox)
                & (Event.verp_valid == True)  # noqa: E712 (peewee builds SQL from the comparison)
                & Event.user_id.is_null(False)
            )
            .order_by(Event.event_time, Event.id)
        )
        users: dict[tuple[str, int], list[EvidenceEvent]] = {}
        for row in query:
            evidence = to_evidence(row)
            users.setdefault((evidence.realm or "", evidence.user_id or 0), []).append(evidence)
        return [
            UserHistory(realm=realm, user_id=user, events=tuple(events))
            for (realm, user), events in sorted(users.items())
        ]

    @wrap_errors("reading the mode history")
    def mode_changes(self) -> list[AuditEntry]:
        """Audit rows that changed the mode (operator and breaker), oldest first."""
        query = AuditRow.select().where(AuditRow.new_mode.is_null(False))
        return [to_audit(row) for row in query.order_by(AuditRow.at, AuditRow.id)]

    @wrap_errors("reading a user's events")
    def stored_events(self, selector: UserSelector) -> list[StoredEvent]:
        """Every event of a user (verified) or naming an address (any), oldest first."""
        query = (
            Event.select(Event, Message)
            .join(Message)
            .where(_user_where(selector))
            .order_by(Event.event_time, Event.id)
            .limit(_TRAIL_LIMIT)
        )
        return [to_stored_event(row) for row in query]

    @wrap_errors("reading a user's decisions")
    def selected_decisions(self, selector: UserSelector) -> list[StoredDecision]:
        """Every decision about a user or an address, oldest first."""
        query = DecisionRow.select().where(_decision_where(selector)).order_by(DecisionRow.id)
        return [to_stored(row) for row in query]

    @wrap_errors("reading the audit log of decisions")
    def decision_audit(self, decision_ids: Sequence[int]) -> list[AuditEntry]:
        """Audit rows (undo, apply-pending, ...) naming one of these decisions, oldest first."""
        found: list[AuditEntry] = []
        ids = sorted(set(decision_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            query = AuditRow.select().where(AuditRow.decision_id.in_(chunk))
            found.extend(to_audit(row) for row in query)
        return sorted(found, key=lambda entry: (entry.at, entry.id))

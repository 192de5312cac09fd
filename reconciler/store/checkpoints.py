"""Checkpoints, failed attempts and the counting queries used by reports and policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import peewee as pw

from reconciler.records import (
    BounceEvent,
    Checkpoint,
    EvidenceEvent,
    MessageOutcome,
    Severity,
    Unprocessed,
    UserHistory,
)
from reconciler.store.connection import from_db, to_db
from reconciler.store.models import Attempt, CheckpointRow, Event, Message, Watermark, database
from reconciler.store.rows import EVIDENCE_FIELDS, evidence, to_event, to_evidence

__all__ = [
    "count_events",
    "count_outcomes",
    "read_checkpoint",
    "record_failure",
    "user_events",
    "user_history",
    "write_checkpoint",
]


def read_checkpoint(mailbox: str) -> Checkpoint | None:
    row = CheckpointRow.get_or_none(CheckpointRow.mailbox == mailbox)
    if row is None:
        return None
    success = from_db(row.last_success) if row.last_success is not None else None
    return Checkpoint(row.mailbox, row.uidvalidity, row.last_uid, success)


def write_checkpoint(checkpoint: Checkpoint, now: datetime) -> None:
    """Insert or replace the mailbox's checkpoint (one row per mailbox)."""
    values = {
        "uidvalidity": checkpoint.uidvalidity,
        "last_uid": checkpoint.last_uid,
        "last_success": to_db(checkpoint.last_success) if checkpoint.last_success else None,
        "updated_at": to_db(now),
    }
    # Select, then update or insert: MySQL reports 0 rows for an UPDATE that changes nothing.
    where = CheckpointRow.mailbox == checkpoint.mailbox
    with database.atomic():
        if CheckpointRow.get_or_none(where) is None:
            CheckpointRow.insert(mailbox=checkpoint.mailbox, **values).execute()
        else:
            CheckpointRow.update(**values).where(where).execute()


def record_failure(item: Unprocessed, now: datetime) -> int:
    """Count one more failed attempt on a message; returns the attempts so far."""
    key = (
        (Attempt.mailbox == item.mailbox)
        & (Attempt.uidvalidity == item.uidvalidity)
        & (Attempt.uid == item.uid)
    )
    moment = to_db(now)
    with database.atomic():
        row = Attempt.get_or_none(key)
        if row is None:
            Attempt.insert(
                mailbox=item.mailbox, uidvalidity=item.uidvalidity, uid=item.uid, attempts=1,
                stage=item.stage, error=item.error, first_at=moment, last_at=moment,
            ).execute()  # fmt: skip
            return 1
        Attempt.update(
            attempts=Attempt.attempts + 1, stage=item.stage, error=item.error, last_at=moment
        ).where(key).execute()
        return int(row.attempts) + 1


def _pairs(query: pw.ModelSelect[Any]) -> list[tuple[str, int]]:
    """(value, count) rows of a GROUP BY query (the peewee stubs type tuples() as models)."""
    return cast("list[tuple[str, int]]", list(query.tuples()))


def count_outcomes(since: datetime, until: datetime) -> dict[MessageOutcome, int]:
    """Ledger messages by outcome, processed in [since, until); every outcome is present."""
    counts = dict.fromkeys(MessageOutcome, 0)
    query = (
        Message.select(Message.outcome, pw.fn.COUNT(Message.id))
        .where((Message.processed_at >= to_db(since)) & (Message.processed_at < to_db(until)))
        .group_by(Message.outcome)
    )
    for outcome, number in _pairs(query):
        counts[MessageOutcome(outcome)] = int(number)
    return counts


def count_events(since: datetime, until: datetime) -> dict[Severity, int]:
    """Bounce events by severity, event time in [since, until); every severity is present."""
    counts = dict.fromkeys(Severity, 0)
    query = (
        Event.select(Event.severity, pw.fn.COUNT(Event.id))
        .where((Event.event_time >= to_db(since)) & (Event.event_time < to_db(until)))
        .group_by(Event.severity)
    )
    for severity, number in _pairs(query):
        counts[Severity(severity)] = int(number)
    return counts


def _user_query(realm: str | None, user_id: int, since: datetime) -> pw.ModelSelect[Event]:
    realm_match = Event.realm.is_null() if realm is None else (Event.realm == realm)
    return (
        Event.select()
        .where(
            realm_match
            & (Event.user_id == user_id)
            & (Event.verp_valid == True)  # noqa: E712 (peewee builds SQL from the comparison)
            & (Event.event_time >= to_db(since))
        )
        .order_by(Event.event_time, Event.id)
    )


def user_events(realm: str | None, user_id: int, since: datetime) -> list[BounceEvent]:
    """A VERP user's verified events since `since`, oldest first."""
    return [to_event(row) for row in _user_query(realm, user_id, since)]


def user_history(realm: str, user_id: int, since: datetime) -> UserHistory:
    """The same events as `user_events`, shaped for policy (`UserHistory`)."""
    events = tuple(to_evidence(row) for row in _user_query(realm, user_id, since))
    return UserHistory(realm=realm, user_id=user_id, events=events)


def read_watermark(name: str) -> int:
    row = Watermark.get_or_none(Watermark.name == name)
    return int(row.value) if row is not None else 0


def write_watermark(name: str, value: int, now: datetime) -> None:
    """Insert or update (portable: MySQL has no ON CONFLICT target, so update-then-insert)."""
    with database.atomic():
        changed = (
            Watermark.update(value=value, updated_at=to_db(now))
            .where(Watermark.name == name)
            .execute()
        )
        if not changed and Watermark.get_or_none(Watermark.name == name) is None:
            Watermark.insert(name=name, value=value, updated_at=to_db(now)).execute()


def verified_users_after(
    event_id: int, settled_before: datetime | None = None
) -> tuple[list[tuple[str, int]], int]:
    """Distinct (realm, user id) of verified events with an id above `event_id`, and the next
    watermark: the highest event id recorded before `settled_before` (None: the highest now).

    Event ids are not handed out in commit order when several writers record at once: an id
    below the highest may still be uncommitted.  Only ids old enough to be surely committed
    become the watermark; the users of newer events are decided again (idempotently) next run.
    """
    newest = Event.select(pw.fn.MAX(Event.id)).scalar() or 0
    if settled_before is None:
        top = newest
    else:
        settled = Event.select(pw.fn.MAX(Event.id)).where(Event.created_at < to_db(settled_before))
        top = max(settled.scalar() or 0, event_id)
    top = int(top)
    rows: Any = (
        Event.select(Event.realm, Event.user_id)
        .where(
            (Event.id > event_id)
            & (Event.id <= newest)
            & (Event.verp_valid == True)  # noqa: E712 (peewee builds SQL from the comparison)
            & Event.user_id.is_null(False)
        )
        .distinct()
        .tuples()
    )
    users = sorted({(realm or "", int(user)) for realm, user in rows})
    return users, int(top)


def user_histories(
    users: Sequence[tuple[str, int]], since: datetime
) -> dict[tuple[str, int], UserHistory]:
    """`user_history` for many users with one query per few hundred users."""
    wanted = set(users)
    found: dict[tuple[str, int], list[EvidenceEvent]] = {user: [] for user in wanted}
    ids = sorted({user_id for _, user_id in wanted})
    for start in range(0, len(ids), 500):
        query = (
            Event.select(*EVIDENCE_FIELDS)
            .where(
                Event.user_id.in_(ids[start : start + 500])
                & (Event.verp_valid == True)  # noqa: E712 (peewee builds SQL from the comparison)
                & (Event.event_time >= to_db(since))
            )
            .order_by(Event.event_time, Event.id)
            .tuples()
        )
        for row in query.iterator():  # no row cache beside the records
            event = evidence(row)
            key = (event.realm or "", int(cast(int, event.user_id)))
            if key in found:
                found[key].append(event)
    return {
        key: UserHistory(realm=key[0], user_id=key[1], events=tuple(events))
        for key, events in found.items()
    }


def event_span_after(event_id: int) -> tuple[datetime, datetime] | None:
    """Earliest and latest event time of the events above `event_id` (None: there are none)."""
    span: Any = (
        Event.select(pw.fn.MIN(Event.event_time), pw.fn.MAX(Event.event_time))
        .where(Event.id > event_id)
        .tuples()
        .get()
    )
    low, high = span
    if low is None or high is None:
        return None
    return from_db(low), from_db(high)

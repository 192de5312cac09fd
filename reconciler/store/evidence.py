"""The reads of the recorded evidence: bounce events as the policy, the breaker, incidents,
reports and the digest read them (by user, by window, by group, counted).

Every read returns records (`EvidenceEvent`, `BounceEvent`, `UserHistory`, `EventTally`),
converted row by row (`iterator()`: peewee caches no rows beside the records).  The reads of
many events for the decide stage (users' histories, incident groups) take the rows as the
driver gives them (`_driver_rows`): `evidence` converts each value itself, and peewee's own
conversion of every column of every row was most of their time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast

import peewee as pw

from reconciler.records import (
    BounceEvent,
    EventTally,
    EvidenceEvent,
    Fault,
    IncidentScope,
    MessageKind,
    Reason,
    Severity,
    UserHistory,
)
from reconciler.store.connection import from_db, to_db
from reconciler.store.inlist import execute_in
from reconciler.store.models import Event
from reconciler.store.rows import (
    EVIDENCE_FIELDS,
    evidence,
    from_unix,
    key_digest,
    to_event,
    to_evidence,
    unix_seconds,
)

__all__ = [
    "GroupFilter",
    "Sighting",
    "bounce_groups",
    "count_events",
    "earliest_event_after",
    "event_span_after",
    "recent_events",
    "recorded_events",
    "recorded_tally",
    "unmatched_events",
    "user_activity",
    "user_events",
    "user_histories",
    "user_history",
    "verified_users_after",
]


# A bounce as incident detection reads it (`reconciler.policy.Sighting`): (at, event_id,
# realm, user_id, address, verp_valid), as `evidence` makes these fields of an EvidenceEvent.
Sighting = tuple[int, int, str | None, int | None, str, bool]


def _pairs(query: pw.ModelSelect[Any]) -> list[tuple[str, int]]:
    """(value, count) rows of a GROUP BY query (the peewee stubs type tuples() as models)."""
    return cast("list[tuple[str, int]]", list(query.tuples()))


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
    )
    # the driver's values (a str or None, an int): peewee's conversion of the thousands of
    # rows of a drain cost more than the query
    users = sorted({(realm or "", int(user)) for realm, user in _driver_rows(rows)})
    return users, int(top)


def _driver_rows(query: Any) -> Any:
    """The rows of `query` as tuples of the driver's values, unconverted by peewee."""
    return Event._meta.database.execute_sql(*query.sql())


def _realm_is(realm: str) -> pw.Expression:
    """Events of `realm` ("" stands for none: NULL or empty), as an indexed condition."""
    if realm:
        return Event.realm == realm
    return Event.realm.is_null() | (Event.realm == "")


def _history_rows(
    users: Sequence[tuple[str, int]], since: datetime, fields: Sequence[Any]
) -> Iterator[tuple[tuple[str, int], tuple[Any, ...]]]:
    """The `fields` (the first two: realm and user id) of the events `user_history` reads
    for any of `users`, with the user each is of, by user and event time: one query per
    few hundred users of a realm.

    The realm is part of each query's condition, so the (realm, user_id, event_time) index
    finds the users' events: without it, the database would read every event of the window
    once per query (a drain decides thousands of users, a few hundred per query).
    """
    wanted = set(users)
    realms: dict[str, set[int]] = {}
    for realm, user_id in wanted:
        realms.setdefault(realm, set()).add(user_id)
    for realm, user_ids in sorted(realms.items()):
        ids = sorted(user_ids)

        def query(values: list[Any], realm: str = realm) -> Any:
            return (
                Event.select(*fields)
                .where(
                    _realm_is(realm)
                    & (Event.verp_valid == True)  # noqa: E712 (peewee builds SQL from ==)
                    & (Event.event_time >= to_db(since))
                    & Event.user_id.in_(values)  # last: `execute_in` binds the list
                )
                .order_by(Event.event_time, Event.id)
            )

        for start in range(0, len(ids), 500):
            for row in execute_in(query, Event.user_id, ids[start : start + 500]):
                key = (row[0] or "", int(row[1]))
                if key in wanted:
                    yield key, row


def user_histories(
    users: Sequence[tuple[str, int]], since: datetime
) -> dict[tuple[str, int], UserHistory]:
    """`user_history` for many users with one query per few hundred users of a realm."""
    found: dict[tuple[str, int], list[EvidenceEvent]] = {user: [] for user in users}
    for key, row in _history_rows(users, since, _HISTORY_FIELDS):
        found[key].append(evidence(row[2:]))
    return {
        key: UserHistory(realm=key[0], user_id=key[1], events=tuple(events))
        for key, events in found.items()
    }


# EVIDENCE_FIELDS with the realm and the user id first, as `_history_rows` reads them
_HISTORY_FIELDS = (Event.realm, Event.user_id, *EVIDENCE_FIELDS)


def user_activity(
    users: Sequence[tuple[str, int]], since: datetime
) -> dict[tuple[str, int], list[tuple[MessageKind, int]]]:
    """The kind and time (unix seconds) of each event of `user_histories` (the same events,
    in the same order), by user: all a decide run needs to tell the many users with too
    little evidence to act on (`policy.cannot_act_on`) without reading their events whole."""
    found: dict[tuple[str, int], list[tuple[MessageKind, int]]] = {user: [] for user in users}
    seconds: dict[Any, int] = {}
    for key, (_, _, kind, when) in _history_rows(users, since, _ACTIVITY_FIELDS):
        at = seconds.get(when)
        if at is None:
            at = seconds[when] = unix_seconds(when)
        found[key].append((_KINDS.get(kind) or MessageKind(kind), at))
    return found


_ACTIVITY_FIELDS = (Event.realm, Event.user_id, Event.kind, Event.event_time)
_KINDS = {member.value: member for member in MessageKind}


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


def recent_events(since: datetime, until: datetime) -> list[EvidenceEvent]:
    """Every bounce event (verified or not) with event time in [since, until], oldest first.

    What `check_breaker` and `detect_incidents` can read whole; the decide stage reads the
    same events counted (`recorded_tally`) or group by group (`bounce_groups`).
    """
    query = Event.select(*EVIDENCE_FIELDS).where(
        (Event.event_time >= to_db(since)) & (Event.event_time <= to_db(until))
    )
    # iterator(): rows are converted one by one, not cached by peewee beside the records
    return [evidence(row) for row in query.order_by(Event.event_time, Event.id).tuples().iterator()]


GROUP_ROWS = 4096  # events of the groups `bounce_groups` reads in one query (one larger alone)
GROUPS_AT_ONCE = 400  # groups per query: their keys and reasons are bound parameters


def bounce_groups(
    since: datetime,
    until: datetime,
    scope: IncidentScope,
    min_events: int,
    changed: GroupFilter | None = None,
) -> Iterator[tuple[str, Reason, list[Sighting]]]:
    """The bounces with event time in [since, until], one (key, reason) group at a time, as
    sightings (the fields incident detection reads, in the order read): key is the recipient
    domain or the remote MTA (lower case) by `scope`; groups with fewer than `min_events`
    events are skipped, and so, with `changed`, are the groups it leaves out (no event newer
    than its watermark, no group it names).

    The database counts the groups first and only the groups big enough are read, a run of
    groups of about `GROUP_ROWS` events per query (a larger group alone): memory holds one
    run, however large the window (a drained backlog puts every event in one window), on
    every backend (psycopg2 and PyMySQL fetch a whole result before the first row), and a
    window of many small groups costs a few scans of it, not one per group.
    """
    key = (
        Event.domain if scope is IncidentScope.DOMAIN else pw.fn.LOWER(pw.fn.TRIM(Event.remote_mta))
    )
    window = (
        (Event.event_time >= to_db(since))
        & (Event.event_time <= to_db(until))
        & (Event.kind == MessageKind.BOUNCE.value)
        & key.is_null(False)
        & (key != "")
    )
    counted = (
        Event.select(key, Event.reason, pw.fn.COUNT(Event.id), pw.fn.MAX(Event.id))
        .where(window)
        .group_by(key, Event.reason)
        .having(pw.fn.COUNT(Event.id) >= max(min_events, 1))
        .order_by(key, Event.reason)
        .tuples()
    )
    groups = [
        (str(row[0]), str(row[1]), int(row[2]))
        for row in counted.iterator()
        if changed is None or changed.keeps(str(row[0]), str(row[1]), int(row[3]))
    ]
    for run in _runs(groups, GROUP_ROWS, GROUPS_AT_ONCE):
        keys = sorted({group_key for group_key, _ in run})
        reasons = sorted({reason for _, reason in run})
        rows = (
            Event.select(key, Event.reason, *_SIGHTING_FIELDS)
            .where(window & key.in_(keys) & Event.reason.in_(reasons))
            .order_by(Event.event_time, Event.id)
        )
        yield from _grouped(run, _driver_rows(rows))


# The columns of a sighting, `event_time` for `at`
_SIGHTING_FIELDS = (
    Event.id,
    Event.realm,
    Event.user_id,
    Event.recipient,
    Event.verp_valid,
    Event.event_time,
)


def _grouped(
    run: list[tuple[str, str]], rows: Iterable[tuple[Any, ...]]
) -> Iterator[tuple[str, Reason, list[Sighting]]]:
    """The sightings of the rows (key, reason, *_SIGHTING_FIELDS) of the groups of `run`, by
    group; rows of other groups (a small group of a key or reason of the run) are left out.
    `at` is converted once per distinct event time (a drain's come in whole seconds)."""
    found: dict[tuple[str, str], list[Sighting]] = {group: [] for group in run}
    seconds: dict[Any, int] = {}
    for group_key, reason, event_id, realm, user_id, recipient, valid, when in rows:
        events = found.get((str(group_key), str(reason)))
        if events is None:
            continue
        at = seconds.get(when)
        if at is None:
            at = seconds[when] = unix_seconds(when)
        events.append((at, int(event_id), realm, user_id, recipient, bool(valid)))
    for (group_key, reason), events in found.items():
        yield group_key, Reason(reason), events


class GroupFilter:
    """Which (key, reason) groups `bounce_groups` reads: those with an event id above
    `watermark`, and those of `also` (keys as they are, or as `key_digest` gives them)."""

    __slots__ = ("_also", "watermark")

    def __init__(self, watermark: int, also: Iterable[tuple[str, str]] = ()) -> None:
        self.watermark = watermark
        self._also = frozenset(also)

    def keeps(self, key: str, reason: str, newest: int) -> bool:
        if newest > self.watermark:
            return True
        return bool(self._also) and (
            (key, reason) in self._also or (key_digest(key), reason) in self._also
        )


def _runs(
    groups: Sequence[tuple[str, str, int]], most: int, width: int
) -> Iterator[list[tuple[str, str]]]:
    """(key, reason) groups, in order, in runs of at most `most` events (a larger one alone)
    and at most `width` groups (the bound parameters of one query)."""
    run: list[tuple[str, str]] = []
    total = 0
    for group_key, reason, count in groups:
        if run and (total + count > most or len(run) >= width):
            yield run
            run, total = [], 0
        run.append((group_key, reason))
        total += count
    if run:
        yield run


def _recorded(since: datetime, until: datetime) -> pw.Expression:
    """Events RECORDED (created) in [since, until], whatever their event time."""
    return (Event.created_at >= to_db(since)) & (Event.created_at <= to_db(until))


def _recorded_evidence(condition: pw.Expression, limit: int | None = None) -> list[EvidenceEvent]:
    """The events matching `condition` as evidence, in the order they were recorded."""
    query = Event.select(*EVIDENCE_FIELDS).where(condition).order_by(Event.created_at, Event.id)
    return [evidence(row) for row in query.limit(limit).tuples().iterator()]


def recorded_tally(since: datetime, until: datetime, window: tuple[int, int]) -> EventTally:
    """`tally_events` of the events recorded in [since, until] whose event time (unix seconds,
    whole) is in (window[0], window[1]]: verified ones only, counted by the database, not read
    row by row."""
    low, high = window  # int(at) > low  <=>  at >= low + 1;  int(at) <= high  <=>  at < high + 1
    base = (
        _recorded(since, until)
        & (Event.event_time >= from_unix(low + 1))
        & (Event.event_time < from_unix(high + 1))
    )
    verified = (Event.verp_valid == True) & Event.realm.is_null(False)  # noqa: E712 (SQL)
    base &= verified & Event.user_id.is_null(False)
    users = Event.select(Event.realm, Event.user_id).where(base).distinct()
    bounce = base & (Event.kind == MessageKind.BOUNCE.value)
    sender = bounce & (Event.fault == Fault.SENDER.value)
    return EventTally(
        users_seen=int(users.count()),
        bounces=int(Event.select().where(bounce).count()),
        sender_bounces=int(Event.select().where(sender).count()),
    )


def recorded_events(since: datetime, until: datetime) -> list[EvidenceEvent]:
    """Every bounce event RECORDED (created) in [since, until], whatever its event time.

    The breaker judges what the reconciler is doing now, which for a drained backlog is not
    what its event times say.
    """
    return _recorded_evidence(_recorded(since, until))


def unmatched_events(since: datetime, until: datetime, limit: int) -> list[EvidenceEvent]:
    """The first `limit` bounce events recorded in [since, until] without a verified VERP
    token, oldest first (the digest's examples: filtered and cut in SQL)."""
    if limit <= 0:
        return []
    unverified = Event.verp_valid == False  # noqa: E712 - peewee builds SQL from ==
    return _recorded_evidence(_recorded(since, until) & unverified, limit)


def earliest_event_after(event_id: int) -> datetime | None:
    """The earliest event time among events with an id above `event_id` (None: no such)."""
    value = Event.select(pw.fn.MIN(Event.event_time)).where(Event.id > event_id).scalar()
    return from_db(value) if value is not None else None

"""Incidents as the policy detected them: recorded (merged by overlap) and listed.

An incident is found by the digest of its key (`key_digest`): a remote MTA's name is what a
bounce says, of any length, and the indexed column holds 255 characters.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.records import Incident
from reconciler.store.bulk import insert_rows, update_rows
from reconciler.store.connection import rerun_aborted, to_db
from reconciler.store.models import IncidentRow
from reconciler.store.rows import INCIDENT_FIELDS, from_unix, incident_of, key_digest, unix

__all__ = ["INCIDENT_EVIDENCE", "key_digest", "list_incidents", "record_incidents"]


_KEYS_AT_ONCE = 400  # key digests per query (bound parameters)


@dataclass(slots=True)
class _NewRow:
    """A new incident's row, not written yet (`_record` inserts the new ones together): the
    columns of an IncidentRow, without a model instance's cost (a drain finds hundreds)."""

    scope: str
    incident_key: str
    key_text: str
    reason: str
    users: int
    start_at: datetime
    end_at: datetime
    active: bool
    event_ids: str
    first_seen: datetime
    last_seen: datetime
    id: None = None  # (as an IncidentRow not inserted yet)


def _new_row(incident: Incident, digest: str, now: datetime) -> _NewRow:
    return _NewRow(
        scope=incident.scope.value, incident_key=digest, key_text=incident.key,
        reason=incident.reason.value, users=incident.users,
        start_at=from_unix(incident.start), end_at=from_unix(incident.end),
        active=incident.active,
        event_ids=json.dumps(sorted(incident.event_ids)[:_MAX_IDS]),
        first_seen=to_db(now), last_seen=to_db(now),
    )  # fmt: skip


_Row = IncidentRow | _NewRow  # stored, or new in this run


def _stored(incidents: Sequence[Incident]) -> dict[tuple[str, str, str], list[_Row]]:
    """The stored incidents that may meet any of `incidents` (a key of theirs, a span that
    meets the span of them all), by (scope, key digest, reason), oldest first: a query per
    `_KEYS_AT_ONCE` keys, not one per incident (a drained backlog brings hundreds)."""
    if not incidents:
        return {}
    low = from_unix(min(incident.start for incident in incidents))
    high = from_unix(max(incident.end for incident in incidents))
    digests = sorted({key_digest(incident.key) for incident in incidents})
    found: dict[tuple[str, str, str], list[_Row]] = {}
    for first in range(0, len(digests), _KEYS_AT_ONCE):
        query = IncidentRow.select().where(
            IncidentRow.incident_key.in_(digests[first : first + _KEYS_AT_ONCE])
            & (IncidentRow.start_at <= high)
            & (IncidentRow.end_at >= low)
        )
        for row in query.order_by(IncidentRow.id):
            found.setdefault((str(row.scope), str(row.incident_key), str(row.reason)), []).append(
                row
            )
    return found


def _overlapping(rows: list[_Row], incident: Incident) -> _Row | None:
    """The first stored incident of `rows` (same scope, key and reason) that meets this one."""
    return next(
        (r for r in rows if unix(r.start_at) <= incident.end and unix(r.end_at) >= incident.start),
        None,
    )


# Event ids kept per incident, the first ones (its span, not this list, decides what it covers).
INCIDENT_EVIDENCE = 100
_MAX_IDS = INCIDENT_EVIDENCE


def _merge(row: _Row, incident: Incident, again: bool) -> None:
    """Extend the incident `row` (stored, or new in this run) by `incident`, in memory.
    `again`: this run merged or created the row already; it stays active when any of its
    parts is."""
    stored: list[int] = json.loads(row.event_ids)
    ids = stored if len(stored) >= _MAX_IDS else sorted({*stored, *incident.event_ids})
    row.users = max(int(row.users), incident.users)
    row.start_at = from_unix(min(unix(row.start_at), incident.start))
    row.end_at = from_unix(max(unix(row.end_at), incident.end))
    row.active = incident.active or (again and bool(row.active))
    row.event_ids = json.dumps(ids[:_MAX_IDS])


def _write(changed: dict[int, IncidentRow], now: datetime) -> None:
    update_rows(
        IncidentRow,
        [
            {
                "id": row_id,
                "users": row.users,
                "start_at": row.start_at,
                "end_at": row.end_at,
                "active": row.active,
                "event_ids": row.event_ids,
                "last_seen": to_db(now),
            }
            for row_id, row in sorted(changed.items())
        ],
    )


def record_incidents(incidents: Iterable[Incident], now: datetime) -> int:
    """Store the full result of one `detect_incidents` run; returns how many were new.

    One that overlaps a stored incident (same scope, key and reason) extends it.  Stored
    incidents still marked active that this run did not report are marked cleared.
    """
    detected = list(incidents)
    # a decide run goes on when its incidents cannot be stored, and later runs read again only
    # groups with new evidence: a deadlock with another worker must not lose them
    return rerun_aborted(functools.partial(_record, detected, now))


_NEW_COLUMNS = (
    "scope", "incident_key", "key_text", "reason", "users", "start_at", "end_at", "active",
    "event_ids", "first_seen", "last_seen",
)  # fmt: skip


def _record(detected: list[Incident], now: datetime) -> int:
    """Merge `detected` into the stored incidents: the stored ones extended are written with
    one UPDATE statement, those not reported marked cleared, and the new ones (merged among
    themselves in memory first) inserted together in the order found, as a row each written
    when found would be: peewee renders no statement per incident."""
    touched: set[int] = set()  # the stored incidents this run extended
    changed: dict[int, IncidentRow] = {}
    new: list[_NewRow] = []
    stored = _stored(detected)
    for incident in detected:
        group = (incident.scope.value, key_digest(incident.key), incident.reason.value)
        rows = stored.setdefault(group, [])
        row = _overlapping(rows, incident)
        if row is None:
            fresh = _new_row(incident, group[1], now)
            rows.append(fresh)  # a later incident of this run may meet it
            new.append(fresh)
        elif isinstance(row, _NewRow):  # new in this run: created, so merged "again"
            _merge(row, incident, True)
        else:
            _merge(row, incident, int(row.id) in touched)
            touched.add(int(row.id))
            changed[int(row.id)] = row
    _write(changed, now)
    IncidentRow.update(active=False).where(
        (IncidentRow.active == True) & IncidentRow.id.not_in(sorted(touched))  # noqa: E712
    ).execute()
    insert_rows(IncidentRow, [{name: getattr(row, name) for name in _NEW_COLUMNS} for row in new])
    return len(new)


def list_incidents(
    since: datetime, active_only: bool = False, with_events: bool = True
) -> list[Incident]:
    """Incidents whose span ends at or after `since` (all active ones too), by start;
    without their event ids unless `with_events`."""
    query = IncidentRow.select(*INCIDENT_FIELDS).where(
        (IncidentRow.end_at >= to_db(since)) | (IncidentRow.active == True)  # noqa: E712
    )
    if active_only:
        query = query.where(IncidentRow.active == True)  # noqa: E712
    ordered = query.order_by(IncidentRow.start_at, IncidentRow.id)
    # the driver's values (`incident_of` converts them): no model instance per row
    rows = IncidentRow._meta.database.execute_sql(*ordered.sql())
    return [incident_of(row, with_events) for row in rows]

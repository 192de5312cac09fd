"""Incidents as the policy detected them: recorded (merged by overlap) and listed.

An incident is found by the digest of its key (`key_digest`): a remote MTA's name is what a
bounce says, of any length, and the indexed column holds 255 characters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from reconciler.records import Incident
from reconciler.store.connection import to_db
from reconciler.store.models import IncidentRow, database
from reconciler.store.rows import from_unix, to_incident, unix

__all__ = ["INCIDENT_EVIDENCE", "key_digest", "list_incidents", "record_incidents"]


def key_digest(key: str) -> str:
    """What `incident_key` holds: the SHA-256 (hex) of the key's UTF-8."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _overlapping(incident: Incident) -> IncidentRow | None:
    """The stored incident of the same scope, key and reason whose span meets this one."""
    query = IncidentRow.select().where(
        (IncidentRow.scope == incident.scope.value)
        & (IncidentRow.incident_key == key_digest(incident.key))
        & (IncidentRow.reason == incident.reason.value)
        & (IncidentRow.start_at <= from_unix(incident.end))
        & (IncidentRow.end_at >= from_unix(incident.start))
    )
    row: IncidentRow | None = query.order_by(IncidentRow.id).first()
    return row


# Event ids kept per incident, the first ones (its span, not this list, decides what it covers).
INCIDENT_EVIDENCE = 100
_MAX_IDS = INCIDENT_EVIDENCE


def _merge(row: IncidentRow, incident: Incident, now: datetime) -> None:
    stored: list[int] = json.loads(row.event_ids)
    ids = stored if len(stored) >= _MAX_IDS else sorted({*stored, *incident.event_ids})
    ids = ids[:_MAX_IDS]
    IncidentRow.update(
        users=max(int(row.users), incident.users),
        start_at=from_unix(min(unix(row.start_at), incident.start)),
        end_at=from_unix(max(unix(row.end_at), incident.end)),
        active=incident.active,
        event_ids=json.dumps(ids),
        last_seen=to_db(now),
    ).where(IncidentRow.id == row.id).execute()


def record_incidents(incidents: Iterable[Incident], now: datetime) -> int:
    """Store the full result of one `detect_incidents` run; returns how many were new.

    One that overlaps a stored incident (same scope, key and reason) extends it.  Stored
    incidents still marked active that this run did not report are marked cleared.
    """
    new = 0
    touched: list[int] = []
    with database.atomic():
        for incident in incidents:
            row = _overlapping(incident)
            if row is not None:
                _merge(row, incident, now)
                touched.append(int(row.id))
                continue
            created = IncidentRow.create(
                scope=incident.scope.value, incident_key=key_digest(incident.key),
                key_text=incident.key,
                reason=incident.reason.value, users=incident.users,
                start_at=from_unix(incident.start), end_at=from_unix(incident.end),
                active=incident.active,
                event_ids=json.dumps(sorted(incident.event_ids)[:_MAX_IDS]),
                first_seen=to_db(now), last_seen=to_db(now),
            )  # fmt: skip
            touched.append(int(created.id))
            new += 1
        IncidentRow.update(active=False).where(
            (IncidentRow.active == True) & IncidentRow.id.not_in(touched)  # noqa: E712
        ).execute()
    return new


def list_incidents(
    since: datetime, active_only: bool = False, with_events: bool = True
) -> list[Incident]:
    """Incidents whose span ends at or after `since` (all active ones too), by start;
    without their event ids unless `with_events`."""
    query = IncidentRow.select().where(
        (IncidentRow.end_at >= to_db(since)) | (IncidentRow.active == True)  # noqa: E712
    )
    if active_only:
        query = query.where(IncidentRow.active == True)  # noqa: E712
    ordered = query.order_by(IncidentRow.start_at, IncidentRow.id)
    return [to_incident(row, with_events) for row in ordered]

"""Lease queries (migration 4): conditional UPDATE, then INSERT ... ON CONFLICT DO NOTHING.

A lease is a row (scope, name) -> (holder, expires_at).  Taking one is atomic on every backend
without explicit locks: the UPDATE matches only a row that is expired or already ours (the
database re-checks the condition on the latest row version, so two takers cannot both match),
and the INSERT of a missing row is ignored when another taker inserted it first.  Times are
naive UTC, passed in by the caller; hosts sharing a database need clocks in step (NTP) to well
within the lease time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reconciler.store.connection import to_db
from reconciler.store.models import LeaseRow

__all__ = ["acquire", "held_by", "holder", "live", "release", "renew", "take_over"]


def _row(scope: str, name: str) -> LeaseRow | None:
    query = LeaseRow.select().where((LeaseRow.scope == scope) & (LeaseRow.name == name))
    row: LeaseRow | None = query.first()
    return row


def _ours(scope: str, name: str, worker: str) -> bool:
    """After an UPDATE that reported 0 rows: MySQL counts changed rows, not matched ones, so an
    UPDATE of our own row to identical values says 0 too."""
    current = _row(scope, name)
    return current is not None and current.holder == worker


def acquire(scope: str, name: str, worker: str, now: datetime, ttl: timedelta) -> bool:
    """Take (or re-take) the lease when it is free, expired or ours; True when we hold it."""
    at, until = to_db(now), to_db(now + ttl)
    free = (LeaseRow.holder == worker) | (LeaseRow.expires_at <= at)
    updated = (
        LeaseRow.update(holder=worker, acquired_at=at, renewed_at=at, expires_at=until)
        .where((LeaseRow.scope == scope) & (LeaseRow.name == name) & free)
        .execute()
    )
    if updated:
        return True
    row = {"holder": worker, "acquired_at": at, "renewed_at": at, "expires_at": until}
    inserted = (
        LeaseRow.insert(scope=scope, name=name, **row).on_conflict_ignore().as_rowcount().execute()
    )
    if inserted:
        return True
    return _ours(scope, name, worker)


def renew(scope: str, name: str, worker: str, now: datetime, ttl: timedelta) -> bool:
    """Extend our lease; False when another worker holds it now (ours expired and was taken)."""
    at = to_db(now)
    updated = (
        LeaseRow.update(renewed_at=at, expires_at=to_db(now + ttl))
        .where((LeaseRow.scope == scope) & (LeaseRow.name == name) & (LeaseRow.holder == worker))
        .execute()
    )
    if updated:
        return True
    return _ours(scope, name, worker)


def take_over(scope: str, name: str, names: tuple[str, str], now: datetime, ttl: timedelta) -> bool:
    """`names` = (previous holder, new holder): take the lease only if `previous` still holds it
    (it is known to be dead).  True when taken."""
    previous, worker = names
    at = to_db(now)
    updated = (
        LeaseRow.update(holder=worker, acquired_at=at, renewed_at=at, expires_at=to_db(now + ttl))
        .where((LeaseRow.scope == scope) & (LeaseRow.name == name) & (LeaseRow.holder == previous))
        .execute()
    )
    return bool(updated)


def release(scope: str, name: str, worker: str, now: datetime) -> bool:
    """Let our lease expire now (the row keeps its last holder); False when not ours."""
    updated = (
        LeaseRow.update(expires_at=to_db(now))
        .where((LeaseRow.scope == scope) & (LeaseRow.name == name) & (LeaseRow.holder == worker))
        .execute()
    )
    return bool(updated)


def holder(scope: str, name: str, now: datetime) -> str | None:
    """Who holds the lease at `now`; None when it is free or expired."""
    row = _row(scope, name)
    if row is None or row.expires_at <= to_db(now):
        return None
    return str(row.holder)


def held_by(scope: str, worker: str, now: datetime) -> list[str]:
    """Names of the unexpired leases of `scope` that `worker` holds, sorted."""
    query = (
        LeaseRow.select(LeaseRow.name)
        .where(
            (LeaseRow.scope == scope)
            & (LeaseRow.holder == worker)
            & (LeaseRow.expires_at > to_db(now))
        )
        .order_by(LeaseRow.name)
    )
    return [str(row.name) for row in query]


def live(scope: str, now: datetime) -> dict[str, str]:
    """Every unexpired lease of `scope`: name -> holder."""
    query = LeaseRow.select(LeaseRow.name, LeaseRow.holder).where(
        (LeaseRow.scope == scope) & (LeaseRow.expires_at > to_db(now))
    )
    return {str(row.name): str(row.holder) for row in query}

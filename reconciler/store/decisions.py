"""Recorded decisions: write, list, pending "would" ones, acting once, the breaker's actions
and the undo's inputs (the event reads are in `evidence`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any

import peewee as pw

from reconciler.records import (
    Decision,
    DecisionKind,
    Disposition,
    StoredDecision,
    UndoFilter,
)
from reconciler.store.bulk import insert_row
from reconciler.store.connection import to_db
from reconciler.store.inlist import execute_in
from reconciler.store.models import ActingRow, DecisionRow, Event, database
from reconciler.store.rows import (
    decision_row,
    normalise,
    to_stored,
    unix,
)

__all__ = [
    "acted_on",
    "applied_decisions",
    "bind_acting",
    "claim_acting",
    "decided_users",
    "get_decision",
    "list_decisions",
    "mark_applied",
    "mark_undone",
    "pending_decisions",
    "recent_actions",
    "record_decision",
    "supersede_pending",
]

_ACTS = DecisionRow.kind != DecisionKind.NONE.value


def record_decision(decision: Decision, run_id: str, now: datetime) -> StoredDecision:
    # the INSERT as peewee writes it, rendered once (peewee renders its 20 values anew for
    # every `create`: most of a decision's recording when a drain decides hundreds)
    values = {"applied_at": None, "undone_at": None, **decision_row(decision, run_id, to_db(now))}
    return to_stored(_read_back(insert_row(DecisionRow, values)))


@lru_cache(maxsize=8)
def _by_id(backend: str) -> str:
    """The SELECT of one decision row by id, as peewee writes it for `backend` (once: peewee
    renders each of the 21 columns anew for every query, most of a decision's recording)."""
    sql, params = DecisionRow.select().where(DecisionRow.id == 0).sql()
    if params != [0]:
        raise AssertionError(f"unexpected parameters for the decision read-back: {params}")
    return str(sql)


def _read_back(decision_id: int) -> DecisionRow:
    """The decision row just written, as the database stores it (`get_by_id`: the values
    converted by each field as peewee converts them)."""
    database = DecisionRow._meta.database
    bound = database.obj if isinstance(database, pw.DatabaseProxy) else database
    cursor = database.execute_sql(_by_id(type(bound).__name__), [decision_id])
    values = cursor.fetchone()
    if values is None:
        raise pw.DoesNotExist(f"decision {decision_id} is not stored")
    fields = DecisionRow._meta.sorted_fields
    return DecisionRow(**{f.name: f.python_value(v) for f, v in zip(fields, values, strict=True)})


def get_decision(decision_id: int) -> StoredDecision | None:
    row = DecisionRow.get_or_none(DecisionRow.id == decision_id)
    return to_stored(row) if row is not None else None


def list_decisions(
    since: datetime, until: datetime, realm: str | None = None, user_id: int | None = None
) -> list[StoredDecision]:
    query = DecisionRow.select().where(
        (DecisionRow.at >= to_db(since)) & (DecisionRow.at < to_db(until))
    )
    if realm is not None:
        query = query.where(DecisionRow.realm == realm)
    if user_id is not None:
        query = query.where(DecisionRow.user_id == user_id)
    return [to_stored(row) for row in query.order_by(DecisionRow.id)]


def decided_users(
    users: Sequence[tuple[str, int]], since: datetime, until: datetime
) -> set[tuple[str, int]]:
    """Which of `users` ((realm, user id)) have a decision made in [since, until): a query
    per few hundred users of one realm (the (realm, user_id) index finds them)."""
    realms: dict[str, list[int]] = {}
    for realm, user_id in set(users):
        realms.setdefault(realm, []).append(user_id)
    found: set[tuple[str, int]] = set()
    for realm, user_ids in sorted(realms.items()):
        ids = sorted(user_ids)

        def query(values: list[Any], realm: str = realm) -> Any:
            return (
                DecisionRow.select(DecisionRow.user_id)
                .where(
                    (DecisionRow.realm == realm)
                    & (DecisionRow.at >= to_db(since))
                    & (DecisionRow.at < to_db(until))
                    & DecisionRow.user_id.in_(values)  # last: `execute_in` binds the list
                )
                .distinct()
            )

        for start in range(0, len(ids), 500):
            rows = execute_in(query, DecisionRow.user_id, ids[start : start + 500])
            found.update((realm, int(user_id)) for (user_id,) in rows)
    return found


def _pending_query() -> pw.ModelSelect[DecisionRow]:
    return DecisionRow.select().where(
        _ACTS
        & (DecisionRow.disposition == Disposition.WOULD.value)
        & DecisionRow.applied_at.is_null()
        & DecisionRow.undone_at.is_null()
    )


def pending_decisions(limit: int | None = None) -> list[StoredDecision]:
    """ "Would act" decisions never applied, newest first; one per (realm, user, address)."""
    latest: dict[tuple[str, int, str | None], StoredDecision] = {}
    for row in _pending_query().order_by(DecisionRow.id.desc()):
        stored = to_stored(row)
        key = (stored.decision.realm, stored.decision.user_id, stored.decision.address)
        latest.setdefault(key, stored)
    found = list(latest.values())
    return found if limit is None else found[:limit]


def mark_applied(decision_ids: Sequence[int], now: datetime) -> int:
    """Mark decisions applied (those not applied yet); returns how many changed."""
    if not decision_ids:
        return 0
    return int(
        DecisionRow.update(applied_at=to_db(now))
        .where(DecisionRow.id.in_(list(decision_ids)) & DecisionRow.applied_at.is_null())
        .execute()
    )


def supersede_pending(decision: Decision, now: datetime) -> int:
    """Mark the user's pending "would" decisions applied (an application covers them all)."""
    return int(
        DecisionRow.update(applied_at=to_db(now))
        .where(
            _ACTS
            & (DecisionRow.disposition == Disposition.WOULD.value)
            & DecisionRow.applied_at.is_null()
            & DecisionRow.undone_at.is_null()
            & (DecisionRow.realm == decision.realm)
            & (DecisionRow.user_id == decision.user_id)
        )
        .execute()
    )


def mark_undone(decision_id: int, now: datetime) -> bool:
    """Mark a decision undone; its user and address are free for another to act on."""
    changed = (
        DecisionRow.update(undone_at=to_db(now))
        .where((DecisionRow.id == decision_id) & DecisionRow.undone_at.is_null())
        .execute()
    )
    ActingRow.delete().where(ActingRow.decision == decision_id).execute()
    return bool(changed)


def _acting_key(decision: Decision) -> str:
    address = normalise(decision.address) if decision.address else ""
    return hashlib.sha256(f"{decision.realm}\n{decision.user_id}\n{address}".encode()).hexdigest()


def claim_acting(decision: Decision, now: datetime) -> bool:
    """Take the right to act for the decision's user and address: False when another
    decision holds it (waiting for that one's transaction first, where it is still open).

    Make it the first write of the transaction that applies the decision: a worker that waits
    here holds no other lock, so two workers never wait for each other.
    """
    try:
        with database.atomic():  # a savepoint: a taken key leaves the caller's work intact
            ActingRow.insert(acting_key=_acting_key(decision), since=to_db(now)).execute()
    except pw.IntegrityError:
        return False
    return True


def bind_acting(decision: Decision, decision_id: int | None) -> None:
    """Name the recorded decision that holds the claim (None: give the claim back)."""
    own = ActingRow.acting_key == _acting_key(decision)
    if decision_id is None:
        ActingRow.delete().where(own & ActingRow.decision.is_null()).execute()
    else:
        ActingRow.update(decision=decision_id).where(own).execute()


def acted_on(realm: str, user_id: int, address: str | None) -> StoredDecision | None:
    """The latest applied, not undone decision for this user and address, if any."""
    query = DecisionRow.select().where(
        _ACTS
        & (DecisionRow.realm == realm)
        & (DecisionRow.user_id == user_id)
        & DecisionRow.applied_at.is_null(False)
        & DecisionRow.undone_at.is_null()
    )
    if address is None:
        query = query.where(DecisionRow.address.is_null())
    else:
        query = query.where(DecisionRow.address == normalise(address))
    row = query.order_by(DecisionRow.id.desc()).first()
    return to_stored(row) if row is not None else None


def recent_actions(since: datetime, until: datetime) -> list[Decision]:
    """Decisions whose actions ran in [since, until], as `check_breaker` reads them.

    `at` is when they were applied and the disposition is APPLIED, also for "would" decisions
    applied later on request (`--apply-pending`): they act on users just the same.
    """
    query = DecisionRow.select().where(
        _ACTS & (DecisionRow.applied_at >= to_db(since)) & (DecisionRow.applied_at <= to_db(until))
    )
    return [
        replace(to_stored(row).decision, at=unix(row.applied_at), disposition=Disposition.APPLIED)
        for row in query.order_by(DecisionRow.applied_at, DecisionRow.id)
    ]


def _event_rules(event_ids: Sequence[int]) -> set[str]:
    if not event_ids:
        return set()
    query = Event.select(Event.rule_id).where(Event.id.in_(list(event_ids)))
    return {row.rule_id for row in query}


def _matches(stored: StoredDecision, wanted: UndoFilter) -> bool:
    decision = stored.decision
    if wanted.reason is not None and wanted.reason not in decision.reasons:
        return False
    if wanted.rule is None:
        return True
    labels = {decision.rule, decision.trigger.value if decision.trigger else ""}
    return wanted.rule in labels or wanted.rule in _event_rules(decision.event_ids)


def applied_decisions(wanted: UndoFilter) -> list[StoredDecision]:
    """Applied, not undone decisions that match every condition of `wanted`, oldest first."""
    query = DecisionRow.select().where(
        DecisionRow.applied_at.is_null(False) & DecisionRow.undone_at.is_null()
    )
    conditions = (
        (wanted.since, lambda v: DecisionRow.applied_at >= to_db(v)),
        (wanted.run_id, lambda v: DecisionRow.run_id == v),
        (wanted.realm, lambda v: DecisionRow.realm == v),
        (wanted.user_id, lambda v: DecisionRow.user_id == v),
        (wanted.address, lambda v: DecisionRow.address == normalise(v)),
    )
    for value, condition in conditions:
        if value is not None:
            query = query.where(condition(value))
    found = (to_stored(row) for row in query.order_by(DecisionRow.id))
    return [stored for stored in found if _matches(stored, wanted)]

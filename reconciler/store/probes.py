"""Probes: the intent recorded before a probe is sent, its state as it is sent and judged,
and the reads of reports and of the decide stage (see `records.probes`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import peewee as pw

from reconciler.records import (
    OPEN_PROBE_STATES,
    Disposition,
    Probe,
    ProbeState,
    Trigger,
    UserSelector,
)
from reconciler.store.connection import from_db, to_db
from reconciler.store.models import DecisionRow, ProbeRow, database
from reconciler.store.rows import maybe, normalise

__all__ = [
    "claim_unsent",
    "clearances",
    "get_probe",
    "insert_probe",
    "list_probes",
    "open_probes",
    "probe_counts",
    "resolve_probe",
    "set_disposition",
    "update_probe",
]

_OPEN = [state.value for state in OPEN_PROBE_STATES]
_CHUNK = 500


def _open_key(realm: str, user_id: int, address: str) -> str:
    return hashlib.sha256(f"{realm}\n{user_id}\n{normalise(address)}".encode()).hexdigest()


def _to_probe(row: ProbeRow) -> Probe:
    decision_id = row.__data__.get("decision")  # the raw foreign key: no extra query
    return Probe(
        id=int(row.id),
        decision_id=int(decision_id) if decision_id is not None else None,
        realm=row.realm,
        user_id=int(row.user_id),
        address=row.address,
        trigger=Trigger(row.trigger),
        state=ProbeState(row.state),
        message_id=row.message_id,
        send_ref=row.send_ref,
        return_path=row.return_path,
        created_at=from_db(row.created_at),
        due_at=from_db(row.due_at),
        attempted_at=maybe(row.attempted_at),
        sent_at=maybe(row.sent_at),
        resolved_at=maybe(row.resolved_at),
        event_id=int(row.event_id) if row.event_id is not None else None,
        detail=row.detail,
        attempts=int(row.attempts),
    )


def insert_probe(draft: Probe) -> Probe | None:
    """Record a probe as `draft` says (its id is ignored).  An open one takes its address's
    open key first: None when another open probe has it (a savepoint: the caller's
    transaction goes on)."""
    opening = draft.state in OPEN_PROBE_STATES
    values: dict[str, Any] = {
        "decision": draft.decision_id,
        "realm": draft.realm,
        "user_id": draft.user_id,
        "address": normalise(draft.address),
        "trigger": draft.trigger.value,
        "state": draft.state.value,
        "open_key": _open_key(draft.realm, draft.user_id, draft.address) if opening else None,
        "message_id": draft.message_id,
        "send_ref": draft.send_ref,
        "return_path": draft.return_path,
        "created_at": to_db(draft.created_at),
        "due_at": to_db(draft.due_at),
        "attempted_at": to_db(draft.attempted_at) if draft.attempted_at else None,
        "sent_at": to_db(draft.sent_at) if draft.sent_at else None,
        "detail": draft.detail,
        "attempts": draft.attempts,
    }
    try:
        with database.atomic():
            probe_id = ProbeRow.insert(**values).execute()
    except pw.IntegrityError:
        return None
    return get_probe(int(probe_id))


def get_probe(probe_id: int) -> Probe | None:
    row = ProbeRow.get_or_none(ProbeRow.id == probe_id)
    return _to_probe(row) if row is not None else None


def update_probe(probe_id: int, expected: Sequence[ProbeState], **changes: Any) -> bool:
    """Change a probe still in one of the `expected` states: True for exactly one caller."""
    values = {
        k: to_db(v) if isinstance(v, datetime) else v.value if isinstance(v, ProbeState) else v
        for k, v in changes.items()
    }
    query = ProbeRow.update(**values).where(
        (ProbeRow.id == probe_id) & ProbeRow.state.in_([s.value for s in expected])
    )
    return bool(query.execute())


def claim_unsent(probe_id: int, now: datetime) -> bool:
    """Take an UNSENT probe to send it again (it becomes SENDING): one worker gets True."""
    return bool(
        ProbeRow.update(state=ProbeState.SENDING.value, detail=f"sending again at {now:%H:%M}")
        .where((ProbeRow.id == probe_id) & (ProbeRow.state == ProbeState.UNSENT.value))
        .execute()
    )


def resolve_probe(probe_id: int, state: ProbeState, now: datetime, event_id: int | None) -> bool:
    """An open probe becomes BOUNCED or DELIVERED (its address is free for another probe):
    True for exactly one caller."""
    return update_probe(
        probe_id, sorted(OPEN_PROBE_STATES), state=state, resolved_at=now, event_id=event_id,
        open_key=None,
    )  # fmt: skip


def set_disposition(decision_id: int, disposition: Disposition) -> None:
    DecisionRow.update(disposition=disposition.value).where(DecisionRow.id == decision_id).execute()


def open_probes() -> list[Probe]:
    """Every open probe (few at any time), oldest first."""
    query = ProbeRow.select().where(ProbeRow.state.in_(_OPEN)).order_by(ProbeRow.id)
    return [_to_probe(row) for row in query]


def clearances(users: Sequence[tuple[str, int]]) -> dict[tuple[str, int], dict[str, int]]:
    """(realm, user) → address → unix seconds of the latest probe to it that was delivered
    (no bounce): the user's evidence about the address before then no longer counts."""
    wanted = set(users)
    found: dict[tuple[str, int], dict[str, int]] = {}
    ids = sorted({user_id for _, user_id in wanted})
    for start in range(0, len(ids), _CHUNK):
        query: Any = (
            ProbeRow.select(ProbeRow.realm, ProbeRow.user_id, ProbeRow.address,
                            ProbeRow.sent_at, ProbeRow.created_at)
            .where(ProbeRow.user_id.in_(ids[start : start + _CHUNK])
                   & (ProbeRow.state == ProbeState.DELIVERED.value))
            .tuples()
        )  # fmt: skip
        for realm, user_id, address, sent_at, created_at in query:
            key = (str(realm), int(user_id))
            if key not in wanted:
                continue
            at = int(from_db(sent_at or created_at).timestamp())
            per_user = found.setdefault(key, {})
            per_user[address] = max(at, per_user.get(address, 0))
    return found


def _selected(selector: UserSelector) -> Any:
    if selector.address is not None:
        return ProbeRow.address == normalise(selector.address)
    where = ProbeRow.user_id == selector.user_id
    return where & (ProbeRow.realm == selector.realm) if selector.realm is not None else where


def list_probes(
    selector: UserSelector | None = None,
    states: Sequence[ProbeState] | None = None,
    limit: int = 1000,
) -> list[Probe]:
    """Probes of a user or address (all: None) in these states (all: None), oldest first."""
    query = ProbeRow.select()
    if selector is not None:
        query = query.where(_selected(selector))
    if states is not None:
        query = query.where(ProbeRow.state.in_([s.value for s in states]))
    return [_to_probe(row) for row in query.order_by(ProbeRow.id).limit(limit)]


def probe_counts(since: datetime, until: datetime) -> dict[ProbeState, int]:
    """Probes recorded in [since, until), by state (every state present)."""
    counts = dict.fromkeys(ProbeState, 0)
    query: Any = (
        ProbeRow.select(ProbeRow.state, pw.fn.COUNT(ProbeRow.id))
        .where((ProbeRow.created_at >= to_db(since)) & (ProbeRow.created_at < to_db(until)))
        .group_by(ProbeRow.state)
        .tuples()
    )
    for state, number in query:
        counts[ProbeState(state)] = int(number)
    return counts

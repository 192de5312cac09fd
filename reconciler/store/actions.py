"""Suppression list, action log and the webhook outbox: what actions write and undo reads."""

from __future__ import annotations

from datetime import datetime

from reconciler.errors import StoreError
from reconciler.records import ActionOutcome, ActionRecord, ActionStatus, OutboxItem, Suppression
from reconciler.store.connection import to_db
from reconciler.store.models import ActionLog, DecisionRow, OutboxRow, SuppressionRow, database
from reconciler.store.rows import normalise, to_action, to_outbox, to_suppression

__all__ = [
    "actions_of",
    "add_suppression",
    "claim_action",
    "due_outbox",
    "enqueue",
    "find_suppression",
    "list_outbox",
    "list_suppressions",
    "mark_action_undone",
    "outbox_attempt",
    "record_action",
    "remove_suppression",
    "retry_outbox",
    "unfinished_actions",
    "update_action",
]

_UNDOABLE = (ActionStatus.DONE.value, ActionStatus.QUEUED.value)


# -- suppressions ----------------------------------------------------------------------------


def add_suppression(item: Suppression) -> bool:
    """Add the address (normalised); False when it is already suppressed (left as it is)."""
    address = normalise(item.address)
    with database.atomic():
        if SuppressionRow.get_or_none(SuppressionRow.address == address) is not None:
            return False
        SuppressionRow.insert(
            address=address, realm=item.realm, user_id=item.user_id, reason=item.reason,
            since=to_db(item.since), decision=item.decision_id,
        ).execute()  # fmt: skip
    return True


def remove_suppression(address: str) -> Suppression | None:
    """Remove the address from the list; returns what was removed (None: it was not there)."""
    with database.atomic():
        row = SuppressionRow.get_or_none(SuppressionRow.address == normalise(address))
        if row is None:
            return None
        SuppressionRow.delete().where(SuppressionRow.id == row.id).execute()
    return to_suppression(row)


def find_suppression(address: str) -> Suppression | None:
    row = SuppressionRow.get_or_none(SuppressionRow.address == normalise(address))
    return to_suppression(row) if row is not None else None


def list_suppressions(realm: str | None = None, user_id: int | None = None) -> list[Suppression]:
    """The suppression list ordered by address, optionally of one realm or user."""
    query = SuppressionRow.select()
    if realm is not None:
        query = query.where(SuppressionRow.realm == realm)
    if user_id is not None:
        query = query.where(SuppressionRow.user_id == user_id)
    return [to_suppression(row) for row in query.order_by(SuppressionRow.address)]


# -- action log ------------------------------------------------------------------------------


def record_action(decision_id: int, outcome: ActionOutcome, now: datetime) -> ActionRecord:
    row = ActionLog.create(
        decision=decision_id,
        action=outcome.action,
        status=outcome.status.value,
        detail=outcome.detail,
        undo_data=outcome.undo_data,
        at=to_db(now),
    )
    return to_action(row, DecisionRow.get_by_id(decision_id))


def actions_of(decision_id: int, undoable_only: bool = False) -> list[ActionRecord]:
    """The action log of one decision, in order; `undoable_only`: done or queued, not undone."""
    decision = DecisionRow.get_by_id(decision_id)
    query = ActionLog.select().where(ActionLog.decision == decision_id)
    if undoable_only:
        query = query.where(ActionLog.status.in_(_UNDOABLE) & ActionLog.undone_at.is_null())
    return [to_action(row, decision) for row in query.order_by(ActionLog.id)]


def update_action(record_id: int, outcome: ActionOutcome, now: datetime) -> ActionRecord:
    """Replace the outcome of a logged action (a PENDING or FAILED one that ran again)."""
    ActionLog.update(
        status=outcome.status.value, detail=outcome.detail, undo_data=outcome.undo_data,
        at=to_db(now),
    ).where(ActionLog.id == record_id).execute()  # fmt: skip
    row = ActionLog.get_by_id(record_id)
    return to_action(row, DecisionRow.get_by_id(row.__data__["decision"]))


def unfinished_actions(
    limit: int = 100, pending_before: datetime | None = None
) -> list[ActionRecord]:
    """PENDING or FAILED actions of decisions not undone, oldest first (to run again);
    with `pending_before`, only the PENDING ones logged at or before that time."""
    unfinished = ActionLog.status.in_([ActionStatus.PENDING.value, ActionStatus.FAILED.value])
    if pending_before is not None:
        stale = (ActionLog.status == ActionStatus.PENDING.value) & (
            ActionLog.at <= to_db(pending_before)
        )
        unfinished = (ActionLog.status == ActionStatus.FAILED.value) | stale
    query = (
        ActionLog.select(ActionLog, DecisionRow)
        .join(DecisionRow)
        .where(unfinished & ActionLog.undone_at.is_null() & DecisionRow.undone_at.is_null())
        .order_by(ActionLog.id)
        .limit(limit)
    )
    return [to_action(row, row.decision) for row in query]


def claim_action(record: ActionRecord, now: datetime) -> bool:
    """Mark an unfinished action PENDING as of `now`, only if it is still as `record` read it
    (same status, same time): of two workers about to run it again, exactly one gets True."""
    changed = (
        ActionLog.update(status=ActionStatus.PENDING.value, detail="about to run", at=to_db(now))
        .where(
            (ActionLog.id == record.id)
            & (ActionLog.status == record.status.value)
            & (ActionLog.at == to_db(record.at))
        )
        .execute()
    )
    return bool(changed)


def mark_action_undone(record_id: int, now: datetime) -> bool:
    changed = (
        ActionLog.update(undone_at=to_db(now))
        .where((ActionLog.id == record_id) & ActionLog.undone_at.is_null())
        .execute()
    )
    return bool(changed)


# -- outbox ----------------------------------------------------------------------------------


def enqueue(
    event_id: str, kind: str, payload: str, decision_id: int | None, now: datetime
) -> OutboxItem:
    """Add one event, due at once.  An event id already queued is left as it is."""
    with database.atomic():
        row = OutboxRow.get_or_none(OutboxRow.event_id == event_id)
        if row is None:
            row = OutboxRow.create(
                event_id=event_id, kind=kind, decision=decision_id, payload=payload,
                attempts=0, next_at=to_db(now), created_at=to_db(now), last_error="",
            )  # fmt: skip
    return to_outbox(row)


def due_outbox(now: datetime, limit: int = 100) -> list[OutboxItem]:
    """Undelivered items due at `now` (not given up), oldest first."""
    query = OutboxRow.select().where(
        OutboxRow.delivered_at.is_null()
        & OutboxRow.failed_at.is_null()
        & (OutboxRow.next_at <= to_db(now))
    )
    return [to_outbox(row) for row in query.order_by(OutboxRow.next_at, OutboxRow.id).limit(limit)]


def outbox_attempt(
    item_id: int, now: datetime, error: str | None, next_at: datetime | None
) -> OutboxItem:
    """Record one delivery attempt: delivered (`error` None), retry at `next_at`, or give up
    (`next_at` None)."""
    values: dict[str, object] = {"attempts": OutboxRow.attempts + 1}
    if error is None:
        values.update(delivered_at=to_db(now), last_error="")
    elif next_at is None:
        values.update(failed_at=to_db(now), last_error=error)
    else:
        values.update(next_at=to_db(next_at), last_error=error)
    OutboxRow.update(**values).where(OutboxRow.id == item_id).execute()
    return to_outbox(OutboxRow.get_by_id(item_id))


def list_outbox(state: str = "pending", limit: int = 100) -> list[OutboxItem]:
    """Items by state: "pending" (to deliver), "failed" (given up), "delivered", or "all"."""
    filters = {
        "pending": OutboxRow.delivered_at.is_null() & OutboxRow.failed_at.is_null(),
        "failed": OutboxRow.failed_at.is_null(False),
        "delivered": OutboxRow.delivered_at.is_null(False),
    }
    if state not in (*filters, "all"):
        raise StoreError(f"unknown outbox state {state!r}: pending, failed, delivered or all")
    query = OutboxRow.select()
    if state != "all":
        query = query.where(filters[state])
    return [to_outbox(row) for row in query.order_by(OutboxRow.id).limit(limit)]


def retry_outbox(now: datetime) -> int:
    """Make every given-up item due again at `now` (attempts restart); returns how many."""
    return int(
        OutboxRow.update(failed_at=None, attempts=0, next_at=to_db(now))
        .where(OutboxRow.failed_at.is_null(False) & OutboxRow.delivered_at.is_null())
        .execute()
    )

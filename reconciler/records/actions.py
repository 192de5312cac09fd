"""Decisions, actions and their undo (STYLE 2.7): what the store and the actions exchange."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from reconciler.frozenrecord import frozen_record
from reconciler.records.mail import Reason
from reconciler.records.policy import Decision, Mode

__all__ = [
    "ActionOutcome",
    "ActionRecord",
    "ActionStatus",
    "AuditEntry",
    "ModeState",
    "OutboxItem",
    "StoredDecision",
    "Suppression",
    "UndoFilter",
]


@frozen_record
class ModeState:
    """The mode in force: since when, set by whom, and why (the latest audited change)."""

    mode: Mode
    since: datetime
    by: str  # "operator:<name>", "breaker", or "install" for the default of a fresh database
    reason: str


@frozen_record
class AuditEntry:
    """One audited change: a mode change, a breaker trip, a reinstatement, an undo, ..."""

    id: int
    at: datetime
    actor: str
    action: str  # "mode" | "breaker" | "reinstate" | "undo" | "apply-pending" | ...
    detail: str
    old_mode: Mode | None = None
    new_mode: Mode | None = None
    decision_id: int | None = None


@frozen_record
class StoredDecision:
    """A decision as recorded, with its id, the run that made it and what became of it."""

    id: int
    run_id: str
    decision: Decision
    recorded_at: datetime
    applied_at: datetime | None = None  # when its actions ran (None: not applied)
    undone_at: datetime | None = None  # when its actions were undone


@frozen_record
class Suppression:
    """An address we no longer send to, with the user and the decision that put it there."""

    address: str  # normalised: stripped, lower case
    realm: str
    user_id: int
    reason: str  # e.g. "hard:3d/14d userunknown"
    since: datetime
    decision_id: int | None = None  # the evidence; None when added by hand


class ActionStatus(StrEnum):
    """What one action did with one decision (or with one undo)."""

    DONE = "done"  # carried out
    QUEUED = "queued"  # handed to the outbox; delivered later, at least once
    SKIPPED = "skipped"  # nothing to do (already done, not the user's address, no undo)
    FAILED = "failed"  # tried and failed; `detail` says why (retried by `retry_failed`)
    PENDING = "pending"  # logged before an outside action runs: a crash leaves it for retry


@frozen_record
class ActionOutcome:
    """The result of `apply` or `undo` of one action.  `undo_data` is JSON text."""

    action: str
    status: ActionStatus
    detail: str = ""
    undo_data: str | None = None  # what `undo` needs (e.g. the previous value), JSON text


@frozen_record
class ActionRecord:
    """One row of the action log: what an action did for a decision, and how to undo it."""

    id: int
    decision_id: int
    action: str
    status: ActionStatus
    detail: str
    at: datetime
    realm: str
    user_id: int
    address: str | None
    undo_data: str | None = None
    undone_at: datetime | None = None


@frozen_record
class OutboxItem:
    """One event waiting in (or delivered from) the webhook outbox."""

    id: int
    event_id: str  # idempotency key, also in the payload
    kind: str  # "suppress" | "reinstated"
    payload: str  # the JSON body, exactly as it is sent
    attempts: int
    next_at: datetime  # when it is due (again)
    created_at: datetime
    decision_id: int | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None  # gave up after max_attempts (kept; can be retried)
    last_error: str = ""


@frozen_record
class UndoFilter:
    """Which applied decisions an undo covers; every given condition must hold."""

    since: datetime | None = None  # applied at or after
    rule: str | None = None  # policy rule label or trigger, or a classification rule id
    reason: Reason | None = None  # one of the decision's reasons
    run_id: str | None = None
    realm: str | None = None
    user_id: int | None = None
    address: str | None = None

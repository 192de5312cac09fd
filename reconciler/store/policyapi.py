"""The Store methods of the policy side: mode and audit, decisions, suppressions, action log,
outbox and incidents.  A mixin of `Store` (kept apart so each module stays small).

Every method returns records, raises `StoreError` (chained) and takes `now` as an argument.
Methods that write run in their own transaction unless the caller holds one
(`with store.transaction(): ...`): a decision, its suppression, its outbox items and its action
log rows are then committed together, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

import peewee as pw

from reconciler.errors import StoreError
from reconciler.records import (
    ActionOutcome,
    ActionRecord,
    AuditEntry,
    BreakerTrip,
    Decision,
    EventTally,
    EvidenceEvent,
    Incident,
    IncidentScope,
    MessageKind,
    Mode,
    ModeState,
    OutboxItem,
    Reason,
    StoredDecision,
    Suppression,
    UndoFilter,
)
from reconciler.store.actions import (
    actions_of,
    add_suppression,
    claim_action,
    due_outbox,
    enqueue,
    find_suppression,
    list_outbox,
    list_suppressions,
    mark_action_undone,
    outbox_attempt,
    record_action,
    remove_suppression,
    retry_outbox,
    unfinished_actions,
    update_action,
)
from reconciler.store.connection import hint, rerun_aborted, wrap_errors
from reconciler.store.decisions import (
    acted_on,
    applied_decisions,
    bind_acting,
    claim_acting,
    decided_users,
    get_decision,
    list_decisions,
    mark_applied,
    mark_undone,
    pending_decisions,
    recent_actions,
    record_decision,
    supersede_pending,
)
from reconciler.store.evidence import (
    GroupFilter,
    Sighting,
    bounce_groups,
    earliest_event_after,
    recent_events,
    recorded_events,
    recorded_tally,
    unmatched_events,
    user_activity,
)
from reconciler.store.incidents import list_incidents, record_incidents
from reconciler.store.models import database
from reconciler.store.modes import add_audit, audit_entries, read_mode, set_mode, trip_breaker

__all__ = ["PolicyStore"]

T = TypeVar("T")


class PolicyStore:
    """Mixin: the policy, action and audit queries of `Store`."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction around several calls (nested calls become savepoints)."""
        try:
            with database.atomic():
                yield
        except pw.PeeweeException as err:
            raise StoreError(f"transaction failed: {err}") from err

    def run_transaction(self, work: Callable[[], T]) -> T:
        """`work()` in one transaction, as `transaction`, run again from its start when the
        database aborted it to break a deadlock (two workers deciding at once on PostgreSQL
        or MariaDB): `work` must do nothing outside the database that it cannot repeat."""
        try:
            return rerun_aborted(work)
        except pw.PeeweeException as err:
            raise StoreError(f"transaction failed: {err}") from err

    # -- mode and audit ----------------------------------------------------------------------

    @wrap_errors("reading the mode")
    def get_mode(self) -> ModeState:
        """The mode in force; LOG_ONLY "since install" on a fresh database.  Read each cycle."""
        return read_mode()

    @wrap_errors("changing the mode")
    def set_mode(self, mode: Mode, actor: str, reason: str, now: datetime) -> ModeState:
        """An operator sets LOG_ONLY or ENFORCE (also re-arms after a trip); audited.

        StoreError for PAUSED (the breaker's only) or an empty actor or reason.
        """
        return set_mode(mode, actor, reason, now)

    @wrap_errors("tripping the circuit breaker")
    def trip_breaker(self, trip: BreakerTrip, now: datetime) -> ModeState | None:
        """ENFORCE → PAUSED with an audit row naming the cause; None if not enforcing."""
        return trip_breaker(trip, now)

    @wrap_errors("writing the audit log")
    def audit(
        self, actor: str, action: str, detail: str, now: datetime, decision_id: int | None = None
    ) -> AuditEntry:
        """Append one audit row (reinstate, undo, apply-pending, ...)."""
        return add_audit(actor, action, detail, now, decision_id)

    @wrap_errors("reading the audit log")
    def audit_log(
        self, since: datetime | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Audit rows, newest first."""
        return audit_entries(since, action, limit)

    # -- decisions ---------------------------------------------------------------------------

    @wrap_errors("recording a decision")
    def record_decision(self, decision: Decision, run_id: str, now: datetime) -> StoredDecision:
        """Record a decision of any mode and disposition (not applied yet)."""
        return record_decision(decision, run_id, now)

    @wrap_errors("reading a decision")
    def get_decision(self, decision_id: int) -> StoredDecision | None:
        return get_decision(decision_id)

    @wrap_errors("listing decisions")
    def decisions(
        self, since: datetime, until: datetime, realm: str | None = None, user_id: int | None = None
    ) -> list[StoredDecision]:
        """Decisions made in [since, until), oldest first, optionally of one realm or user."""
        return list_decisions(since, until, realm, user_id)

    @wrap_errors("listing decided users")
    def decided_users(
        self, users: Sequence[tuple[str, int]], since: datetime, until: datetime
    ) -> set[tuple[str, int]]:
        """Which of `users` ((realm, user id)) have a decision made in [since, until)."""
        return decided_users(users, since, until)

    @wrap_errors("listing pending decisions")
    def pending_decisions(self, limit: int | None = None) -> list[StoredDecision]:
        """ "Would act" decisions never applied: the latest per (realm, user, address), newest
        first.  What `mode set enforce` previews and `--apply-pending` applies."""
        return pending_decisions(limit)

    @wrap_errors("marking decisions applied")
    def mark_applied(self, decision_ids: Sequence[int], now: datetime) -> int:
        return mark_applied(decision_ids, now)

    @wrap_errors("marking pending decisions applied")
    def supersede_pending(self, decision: Decision, now: datetime) -> int:
        """Mark every pending "would" decision of the decision's user as applied."""
        return supersede_pending(decision, now)

    @wrap_errors("marking a decision undone")
    def mark_undone(self, decision_id: int, now: datetime) -> bool:
        return mark_undone(decision_id, now)

    @wrap_errors("claiming a decision's actions")
    def claim_acting(self, decision: Decision, now: datetime) -> bool:
        """Take the right to act for the decision's user and address, first thing in the
        transaction that applies it: False when another decision acts for them (its actions
        stand); of two workers at once, one gets True (see `store.decisions.claim_acting`)."""
        return claim_acting(decision, now)

    @wrap_errors("naming the acting decision")
    def bind_acting(self, decision: Decision, decision_id: int | None) -> None:
        """Name the recorded decision holding the claim, or (None) give an unused claim back."""
        bind_acting(decision, decision_id)

    @wrap_errors("looking up earlier actions")
    def acted_on(self, realm: str, user_id: int, address: str | None) -> StoredDecision | None:
        """The latest applied, not undone decision for this user and address (None: none):
        the decide stage skips acting twice on the same address."""
        return acted_on(realm, user_id, address)

    @wrap_errors("finding decisions to undo")
    def applied_decisions(self, wanted: UndoFilter) -> list[StoredDecision]:
        """Applied, not undone decisions matching `wanted` (reinstate and batch undo)."""
        return applied_decisions(wanted)

    @wrap_errors("reading recent actions")
    def recent_actions(self, since: datetime, until: datetime) -> list[Decision]:
        """Decisions applied in [since, until] (`at` = when applied, disposition APPLIED), as
        `policy.check_breaker` reads them."""
        return recent_actions(since, until)

    @wrap_errors("reading recent events")
    def recent_events(self, since: datetime, until: datetime) -> list[EvidenceEvent]:
        """All bounce events with event time in [since, until], in one list (the decide stage
        reads them counted, `recorded_tally`, or group by group, `bounce_groups`)."""
        return recent_events(since, until)

    def bounce_groups(
        self,
        since: datetime,
        until: datetime,
        scope: IncidentScope,
        min_events: int,
        changed: GroupFilter | None = None,
    ) -> Iterator[tuple[str, Reason, list[Sighting]]]:
        """Bounces in [since, until] by (domain or remote MTA, reason), one group at a time,
        as sightings, groups of fewer than `min_events` skipped, and those `changed` leaves
        out (no new event, no group it names): for `policy.incidents_of_sightings`."""
        try:
            yield from bounce_groups(since, until, scope, min_events, changed)
        except pw.PeeweeException as err:
            raise StoreError(f"reading bounces by {scope} failed: {err}{hint(err)}") from err

    @wrap_errors("reading users' activity")
    def user_activity(
        self, users: Sequence[tuple[str, int]], since: datetime
    ) -> dict[tuple[str, int], list[tuple[MessageKind, int]]]:
        """The kind and time (unix seconds) of each event `user_histories` would read, by
        user (`policy.cannot_act_on` tells from them whom a decide run must decide)."""
        return user_activity(users, since)

    @wrap_errors("counting recorded events")
    def recorded_tally(
        self, since: datetime, until: datetime, window: tuple[int, int]
    ) -> EventTally:
        """What `check_breaker` counts of the events recorded in [since, until] whose event
        time is in (window[0], window[1]] (unix seconds), counted in the database."""
        return recorded_tally(since, until, window)

    @wrap_errors("reading recorded events")
    def recorded_events(self, since: datetime, until: datetime) -> list[EvidenceEvent]:
        """All bounce events recorded (created) in [since, until] (the breaker counts them in
        SQL: `recorded_tally`)."""
        return recorded_events(since, until)

    @wrap_errors("reading unmatched events")
    def unmatched_events(self, since: datetime, until: datetime, limit: int) -> list[EvidenceEvent]:
        """The first `limit` events recorded in [since, until] without a verified token."""
        return unmatched_events(since, until, limit)

    @wrap_errors("reading the earliest new event")
    def earliest_event_after(self, event_id: int) -> datetime | None:
        """The earliest event time of the events above `event_id`: where incidents start."""
        return earliest_event_after(event_id)

    # -- suppressions ------------------------------------------------------------------------

    @wrap_errors("adding a suppression")
    def add_suppression(self, item: Suppression) -> bool:
        """Suppress an address; False when it already was (the first entry is kept)."""
        return add_suppression(item)

    @wrap_errors("removing a suppression")
    def remove_suppression(self, address: str) -> Suppression | None:
        """Remove an address from the list; returns the entry removed, None if absent."""
        return remove_suppression(address)

    @wrap_errors("checking a suppression")
    def check_suppression(self, address: str) -> Suppression | None:
        """The entry for an address (any case, surrounding spaces ignored), or None."""
        return find_suppression(address)

    @wrap_errors("listing suppressions")
    def suppressions(
        self, realm: str | None = None, user_id: int | None = None
    ) -> list[Suppression]:
        """The suppression list by address (`suppressions list` and `export --json`)."""
        return list_suppressions(realm, user_id)

    # -- action log --------------------------------------------------------------------------

    @wrap_errors("recording an action")
    def record_action(
        self, decision_id: int, outcome: ActionOutcome, now: datetime
    ) -> ActionRecord:
        """Log what one action did for a decision, with the data its undo needs."""
        return record_action(decision_id, outcome, now)

    @wrap_errors("reading the action log")
    def actions_of(self, decision_id: int, undoable_only: bool = False) -> list[ActionRecord]:
        """A decision's action log; `undoable_only`: DONE or QUEUED and not undone yet."""
        return actions_of(decision_id, undoable_only)

    @wrap_errors("updating an action")
    def update_action(self, record_id: int, outcome: ActionOutcome, now: datetime) -> ActionRecord:
        """Replace a logged outcome (a PENDING or FAILED action that ran again)."""
        return update_action(record_id, outcome, now)

    @wrap_errors("listing unfinished actions")
    def unfinished_actions(
        self, limit: int = 100, pending_before: datetime | None = None
    ) -> list[ActionRecord]:
        """PENDING (a crash) or FAILED actions of decisions not undone: to run again; with
        `pending_before`, only PENDING ones logged before then (others may be running)."""
        return unfinished_actions(limit, pending_before)

    @wrap_errors("claiming an action")
    def claim_action(self, record: ActionRecord, now: datetime) -> bool:
        """Take an unfinished action to run it again: True for exactly one of the workers
        that read it as `record` (it becomes PENDING as of `now`)."""
        return claim_action(record, now)

    @wrap_errors("marking an action undone")
    def mark_action_undone(self, record_id: int, now: datetime) -> bool:
        return mark_action_undone(record_id, now)

    # -- outbox ------------------------------------------------------------------------------

    @wrap_errors("queueing an outbox event")
    def enqueue(
        self, event_id: str, kind: str, payload: str, decision_id: int | None, now: datetime
    ) -> OutboxItem:
        """Queue one webhook event, due at once (idempotent on `event_id`)."""
        return enqueue(event_id, kind, payload, decision_id, now)

    @wrap_errors("reading the outbox")
    def due_outbox(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Items to deliver now, oldest first."""
        return due_outbox(now, limit)

    @wrap_errors("recording a delivery attempt")
    def outbox_attempt(
        self, item_id: int, now: datetime, error: str | None, next_at: datetime | None
    ) -> OutboxItem:
        """Delivered (`error` None), retry at `next_at`, or given up (`next_at` None)."""
        return outbox_attempt(item_id, now, error, next_at)

    @wrap_errors("listing the outbox")
    def outbox(self, state: str = "pending", limit: int = 100) -> list[OutboxItem]:
        """Items by state: "pending", "failed" (given up), "delivered" or "all"."""
        return list_outbox(state, limit)

    @wrap_errors("retrying the outbox")
    def retry_outbox(self, now: datetime) -> int:
        """Make given-up items due again (after an operator fixed the receiver)."""
        return retry_outbox(now)

    # -- incidents ---------------------------------------------------------------------------

    @wrap_errors("recording incidents")
    def record_incidents(self, found: Iterable[Incident], now: datetime) -> int:
        """Store one `detect_incidents` result (merged by overlap); returns how many are new."""
        return record_incidents(found, now)

    @wrap_errors("listing incidents")
    def incidents(
        self, since: datetime, active_only: bool = False, *, with_events: bool = True
    ) -> list[Incident]:
        """Incidents ending at or after `since` and all active ones: pass them to `decide`
        (which needs no event ids: `with_events=False` reads less)."""
        return list_incidents(since, active_only, with_events)

"""Carrying out decisions with a list of actions, and undoing them; audited where it matters.

Local actions (suppress, webhook: our own tables) run in the transaction that records the
decision: the decision, the suppression, the outbox event, a PENDING action-log row for every
outside action (command, mediawiki) and the "applied" mark commit together.  The outside
actions run after that commit and replace their PENDING row with the outcome.  A crash in
between leaves PENDING rows and a failure leaves FAILED rows; `retry_failed` runs those again
(PENDING ones only once surely not running: PENDING_GRACE), one worker each (the mediawiki
action skips a user already unconfirmed; the command and webhook carry the decision's event id,
which a receiver uses to ignore a repeat after a crash).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from reconciler.actions.base import Action
from reconciler.actions.suppress import SuppressAction
from reconciler.errors import ActionError
from reconciler.records import (
    ActionOutcome,
    ActionRecord,
    ActionStatus,
    Decision,
    DecisionKind,
    Disposition,
    StoredDecision,
    UndoFilter,
)
from reconciler.store import Store

__all__ = [
    "PENDING_GRACE",
    "apply_pending",
    "apply_recorded",
    "carry_out",
    "reinstate",
    "retry_failed",
    "undo",
]

log = logging.getLogger(__name__)

Done = tuple[StoredDecision, list[ActionOutcome]]
# An outside action logged PENDING this long ago is not running any more (a crash left it):
# longer than any action may take (a command's timeout is at most an hour).
PENDING_GRACE = timedelta(hours=2)


def _attempt(action: Action, stored: StoredDecision, now: datetime) -> ActionOutcome:
    """`apply`, with an ActionError turned into a FAILED outcome (logged)."""
    try:
        return action.apply(stored, now)
    except ActionError as err:
        log.warning("action %s failed for decision %d: %s", action.name, stored.id, err)
        return ActionOutcome(action.name, ActionStatus.FAILED, str(err))


_Outside = list[tuple[Action, ActionRecord]]


def _apply_local(
    store: Store, actions: Sequence[Action], stored: StoredDecision, now: datetime
) -> tuple[list[ActionOutcome], _Outside]:
    """Inside the caller's transaction: the local actions, a PENDING row for each outside
    action, and the "applied" mark."""
    outcomes: list[ActionOutcome] = []
    outside: _Outside = []
    for action in actions:
        if action.local:
            outcomes.append(_attempt(action, stored, now))
            store.record_action(stored.id, outcomes[-1], now)
        else:
            pending = ActionOutcome(action.name, ActionStatus.PENDING, "about to run")
            outside.append((action, store.record_action(stored.id, pending, now)))
    store.supersede_pending(stored.decision, now)
    store.mark_applied([stored.id], now)
    return outcomes, outside


def _run_outside(
    store: Store, outside: _Outside, stored: StoredDecision, now: datetime
) -> list[ActionOutcome]:
    """After the commit: the outside actions, each replacing its PENDING row."""
    outcomes: list[ActionOutcome] = []
    for action, record in outside:
        outcomes.append(_attempt(action, stored, now))
        store.update_action(record.id, outcomes[-1], now)
    return outcomes


def retry_failed(store: Store, actions: Sequence[Action], now: datetime) -> list[ActionRecord]:
    """Run FAILED actions again, and PENDING ones older than PENDING_GRACE (left by a crash);
    returns the updated records.

    A younger PENDING action may be running in another worker right now; of two workers that
    retry the same action, one claims it (`claim_action`) and runs it, the other skips it.
    Actions no longer enabled are left as they are.  Call it each cycle (or from the CLI).
    """
    by_name = {a.name: a for a in actions}
    updated: list[ActionRecord] = []
    for record in store.unfinished_actions(pending_before=now - PENDING_GRACE):
        action = by_name.get(record.action)
        stored = store.get_decision(record.decision_id)
        if action is None or stored is None or not store.claim_action(record, now):
            continue
        updated.append(store.update_action(record.id, _attempt(action, stored, now), now))
    return updated


def _acts(decision: Decision) -> bool:
    return decision.kind is not DecisionKind.NONE and decision.disposition is Disposition.APPLIED


def carry_out(
    store: Store, actions: Sequence[Action], decision: Decision, run_id: str, now: datetime
) -> Done:
    """Record `decision` and describe it (log) with every action; apply it when its
    disposition is APPLIED.  The decision, its local actions (suppression, outbox event) and
    the PENDING rows of the outside actions commit in ONE transaction; the outside actions
    run after it.  Nothing is applied again when an applied, not undone decision already
    covers the same user and address (the new decision then stays unapplied), also when two
    workers apply at once: the claim (`claim_acting`) comes first in the transaction, and one
    of them gets it.  Returns the stored decision and the outcomes (empty when nothing was
    applied)."""

    def work() -> tuple[StoredDecision, tuple[list[ActionOutcome], _Outside] | None]:
        claimed = _acts(decision) and store.claim_acting(decision, now)
        stored = store.record_decision(decision, run_id, now)
        if not _acts(decision) or not _keep_claim(store, stored, claimed):
            return stored, None
        return stored, _apply_local(store, actions, stored, now)

    stored, local = store.run_transaction(work)  # again if aborted in a deadlock
    for action in actions:
        log.info("decision %d: %s", stored.id, action.describe(stored))
    if local is None:
        return stored, []
    outcomes, outside = local
    applied = store.get_decision(stored.id) or stored
    return applied, outcomes + _run_outside(store, outside, applied, now)


def _keep_claim(store: Store, stored: StoredDecision, claimed: bool) -> bool:
    """Whether `stored` acts: it holds the claim and no earlier decision (one applied before
    claims existed) acts for the same user and address.  Names it as the claim's holder."""
    d = stored.decision
    earlier = store.acted_on(d.realm, d.user_id, d.address)
    if claimed and earlier is None:
        store.bind_acting(d, stored.id)
        return True
    if claimed:
        store.bind_acting(d, None)  # not used: give it back
    by = f"decision {earlier.id}" if earlier is not None else "a decision of another worker"
    log.info("decision %d: already applied by %s", stored.id, by)
    return False


def apply_pending(
    store: Store,
    actions: Sequence[Action],
    actor: str,
    now: datetime,
    *,
    only: Callable[[StoredDecision], bool] = lambda _: True,
) -> list[Done]:
    """Apply every pending decision (`--apply-pending` on promotion); one audit row each.

    A pending decision for an address that an applied decision already covers is only
    marked applied.  `only` leaves out the decisions it says no to (they wait for a probe).
    Returns the decisions applied with their outcomes.
    """
    done: list[Done] = []
    for stored in filter(only, store.pending_decisions()):
        local = store.run_transaction(  # again if aborted in a deadlock
            functools.partial(_apply_pending_one, store, actions, stored, now)
        )
        if local is None:
            continue
        outcomes, outside = local
        outcomes += _run_outside(store, outside, stored, now)
        store.audit(actor, "apply-pending", _summary(outcomes), now, stored.id)
        done.append((stored, outcomes))
    return done


def _apply_pending_one(
    store: Store, actions: Sequence[Action], stored: StoredDecision, now: datetime
) -> tuple[list[ActionOutcome], _Outside] | None:
    """Inside the caller's transaction: the claim, then the local actions of one pending
    decision; None (and it is marked superseded) when an enforced decision covers it."""
    if not _keep_claim(store, stored, store.claim_acting(stored.decision, now)):
        store.supersede_pending(stored.decision, now)
        return None
    return _apply_local(store, actions, stored, now)


def apply_recorded(
    store: Store,
    actions: Sequence[Action],
    stored: StoredDecision,
    now: datetime,
    *,
    first: Callable[[], bool] = lambda: True,
) -> list[ActionOutcome] | None:
    """Apply one recorded decision now (a probe confirmed it), as `apply_pending` applies
    each: the claim, then `first` (e.g. resolving the probe: None, and nothing changed, when
    it says no), the local actions and the "applied" mark in ONE transaction, the outside
    actions after it.  Nothing is applied (empty outcomes) when another decision already
    acts for the same user and address."""

    def work() -> tuple[list[ActionOutcome], _Outside] | None:
        claimed = store.claim_acting(stored.decision, now)  # first write: see claim_acting
        if not first():
            if claimed:
                store.bind_acting(stored.decision, None)
            return None
        if not _keep_claim(store, stored, claimed):
            return [], []
        return _apply_local(store, actions, stored, now)

    local = store.run_transaction(work)  # again if aborted in a deadlock
    if local is None:
        return None
    outcomes, outside = local
    return outcomes + _run_outside(store, outside, stored, now)


def _undo_one(action: Action | None, record: ActionRecord, now: datetime) -> ActionOutcome:
    if action is None:
        detail = f'action "{record.action}" is not enabled: cannot undo it'
        return ActionOutcome(record.action, ActionStatus.FAILED, detail)
    try:
        return action.undo(record, now)
    except ActionError as err:
        log.warning("undo of %s failed for decision %d: %s", record.action, record.decision_id, err)
        return ActionOutcome(record.action, ActionStatus.FAILED, str(err))


def _summary(outcomes: Sequence[ActionOutcome]) -> str:
    return "; ".join(f"{o.action}={o.status}: {o.detail}" for o in outcomes) or "no actions"


def _undo_decision(
    store: Store, by_name: dict[str, Action], stored: StoredDecision, now: datetime
) -> list[ActionOutcome]:
    """Undo every undoable action of one decision, last first; mark what was undone."""
    outcomes: list[ActionOutcome] = []
    for record in reversed(store.actions_of(stored.id, undoable_only=True)):
        outcome = _undo_one(by_name.get(record.action), record, now)
        outcomes.append(outcome)
        if outcome.status is not ActionStatus.FAILED:
            store.mark_action_undone(record.id, now)
    if all(o.status is not ActionStatus.FAILED for o in outcomes):
        store.mark_undone(stored.id, now)
    return outcomes


def undo(
    store: Store,
    actions: Sequence[Action],
    wanted: UndoFilter,
    who: tuple[str, str],
    now: datetime,
    *,
    advance: Callable[[], None] = lambda: None,
) -> list[Done]:
    """Undo the applied decisions matching `wanted` (batch undo); `who` = (actor, reason).

    Each decision gets one audit row ("undo") with the reason and the outcomes.  A decision
    whose undo failed for some action stays applied (run the undo again once fixed).
    """
    actor, reason = who
    by_name = {a.name: a for a in actions}
    by_name.setdefault("suppress", SuppressAction(store))  # our own list can always be undone
    done: list[Done] = []
    for stored in store.applied_decisions(wanted):
        outcomes = _undo_decision(store, by_name, stored, now)
        store.audit(actor, "undo", f"{reason}: {_summary(outcomes)}", now, stored.id)
        done.append((stored, outcomes))
        advance()
    return done


def reinstate(
    store: Store,
    actions: Sequence[Action],
    wanted: UndoFilter,
    who: tuple[str, str],
    now: datetime,
    *,
    advance: Callable[[], None] = lambda: None,
) -> list[Done]:
    """`reinstate USER|ADDRESS`: undo the user's (or address's) applied decisions, and take
    the address off the suppression list even when no decision put it there; audited."""
    actor, reason = who
    done = undo(store, actions, wanted, (actor, f"reinstate: {reason}"), now, advance=advance)
    if wanted.address and store.remove_suppression(wanted.address) is not None:
        store.audit(actor, "reinstate", f"{reason}: removed from the suppression list", now)
    return done

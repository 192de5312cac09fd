"""The built-in action: put the address on our suppression list (and take it off on undo)."""

from __future__ import annotations

import json
from datetime import datetime

from reconciler.logs import mask_address
from reconciler.records import (
    ActionOutcome,
    ActionRecord,
    ActionStatus,
    StoredDecision,
    Suppression,
)
from reconciler.store import Store

__all__ = ["SuppressAction"]


class SuppressAction:
    """Adds the decision's address to the `suppression` table of our store."""

    name = "suppress"
    local = True

    def __init__(self, store: Store, *, show_address: bool = False) -> None:
        self._store = store
        self._show = show_address

    def describe(self, decision: StoredDecision) -> str:
        d = decision.decision
        if not d.address:
            return "suppress: nothing (no address proven: the decision is about the user)"
        return (
            f"suppress: add {mask_address(d.address, self._show)} of {d.realm}:{d.user_id} to the "
            f"suppression list (rule {d.rule or '-'}, decision {decision.id})"
        )

    def apply(self, decision: StoredDecision, now: datetime) -> ActionOutcome:
        d = decision.decision
        if not d.address:
            return ActionOutcome(
                self.name, ActionStatus.SKIPPED, "no address proven (the user only)"
            )
        reason = " ".join(filter(None, (d.rule, ",".join(d.reasons))))
        entry = Suppression(d.address, d.realm, d.user_id, reason, now, decision.id)
        if not self._store.add_suppression(entry):
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "already suppressed")
        undo = json.dumps({"address": entry.address.strip().lower()})
        return ActionOutcome(self.name, ActionStatus.DONE, "added to the suppression list", undo)

    def undo(self, record: ActionRecord, now: datetime) -> ActionOutcome:
        address = record.address or ""
        current = self._store.check_suppression(address) if address else None
        if current is None:
            return ActionOutcome(self.name, ActionStatus.SKIPPED, "not on the suppression list")
        if current.decision_id not in (None, record.decision_id):
            detail = f"suppressed again by decision {current.decision_id}: left in place"
            return ActionOutcome(self.name, ActionStatus.SKIPPED, detail)
        self._store.remove_suppression(address)
        return ActionOutcome(self.name, ActionStatus.DONE, "removed from the suppression list")

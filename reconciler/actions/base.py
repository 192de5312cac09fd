"""The `Action` protocol every action implements, and `AddressBook`, what an action that knows
users' addresses offers besides (both re-exported by `reconciler.actions`)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from reconciler.records import ActionOutcome, ActionRecord, StoredDecision

__all__ = ["Action", "AddressBook", "RealmGate"]


class Action(Protocol):
    """One way of carrying out a decision that acts (STYLE 2.7).

    `describe` always runs and says what would happen; `apply` runs only for a decision whose
    disposition is APPLIED (or on an operator's `--apply-pending`); `undo` reverses what `apply`
    did, from the action log record.  `apply` and `undo` return DONE, QUEUED or SKIPPED
    outcomes and raise `ActionError` (with context) on failure, which the caller records as a
    FAILED outcome.  A `local` action writes only to our own store, so it runs inside the
    transaction that records the decision; the others talk to the outside world and run
    after that transaction committed.
    """

    name: str
    local: bool

    def describe(self, decision: StoredDecision) -> str: ...

    def apply(self, decision: StoredDecision, now: datetime) -> ActionOutcome: ...

    def undo(self, record: ActionRecord, now: datetime) -> ActionOutcome: ...


@runtime_checkable
class AddressBook(Protocol):
    """An action that can tell a user's current address (the MediaWiki adapter): the policy
    then counts only the evidence about that address."""

    def current_address(self, realm: str, user_id: int) -> str | None: ...


@runtime_checkable
class RealmGate(Protocol):
    """An action that can act in some realms only (the MediaWiki adapter of a farm): a decision
    in a realm it cannot serve is withheld, with the reason `unserved` gives."""

    def unserved(self, realm: str) -> str | None: ...

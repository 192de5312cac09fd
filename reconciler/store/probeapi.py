"""The Store methods of requeue and probes (issue 17): messages let through the ledger once
more, and probe mails sent before acting.  A mixin of `Store`, like `PolicyStore`; every
method returns records and raises `StoreError`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from reconciler.records import (
    Disposition,
    HeldMessage,
    MessageOutcome,
    Probe,
    ProbeState,
    UserSelector,
)
from reconciler.store.connection import wrap_errors
from reconciler.store.probes import (
    claim_unsent,
    clearances,
    get_probe,
    insert_probe,
    list_probes,
    open_probes,
    probe_counts,
    resolve_probe,
    set_disposition,
    update_probe,
)
from reconciler.store.requeue import grant_requeue, ledger_verdicts, open_grants

__all__ = ["ProbeStore"]


class ProbeStore:
    """Mixin: requeue grants and probes."""

    # -- requeue -----------------------------------------------------------------------------

    @wrap_errors("reading the ledger's verdicts")
    def ledger_verdicts(self, digests: Iterable[str]) -> dict[str, tuple[MessageOutcome, datetime]]:
        """sha256 → (outcome, when) of the latest analysis of those bytes (duplicates aside)."""
        return ledger_verdicts(digests)

    @wrap_errors("recording requeued messages")
    def grant_requeue(self, messages: Sequence[HeldMessage], actor: str, now: datetime) -> int:
        """Let these messages' bytes through the ledger once more (before they are moved
        back): the next cycle records them again, replacing their earlier events."""
        return grant_requeue(messages, actor, now)

    @wrap_errors("counting requeued messages")
    def open_requeues(self) -> int:
        """Requeued messages the cycle has not recorded again yet."""
        return open_grants()

    # -- probes ------------------------------------------------------------------------------

    @wrap_errors("recording a probe")
    def insert_probe(self, draft: Probe) -> Probe | None:
        """Record a probe (id ignored); an open one first takes its address's key: None when
        another open probe holds it.  Make it the first write of its transaction."""
        return insert_probe(draft)

    @wrap_errors("reading a probe")
    def get_probe(self, probe_id: int) -> Probe | None:
        return get_probe(probe_id)

    @wrap_errors("updating a probe")
    def update_probe(self, probe_id: int, expected: Sequence[ProbeState], **changes: Any) -> bool:
        """Change a probe still in one of `expected` states; True for exactly one caller."""
        return update_probe(probe_id, expected, **changes)

    @wrap_errors("claiming a probe")
    def claim_unsent(self, probe_id: int, now: datetime) -> bool:
        """Take an UNSENT probe to send it again; True for exactly one worker."""
        return claim_unsent(probe_id, now)

    @wrap_errors("resolving a probe")
    def resolve_probe(
        self, probe_id: int, state: ProbeState, now: datetime, event_id: int | None = None
    ) -> bool:
        """An open probe becomes BOUNCED or DELIVERED; True for exactly one caller."""
        return resolve_probe(probe_id, state, now, event_id)

    @wrap_errors("changing a decision's disposition")
    def set_disposition(self, decision_id: int, disposition: Disposition) -> None:
        """What became of a decision that waited for a probe."""
        set_disposition(decision_id, disposition)

    @wrap_errors("listing open probes")
    def open_probes(self) -> list[Probe]:
        """Every open probe (SENDING, UNSENT, SENT), oldest first."""
        return open_probes()

    @wrap_errors("reading delivered probes")
    def probe_clearances(
        self, users: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], dict[str, int]]:
        """(realm, user) → address → unix time of the latest delivered probe to it."""
        return clearances(users)

    @wrap_errors("listing probes")
    def probes(
        self,
        selector: UserSelector | None = None,
        states: Sequence[ProbeState] | None = None,
        limit: int = 1000,
    ) -> list[Probe]:
        """Probes of a user or an address (None: all), in these states (None: all)."""
        return list_probes(selector, states, limit)

    @wrap_errors("counting probes")
    def probe_counts(self, since: datetime, until: datetime) -> dict[ProbeState, int]:
        """Probes recorded in [since, until), by state."""
        return probe_counts(since, until)

"""Probe before acting (issue 17): the decide stage's side of `[policy] probe`.

When a decision would act on an address in enforce mode, it is recorded as `probing` and one
probe mail goes to the address instead (see `policy.probes` for which decisions wait).  The
order makes it safe:

1. the probe's intent (its Message-ID, its VERP return path, its due time) is recorded in the
   transaction that records the decision, as that transaction's first write: the probe's open
   key is unique per (realm, user, address), so two workers never open two probes, and one
   open probe is never followed by another;
2. then it is sent, and marked SENT, or UNSENT when the server surely did not take it (sent
   again at a later run by the one worker that claims it).  A crash after step 1 leaves it
   SENDING: it is never sent again, and its time runs from the intent (if it never left, no
   bounce comes and the decision is cleared: the error is on the address's side);
3. each decide run looks at the users with new evidence: a verified bounce of an open probe
   confirms it, and the decision is applied as the mode in force says (enforce: applied, the
   breaker checked after it; paused: withheld; log-only: would);
4. each run also sweeps the open probes whose time is up once every mailbox has completed a
   cycle after that time (a backlog may still hold the bounce): no bounce clears the decision
   (`probe-delivered`; its evidence is kept, and no longer counts: see `UserHistory.cleared`).

In log-only mode the decision is recorded as usual (`would`) with a probe in state `would`:
nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import make_msgid

from reconciler.actions import Action, apply_pending, apply_recorded
from reconciler.actions.probe import send_probe
from reconciler.actions.smtp import Handover, Submission
from reconciler.frozenrecord import frozen_record
from reconciler.logs import mask_address
from reconciler.policy import IncidentIndex, judge_probe, needs_probe
from reconciler.records import (
    Decision,
    Disposition,
    EvidenceEvent,
    Mode,
    Probe,
    ProbeState,
    ProbeVerdict,
    StoredDecision,
    UserHistory,
)
from reconciler.settings import PolicySettings, ProbeSettings, VerpFormat, VerpSettings
from reconciler.store import Store
from reconciler.verp import make_address, send_ref

__all__ = ["ProbeContext", "ProbeRun", "with_clearances"]

log = logging.getLogger(__name__)

Sender = Callable[[ProbeSettings, Probe], Submission]
_AFTER = {Mode.ENFORCE: Disposition.APPLIED, Mode.PAUSED: Disposition.WITHHELD,
          Mode.LOG_ONLY: Disposition.WOULD}  # fmt: skip
_LOOK_BACK = timedelta(days=1)  # a probe's bounce is read from a day before its intent on
_RETRY = timedelta(minutes=5)  # an UNSENT probe is handed to SMTP again this long after


@frozen_record
class ProbeContext:
    """What probes need, built once at start (`wiring`)."""

    settings: ProbeSettings
    verp: VerpSettings  # its first key signs the probes' tokens (always the native format)
    days: int  # `[policy] probe_days`
    mailboxes: tuple[str, ...] = ()  # each must have read past a probe's due time to clear it
    send: Sender = send_probe
    show_address: bool = False


def with_clearances(store: Store, histories: dict[tuple[str, int], UserHistory]) -> None:
    """Attach to each history the addresses a delivered probe cleared (in place)."""
    cleared = store.probe_clearances(list(histories))
    for key, addresses in cleared.items():
        history = histories[key]
        histories[key] = replace(history, cleared=tuple(sorted(addresses.items())))


@dataclass(slots=True)
class ProbeRun:
    """The probes of one decide run: its store, actions, time and incidents."""

    store: Store
    pctx: ProbeContext
    policy: PolicySettings
    actions: Sequence[Action]
    run_id: str
    now: datetime
    incidents: IncidentIndex = field(default_factory=lambda: IncidentIndex(()))
    applied: int = 0  # decisions applied on a probe's confirmation in this run
    _open: dict[tuple[str, int], list[Probe]] | None = None

    # -- reading -----------------------------------------------------------------------------

    def _by_user(self) -> dict[tuple[str, int], list[Probe]]:
        if self._open is None:
            self._open = {}
            for probe in self.store.open_probes():
                self._open.setdefault((probe.realm, probe.user_id), []).append(probe)
        return self._open

    def _shown(self, address: str | None) -> str:
        return mask_address(address, self.pctx.show_address)

    # -- a user with new evidence ------------------------------------------------------------

    def settle(self, history: UserHistory, mode: Mode) -> set[str]:
        """Confirm the user's open probes that a bounce of theirs confirms.  Returns the
        addresses (normalised) of all their open probes: a decision about those is the
        probe's (waiting, or just carried out), no new one is made."""
        probes = self._by_user().pop((history.realm, history.user_id), [])
        for probe in probes:
            verdict, event = judge_probe(probe, history, int(self.now.timestamp()), self.incidents)
            if verdict is ProbeVerdict.CONFIRMED and event is not None:
                self._confirm(probe, event, mode)
        return {probe.address for probe in probes}

    def wants(self, decision: Decision) -> bool:
        return needs_probe(decision, self.policy)

    def begin(self, decision: Decision) -> StoredDecision | None:
        """Record `decision` as `probing` with the probe's intent, then send the probe.
        None: another worker's probe is open for the address, or no probe token can be
        made for the user (nothing recorded: the decision does not act without its probe)."""
        draft = self._drafted(decision)
        if draft is None:
            return None
        with self.store.transaction():
            probe = self.store.insert_probe(draft)  # the first write: see store.probes
            if probe is None:
                return None
            stored = self.store.record_decision(
                replace(decision, disposition=Disposition.PROBING), self.run_id, self.now
            )
            self.store.update_probe(probe.id, [probe.state], decision=stored.id)
        for action in self.actions:
            log.info("decision %d (waits for probe %d): %s", stored.id, probe.id,
                     action.describe(stored))  # fmt: skip
        self.send(replace(probe, decision_id=stored.id))
        return stored

    def would(self, stored: StoredDecision) -> None:
        """Log-only mode: record that a probe would be sent for this decision (none is)."""
        made = self._drafted(stored.decision)
        if made is None:
            return
        draft = replace(made, state=ProbeState.WOULD, decision_id=stored.id,
                        detail="log-only: not sent")  # fmt: skip
        probe = self.store.insert_probe(draft)
        log.info("decision %d: would probe %s (log-only: nothing sent)%s", stored.id,
                 self._shown(draft.address), f" probe={probe.id}" if probe else "")  # fmt: skip

    # -- every run ---------------------------------------------------------------------------

    def sweep(self, mode: Mode) -> None:
        """Send the UNSENT probes again; judge the open probes whose time is up, once every
        mailbox has completed a cycle since (a bounce that came in time is recorded then)."""
        for probe in self.store.probes(states=[ProbeState.UNSENT]):
            if (probe.attempted_at or probe.created_at) > self.now - _RETRY:
                continue
            if self.store.claim_unsent(probe.id, self.now):
                self.send(replace(probe, state=ProbeState.SENDING))
        due = [p for p in self.store.open_probes()
               if p.state is not ProbeState.UNSENT and p.due_at <= self.now]  # fmt: skip
        if not due:
            return
        read = {c.mailbox: c.last_success for c in self.store.checkpoints()}
        now = int(self.now.timestamp())
        for probe in due:
            if not all((read.get(name) or probe.created_at) >= probe.due_at
                       for name in self.pctx.mailboxes):  # fmt: skip
                continue
            history = self.store.user_history(probe.realm, probe.user_id,
                                              probe.created_at - _LOOK_BACK)  # fmt: skip
            verdict, event = judge_probe(probe, history, now, self.incidents)
            if verdict is ProbeVerdict.CONFIRMED and event is not None:
                self._confirm(probe, event, mode)
            elif verdict is ProbeVerdict.SILENT:
                self._clear(probe)

    def pending(self, actor: str) -> tuple[int, int]:
        """`mode enforce --apply-pending` with probes on: each pending "would" decision that
        waits for a probe gets one (it becomes `probing`; one whose address has an open probe
        already waits for that one), the others are applied as before (audited).  Returns
        (probed, applied)."""
        probed: set[int] = set()
        for stored in self.store.pending_decisions():
            d = stored.decision
            if not self.wants(d) or self.store.acted_on(d.realm, d.user_id, d.address):
                continue
            probed.add(stored.id)  # it waits for a probe: never applied here
            made = self._drafted(d)
            if made is None:
                continue
            draft = replace(made, decision_id=stored.id)
            with self.store.transaction():
                probe = self.store.insert_probe(draft)  # the first write, as in `begin`
                if probe is None:
                    continue
                self.store.set_disposition(stored.id, Disposition.PROBING)
                self.store.audit(actor, "apply-pending", f"probe {probe.id} first", self.now,
                                 stored.id)  # fmt: skip
            self.send(probe)
        done = apply_pending(self.store, self.actions, actor, self.now,
                             only=lambda s: s.id not in probed)  # fmt: skip
        return len(probed), len(done)

    # -- the steps ---------------------------------------------------------------------------

    def draft(self, decision: Decision) -> Probe:
        """The probe for `decision`: a new Message-ID, its token, its due time."""
        if decision.trigger is None:
            raise ValueError(f"decision of {decision.realm}:{decision.user_id}: nothing to probe")
        address = (decision.address or "").strip().lower()
        message_id = make_msgid("probe", domain=self.pctx.verp.domain).strip("<>")
        verp = replace(self.pctx.verp, format=VerpFormat.NATIVE)
        return_path = make_address(
            verp, user_id=decision.user_id, address=address, realm=decision.realm or None,
            message_id=message_id, now=int(self.now.timestamp()),
        )  # fmt: skip
        return Probe(
            id=0, decision_id=None, realm=decision.realm, user_id=decision.user_id,
            address=address, trigger=decision.trigger,
            state=ProbeState.SENDING, message_id=message_id, send_ref=send_ref(message_id),
            return_path=return_path, created_at=self.now,
            due_at=self.now + timedelta(days=self.pctx.days),
        )  # fmt: skip

    def _drafted(self, decision: Decision) -> Probe | None:
        """`draft`, or None (logged) when no probe token can be made for the user (a realm
        too long for a token that binds the address and carries a send reference)."""
        try:
            return self.draft(decision)
        except ValueError as err:
            log.error("user=%s:%s no probe can be made (%s); the decision waits for one",
                      decision.realm, decision.user_id, err)  # fmt: skip
            return None

    def send(self, probe: Probe) -> None:
        """Hand the probe to SMTP; record SENT (or taken as sent) or UNSENT."""
        outcome = self.pctx.send(self.pctx.settings, probe)
        attempts = probe.attempts + 1
        shown = self._shown(probe.address)
        if outcome.handover is Handover.REFUSED:
            self.store.update_probe(probe.id, [ProbeState.SENDING], state=ProbeState.UNSENT,
                                    detail=outcome.detail, attempts=attempts,
                                    attempted_at=self.now)  # fmt: skip
            log.error("probe %d to %s not sent (sent again at the next run): %s", probe.id,
                      shown, outcome.detail)  # fmt: skip
            return
        detail = outcome.detail
        if outcome.handover is Handover.UNKNOWN:
            detail += "; taken as sent (a probe is never sent twice)"
        due = self.now + timedelta(days=self.pctx.days)
        self.store.update_probe(probe.id, [ProbeState.SENDING], state=ProbeState.SENT,
                                sent_at=self.now, due_at=due, detail=detail,
                                attempts=attempts, attempted_at=self.now)  # fmt: skip
        log.info("probe %d sent to %s for decision %s: ref=%s due=%s", probe.id, shown,
                 probe.decision_id, probe.send_ref, f"{due:%Y-%m-%dT%H:%MZ}")  # fmt: skip

    def _confirm(self, probe: Probe, event: EvidenceEvent, mode: Mode) -> None:
        """A bounce of the probe: its decision acts as `mode` says (once, by one worker)."""
        stored = self.store.get_decision(probe.decision_id) if probe.decision_id else None
        disposition = _AFTER[mode]

        def resolve() -> bool:
            done = self.store.resolve_probe(probe.id, ProbeState.BOUNCED, self.now,
                                            event.event_id)  # fmt: skip
            if done and stored is not None:
                self.store.set_disposition(stored.id, disposition)
            return done

        if stored is not None and disposition is Disposition.APPLIED:
            acting = replace(stored, decision=replace(stored.decision, disposition=disposition))
            confirmed = apply_recorded(self.store, self.actions, acting, self.now,
                                       first=resolve) is not None  # fmt: skip
            self.applied += int(confirmed)
        else:
            with self.store.transaction():
                confirmed = resolve()
        if confirmed:
            log.info("probe %d bounced (event %d): decision %s %s", probe.id, event.event_id,
                     probe.decision_id, disposition.value)  # fmt: skip

    def _clear(self, probe: Probe) -> None:
        """No bounce in time: the decision is cleared (`probe-delivered`), evidence kept."""
        with self.store.transaction():
            if not self.store.resolve_probe(probe.id, ProbeState.DELIVERED, self.now):
                return
            if probe.decision_id is not None:
                self.store.set_disposition(probe.decision_id, Disposition.PROBE_DELIVERED)
        log.info("probe %d to %s not bounced by %s: decision %s cleared (probe-delivered)",
                 probe.id, self._shown(probe.address), f"{probe.due_at:%Y-%m-%dT%H:%MZ}",
                 probe.decision_id)  # fmt: skip

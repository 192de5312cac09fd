"""Read what `report`, `user show` and `status` show: store queries (and, for `status`, a
read-only look at each IMAP folder) assembled into `Overview`, `Trail` and `Health` records.

Nothing here writes: the store is only read, folders are opened with EXAMINE.  The standing
of users is computed by the pure policy itself (`decide`), so "closest to a threshold" counts
exactly what a decision would count now.  The time (`now`) is an argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from reconciler.errors import SourceError
from reconciler.policy import decide
from reconciler.records import (
    AuditEntry,
    Health,
    Incident,
    MailboxHealth,
    Mode,
    Overview,
    Standing,
    Suppression,
    Trail,
    UserHistory,
    UserSelector,
)
from reconciler.service.decisions import evidence_days
from reconciler.settings import MailboxSettings, PolicySettings, Settings
from reconciler.source.imap import ImapSource
from reconciler.store import Store

__all__ = ["IMAP_TIMEOUT", "STALE_INTERVALS", "gather_health", "gather_overview",
           "gather_trail", "mode_at", "standings"]  # fmt: skip

STALE_INTERVALS = 3  # a mailbox not polled for this many daemon intervals is stale
IMAP_TIMEOUT = 5.0  # seconds: `status` must answer quickly even when a server does not
_STANDINGS = 10


def standings(
    histories: Sequence[UserHistory],
    policy: PolicySettings,
    now: datetime,
    incidents: Sequence[Incident] = (),
    limit: int = _STANDINGS,
) -> tuple[Standing, ...]:
    """The users closest to a threshold (those at or over one first), as the policy counts."""
    found: list[Standing] = []
    for history in histories:
        d = decide(history, policy, int(now.timestamp()), mode=Mode.LOG_ONLY, incidents=incidents)
        closeness = max(d.hard_days / policy.hard.days, d.soft_days / policy.soft.days)
        if d.trigger is not None:
            closeness = max(closeness, 1.0)
        if closeness > 0:
            found.append(Standing(d.realm, d.user_id, d.address, d.hard_days, d.soft_days,
                                  round(closeness, 3), d.trigger))  # fmt: skip
    found.sort(key=lambda s: (-s.closeness, -s.hard_days, -s.soft_days, s.realm, s.user_id))
    return tuple(found[:limit])


def gather_overview(
    store: Store, policy: PolicySettings, since: datetime, now: datetime, mailbox: str | None
) -> Overview:
    """The report of [since, now) (events and ledger of `mailbox` only, when given)."""
    window_start = now - timedelta(days=evidence_days(policy))
    incidents = store.incidents(min(since, window_start))
    period = store.period_histories(window_start, now + timedelta(seconds=1), mailbox)
    histories = _cleared(store, period)
    trips = store.audit_log(action="breaker", limit=1)
    checkpoints = store.checkpoints()
    if mailbox is not None:
        checkpoints = [c for c in checkpoints if c.mailbox == mailbox]
    return Overview(
        since=since,
        until=now,
        mailbox=mailbox,
        policy=policy,
        mode=store.get_mode(),
        last_trip=trips[0] if trips else None,
        events=store.event_summary(since, now, mailbox),
        outcomes=store.outcome_counts(since, now, mailbox),
        standings=standings(histories, policy, now, incidents),
        decisions=store.decision_summary(since, now),
        incidents=tuple(i for i in incidents if i.active or i.end >= since.timestamp()),
        checkpoints=tuple(checkpoints),
        probes=tuple(store.open_probes()),
        probe_counts=tuple(store.probe_counts(since, now + timedelta(seconds=1)).items()),
    )


def _cleared(store: Store, histories: Sequence[UserHistory]) -> list[UserHistory]:
    """The histories with the addresses a delivered probe cleared (as the decide stage reads
    them), so the standings count what a decision would."""
    cleared = store.probe_clearances([(h.realm, h.user_id) for h in histories])
    return [
        replace(h, cleared=tuple(sorted(cleared[(h.realm, h.user_id)].items())))
        if (h.realm, h.user_id) in cleared
        else h
        for h in histories
    ]


def mode_at(changes: Sequence[AuditEntry], moment: datetime) -> Mode:
    """The mode in force at `moment`, from the mode changes of the audit log (oldest first)."""
    current = (changes[0].old_mode if changes else None) or Mode.LOG_ONLY
    for change in changes:
        if change.at > moment:
            break
        current = change.new_mode or current
    return current


def gather_trail(store: Store, selector: UserSelector) -> Trail:
    """Every event, decision, action and undo of a user or address, with the mode in force."""
    changes = store.mode_changes()
    decisions = store.selected_decisions(selector)
    actions = [a for d in decisions for a in store.actions_of(d.id)]
    suppressions: tuple[Suppression, ...]
    if selector.address is not None:
        found = store.check_suppression(selector.address)
        suppressions = (found,) if found is not None else ()
    else:
        suppressions = tuple(
            s
            for s in store.suppressions(user_id=selector.user_id)
            if selector.realm is None or s.realm == selector.realm
        )
    return Trail(
        selector=selector,
        events=tuple((e, mode_at(changes, e.recorded_at)) for e in store.stored_events(selector)),
        decisions=tuple(decisions),
        actions=tuple((a, mode_at(changes, a.at)) for a in actions),
        audit=tuple(
            (a, mode_at(changes, a.at)) for a in store.decision_audit([d.id for d in decisions])
        ),
        suppressions=suppressions,
        probes=tuple((p, mode_at(changes, p.created_at)) for p in store.probes(selector)),
    )


def _imap_backlog(folders: MailboxSettings, last: tuple[int, int] | None) -> tuple[int, None]:
    """Messages on the server after the checkpoint (all of them after a UIDVALIDITY change)."""
    quick = replace(folders, timeout_seconds=min(folders.timeout_seconds, IMAP_TIMEOUT))
    with ImapSource(quick, read_only=True) as source:
        same = last is not None and last[0] == source.uidvalidity
        return len(source.uids_after(last[1] if last is not None and same else 0)), None


def _mailbox_health(
    store: Store, folders: MailboxSettings, now: datetime, stale_after: int, ask_imap: bool
) -> MailboxHealth:
    state = store.mailbox_state(folders.name)
    checkpoint = state.checkpoint
    success = checkpoint.last_success if checkpoint is not None else None
    age = int((now - success).total_seconds()) if success is not None else None
    backlog: int | None = None
    error: str | None = None
    if ask_imap:
        last = (checkpoint.uidvalidity, checkpoint.last_uid) if checkpoint else None
        try:
            backlog, error = _imap_backlog(folders, last)
        except SourceError as err:
            error = str(err)
    return MailboxHealth(
        mailbox=folders.name,
        last_success=success,
        age_seconds=age,
        stale=age is None or age > stale_after,
        unmoved=state.unmoved,
        retrying=state.retrying,
        imap_backlog=backlog,
        imap_error=error,
    )


def gather_health(store: Store, settings: Settings, now: datetime, *, ask_imap: bool) -> Health:
    """Health of every configured mailbox; `ask_imap`: count the backlog on the servers."""
    stale_after = STALE_INTERVALS * settings.daemon.interval_seconds
    trips = store.audit_log(action="breaker", limit=1)
    return Health(
        now=now,
        stale_after=stale_after,
        mode=store.get_mode(),
        last_trip=trips[0] if trips else None,
        mailboxes=tuple(
            _mailbox_health(store, folders, now, stale_after, ask_imap)
            for folders in settings.mailboxes
        ),
    )

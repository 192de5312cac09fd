"""Replay a rule set over the stored evidence (`rules replay`, `rules suggest`, `reclassify`):
classify every event of a window again from what the store keeps of it, and tell what would
change, without writing anything.

* the events whose verdict (reason, severity, fault) or deciding rule changes;
* the verified users whose decision today changes: who would cross a threshold, who would
  fall back below one (the policy itself decides, on the histories with the new verdicts, as
  `report` counts its standings: no address adapter is asked);
* the recorded decisions whose evidence changes, decided again at their own time with the
  new verdicts: an applied one that no longer holds comes with the command that undoes it
  (nothing is undone automatically).

The store keeps with each event everything the rules read of it (`RuleFacts`, migration 11),
so a replay with the rules in force finds no change: the same inputs, the same verdicts.
Events recorded before migration 11 lack the DSN action, the diagnostic type and the provider
evidence beyond the remote MTA; they are replayed from what they have and counted as `legacy`.

`apply_replay` (`reclassify --apply`) writes the new verdicts with an audit row per event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from reconciler.classify.facts import stored_facts
from reconciler.classify.match import Classifier
from reconciler.policy import decide
from reconciler.records import (
    Decision,
    DecisionKind,
    DecisionShift,
    Disposition,
    EvidenceEvent,
    Incident,
    Mode,
    Replay,
    StoredDecision,
    StoredEvent,
    UserHistory,
    UserShift,
    Verdict,
    VerdictChange,
)
from reconciler.service.decisions import evidence_days
from reconciler.settings import PolicySettings
from reconciler.store import Store

__all__ = ["apply_replay", "replay", "undo_command"]

_PAGE = 2000
_USERS_AT_ONCE = 500


def _window(store: Store, since: datetime, until: datetime) -> Iterator[StoredEvent]:
    after = 0
    while page := store.window_events(since, until, after, _PAGE):
        yield from page
        after = page[-1].id


def _change(stored: StoredEvent, classifier: Classifier) -> VerdictChange | None:
    event = stored.event
    new = classifier.classify_facts(stored_facts(event))
    old = Verdict(event.reason, event.severity, event.fault, event.rule_id)
    if (new.reason, new.severity, new.fault, new.rule_id) == (
        old.reason,
        old.severity,
        old.fault,
        old.rule_id,
    ):
        return None
    verified = event.verp_valid and event.realm is not None and event.user_id is not None
    return VerdictChange(
        event_id=stored.id,
        realm=event.realm if verified else None,
        user_id=event.user_id if verified else None,
        old=old,
        new=Verdict(new.reason, new.severity, new.fault, new.rule_id),
    )


def _renewed(history: UserHistory, new: dict[int, Verdict]) -> UserHistory:
    """The history with the replayed verdicts in place of the stored ones."""
    events: list[EvidenceEvent] = []
    for event in history.events:
        verdict = new.get(event.event_id)
        events.append(
            event
            if verdict is None
            else replace(
                event, reason=verdict.reason, severity=verdict.severity, fault=verdict.fault
            )
        )
    return replace(history, events=tuple(events))


def _decided(
    history: UserHistory, policy: PolicySettings, at: int, incidents: Sequence[Incident]
) -> Decision:
    return decide(history, policy, at, mode=Mode.LOG_ONLY, incidents=incidents)


def undo_command(stored: StoredDecision) -> str:
    """The command that undoes an applied decision's actions (`reinstate`: its address, else
    its user)."""
    d = stored.decision
    target = d.address or f"{d.realm}:{d.user_id}"
    return f'reconciler reinstate {target} --reason "reclassified (decision {stored.id})"'


def _user_shift(old: Decision, new: Decision) -> UserShift | None:
    if (old.kind, old.trigger) == (new.kind, new.trigger):
        return None
    return UserShift(
        realm=new.realm,
        user_id=new.user_id,
        address=new.address or old.address,
        old_kind=old.kind,
        new_kind=new.kind,
        old_trigger=old.trigger,
        new_trigger=new.trigger,
        old_days=(old.hard_days, old.soft_days),
        new_days=(new.hard_days, new.soft_days),
    )


def _decision_shifts(
    stored: Sequence[StoredDecision],
    pair: tuple[UserHistory, UserHistory],
    changed: set[int],
    policy: PolicySettings,
    incidents: Sequence[Incident],
) -> list[DecisionShift]:
    """The user's recorded decisions (not undone) resting on changed events, decided again
    at their own time with the old and the new verdicts; those that differ."""
    shifts = []
    for item in stored:
        d = item.decision
        if item.undone_at is not None or not changed.intersection(d.event_ids):
            continue
        old, new = (_decided(history, policy, d.at, incidents) for history in pair)
        if (old.kind, old.trigger) == (new.kind, new.trigger):
            continue
        applied = d.disposition is Disposition.APPLIED and item.applied_at is not None
        undo = undo_command(item) if applied and new.kind is DecisionKind.NONE else None
        shifts.append(DecisionShift(item, new.kind, new.trigger, undo))
    return shifts


def _consequences(
    store: Store,
    policy: PolicySettings,
    changes: Sequence[VerdictChange],
    since: datetime,
    now: datetime,
) -> tuple[list[UserShift], list[DecisionShift]]:
    """Users whose decision changes now, and recorded decisions that change at their time."""
    new = {c.event_id: c.new for c in changes if c.user_id is not None}
    users = sorted({(c.realm or "", c.user_id) for c in changes if c.user_id is not None})
    days = evidence_days(policy)
    reach = since - timedelta(days=days)  # the evidence of decisions made in the window
    incidents = store.incidents(reach, with_events=False)
    shifts: list[UserShift] = []
    decisions: list[DecisionShift] = []
    changed = set(new)
    at = int(now.timestamp())
    for start in range(0, len(users), _USERS_AT_ONCE):
        chunk = users[start : start + _USERS_AT_ONCE]
        histories = store.user_histories(chunk, reach)
        for realm, user_id in chunk:
            old_history = histories[(realm, user_id)]
            pair = (old_history, _renewed(old_history, new))
            shift = _user_shift(*(_decided(h, policy, at, incidents) for h in pair))
            if shift is not None:
                shifts.append(shift)
            stored = store.decisions(reach, now + timedelta(seconds=1), realm, user_id)
            decisions += _decision_shifts(stored, pair, changed, policy, incidents)
    return shifts, decisions


def replay(
    store: Store,
    classifier: Classifier,
    files: Sequence[str],
    policy: PolicySettings,
    window: tuple[datetime, datetime],
) -> Replay:
    """Classify the events with event time in `window` (since, now) again with `classifier`
    (the rule `files`), and what that changes; writes nothing."""
    since, now = window
    changes: list[VerdictChange] = []
    events = legacy = 0
    for stored in _window(store, since, now):
        events += 1
        legacy += stored.event.final_domain is None
        change = _change(stored, classifier)
        if change is not None:
            changes.append(change)
    users, decisions = _consequences(store, policy, changes, since, now)
    return Replay(
        since=since,
        until=now,
        files=tuple(files),
        events=events,
        legacy=legacy,
        changes=tuple(changes),
        users=tuple(users),
        decisions=tuple(decisions),
    )


def apply_replay(store: Store, result: Replay, who: tuple[str, str], now: datetime) -> int:
    """Write the replayed verdicts (`reclassify --apply`): one audit log row for the run
    (`who`: actor and why), one `reclassification` row per event, in one transaction.
    Returns the events rewritten (an event changed or pruned meanwhile is left alone)."""
    actor, why = who
    shifted = len(result.verdict_changes)
    detail = (
        f"{why}: {len(result.changes)} events of {result.since:%Y-%m-%d}..{result.until:%Y-%m-%d}"
        f" ({shifted} verdicts, {len(result.changes) - shifted} rules only) with "
        + ", ".join(result.files)
    )
    with store.transaction():
        audit = store.audit(actor, "reclassify", detail, now)
        return store.reclassify(result.changes, audit.id, now)

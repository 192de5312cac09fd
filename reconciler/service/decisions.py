"""The decide stage: new evidence → user histories → pure policy → recorded decisions → actions.

It runs after the events of a batch are committed and reads the events by id from a
watermark, so a crash between the commit and the decisions is caught up at the next cycle
(nothing is decided twice for the same evidence: `carry_out` never applies an address twice).
The mode is read from the store at each run: a mode change needs no restart.  In ENFORCE the
circuit breaker is checked after the actions; a trip pauses enforcement (audited, logged at
ERROR) until an operator re-arms it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from reconciler.actions import Action, carry_out, deliver_due, retry_failed
from reconciler.errors import StoreError
from reconciler.frozenrecord import frozen_record
from reconciler.policy import (
    IncidentIndex,
    bursts_of_sightings,
    cannot_act,
    cannot_act_on,
    check_breaker,
    decide,
    describe,
    describe_burst,
    describe_incident,
    incidents_of_sightings,
)
from reconciler.records import (
    Decision,
    DecisionKind,
    Disposition,
    Incident,
    IncidentScope,
    Mode,
    UserHistory,
)
from reconciler.service.probes import ProbeContext, ProbeRun, with_clearances
from reconciler.settings import PolicySettings, WebhookSettings
from reconciler.store import INCIDENT_EVIDENCE, GroupFilter, Store

__all__ = ["DecideContext", "DecideReport", "decide_users", "evidence_days", "run_decisions"]

log = logging.getLogger(__name__)
WATERMARK = "decide:events"
SETTLE = timedelta(minutes=2)  # events older than this are surely committed (see the store)
_USERS_AT_ONCE = 2000  # users whose histories are read and decided together


@frozen_record
class DecideContext:
    """What the decide stage needs, built once at start."""

    policy: PolicySettings
    actions: Sequence[Action]
    webhook: WebhookSettings | None = None
    show_address: bool = False
    current_address: Callable[[str, int], str | None] | None = None  # e.g. MediaWiki's
    # why no action may be carried out in a realm (e.g. MediaWiki's: no database serves it)
    unserved: Callable[[str], str | None] | None = None
    probes: ProbeContext | None = None  # `[policy] probe`: decisions wait for a probe mail


@dataclass(slots=True)
class DecideReport:
    mode: Mode = Mode.LOG_ONLY
    users: int = 0  # users with new evidence
    dispositions: Counter[str] = field(default_factory=Counter)  # applied / would / withheld
    kinds: Counter[str] = field(default_factory=Counter)  # decision kinds (suppress, ...)
    actions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (action, status)
    incidents: int = 0  # active incidents
    tripped: str | None = None  # why the breaker paused enforcement in this run
    ids: list[int] = field(default_factory=list)  # the decisions recorded


def evidence_days(policy: PolicySettings) -> int:
    """How far back a decision reads: the longest window of any rule."""
    return max(
        policy.hard.window_days,
        policy.soft.window_days,
        policy.complaint_window_days,
        policy.quiet_days,
    )


def _changed(active: Sequence[Incident], watermark: int) -> Callable[[IncidentScope], GroupFilter]:
    """Per scope, the groups a run reads again: those with new evidence (an event above the
    watermark), and those with an active stored incident (whether it is still active
    depends on the time).

    Any other group is left as stored, and that changes no decision: an incident's span
    covers the events of the windows with enough users, and a window of old events only was
    read whole in the run that recorded its newest event (each run reads one window around
    every new event), so its span is stored already.  Event times are never after the time
    they are recorded at (`analysis`: INTERNALDATE, never in the future), so the time that
    passed cannot make such a group active either.
    """

    def of_scope(scope: IncidentScope) -> GroupFilter:
        return GroupFilter(watermark, [(i.key, i.reason.value) for i in active if i.scope is scope])

    return of_scope


# no event id is above it: a group filter of it reads only the groups it names
_NO_EVENT = 2**63 - 1


def _detect(
    store: Store,
    dctx: DecideContext,
    span: tuple[datetime, datetime],
    now: datetime,
    changed: Callable[[IncidentScope], GroupFilter],
) -> tuple[list[Incident], list[Incident]]:
    """The incidents and the bursts of unverified bounces of the groups `changed` keeps,
    from their bounces with event time in `span`, read group by group (the store sorts):
    memory holds one group, not the whole window; an incident keeps the ids of its first
    events only (INCIDENT_EVIDENCE), as stored."""
    found: list[Incident] = []
    bursts: list[Incident] = []  # of unverified bounces: reported, never stored or counted
    at = int(now.timestamp())
    for scope in IncidentScope:
        for key, reason, sightings in store.bounce_groups(
            *span, scope, dctx.policy.incident.min_users, changed(scope)
        ):
            group = (scope, key, reason)
            found += [
                replace(incident, event_ids=tuple(sorted(incident.event_ids)[:INCIDENT_EVIDENCE]))
                for incident in incidents_of_sightings(group, sightings, dctx.policy, at)
            ]
            bursts += bursts_of_sightings(group, sightings, dctx.policy, at)
    return found, bursts


def _incidents(store: Store, dctx: DecideContext, watermark: int, now: datetime) -> list[Incident]:
    """Detect spikes around the new evidence, store them, and return those still relevant.

    The span looked at starts one window before the earliest new event: a drained backlog
    brings old spikes, and they must be seen as spikes too.  Only the groups with new
    evidence or an active incident are read (`_changed`): a drain reads each run's groups,
    not every group of the window again at every run.  An active incident is checked
    against the window ending `now` at every run, new evidence or not: it clears when time
    has passed, and stays active when the new evidence is older.
    """
    window = timedelta(seconds=dctx.policy.incident.window_seconds)
    span = store.event_span_after(watermark)
    active = store.incidents(now, active_only=True, with_events=False)
    if span is None and not active:  # nothing new since the last run (one at the end of a
        # cycle) and nothing that time may clear: the stored incidents stand
        return store.incidents(now - timedelta(days=evidence_days(dctx.policy)), with_events=False)
    found: list[Incident] = []
    bursts: list[Incident] = []  # of unverified bounces: reported, never stored or counted
    until: datetime | None = None
    if span is not None:
        # one window around the new events' times: bounded however large the drained backlog
        since, until = span[0] - window, min(span[1] + window, now)
        found, bursts = _detect(store, dctx, (since, until), now, _changed(active, watermark))
    if active and (until is None or until < now):
        # whether a stored incident is still active depends on the window ending now: when
        # nothing is new, or the new events are all older (a drained backlog), the groups of
        # the active ones are read there (and those no longer active are marked cleared)
        found += _detect(store, dctx, (now - window, now), now, _changed(active, _NO_EVENT))[0]
    for burst in bursts:
        if max(burst.event_ids) > watermark:  # when it grows, not at every run
            log.warning("%s", describe_burst(burst))
    try:
        new = store.record_incidents(found, now)
    except StoreError as err:  # never stops the decide stage: they count as detected
        log.error("incidents not recorded (decisions go on): %s", err)
        new, unrecorded = 0, found
    else:
        unrecorded = []
    if new:  # new ones: say so once, not at every batch
        for incident in found:
            if incident.active:
                log.warning("%s", describe_incident(incident))  # "incident active ..."
    # the spans decide whether an event is covered; their (many) event ids are not needed
    since = now - timedelta(days=evidence_days(dctx.policy))
    return store.incidents(since, with_events=False) + unrecorded


def _with_address(dctx: DecideContext, history: UserHistory) -> UserHistory:
    """The user's current address, when an adapter can tell (else policy counts all), and why
    nothing may be done in the user's realm (a decision that acts is then withheld)."""
    withhold = dctx.unserved(history.realm) if dctx.unserved is not None else None
    if withhold is not None:  # no database to ask: the address is not guessed either
        return replace(history, withhold=withhold)
    if dctx.current_address is None:
        return history
    current = dctx.current_address(history.realm, history.user_id)
    return replace(history, current_address=current)


def _recorded_span(dctx: DecideContext, now: datetime) -> tuple[datetime, datetime]:
    """When the decisions `_already_recorded` compares with were made."""
    return now - timedelta(days=evidence_days(dctx.policy)), now + timedelta(seconds=1)


def _already_recorded(store: Store, dctx: DecideContext, decision: Decision, now: datetime) -> bool:
    """The same decision on the same evidence was recorded before (a run killed between its
    decisions and its watermark is run again): record and apply it once only."""
    earlier = store.decisions(*_recorded_span(dctx, now), decision.realm, decision.user_id)
    return any(
        (e.decision.kind, e.decision.rule, e.decision.address, e.decision.event_ids)
        == (decision.kind, decision.rule, decision.address, decision.event_ids)
        for e in earlier
    )


@dataclass(slots=True)
class _Run:
    """One decide run: its id and time, the mode it decides in (PAUSED once the breaker
    trips), the incidents whose events count against nobody, and its report."""

    run_id: str
    now: datetime
    mode: Mode
    incidents: IncidentIndex
    report: DecideReport
    probes: ProbeRun | None = None
    # the users of the chunk being decided that have earlier decisions (`_already_recorded`
    # looks only at theirs: a run decides each user once, and records decisions for the
    # user it decides only)
    decided: set[tuple[str, int]] = field(default_factory=set)


def _decide_user(
    store: Store, dctx: DecideContext, history: UserHistory, run: _Run
) -> Decision | None:
    """Decide for one user; record and carry out a decision that acts (None: nothing new)."""
    now = run.now
    if cannot_act(history, dctx.policy):  # NONE, as `decide` would say (most of a drain's)
        if run.probes is not None:
            run.probes.settle(history, run.mode)
        return None
    decision = decide(_with_address(dctx, history), dctx.policy, int(now.timestamp()),
                      mode=run.mode, incidents=run.incidents)  # fmt: skip
    probing = run.probes.settle(history, run.mode) if run.probes is not None else set()
    if decision.kind is DecisionKind.NONE:
        return None
    earlier = (decision.realm, decision.user_id) in run.decided
    if earlier and _already_recorded(store, dctx, decision, now):
        return None
    if (decision.address or "").strip().lower() in probing:
        return None  # the address's probe decides (it waits, or it just did)
    if run.probes is not None and _probe_first(store, run.probes, decision):
        return _waits(run, decision, dctx.show_address)
    stored, outcomes = carry_out(store, dctx.actions, decision, run.run_id, now)
    if run.probes is not None and run.probes.wants(decision) and run.mode is Mode.LOG_ONLY:
        run.probes.would(stored)
    log.info("decision %d %s", stored.id, describe(decision, show_address=dctx.show_address))
    for outcome in outcomes:
        run.report.actions[(outcome.action, outcome.status.value)] += 1
    run.report.kinds[decision.kind.value] += 1
    run.report.ids.append(stored.id)
    run.report.dispositions[decision.disposition.value] += 1
    return decision


def _probe_first(store: Store, probes: ProbeRun, decision: Decision) -> bool:
    """A decision to apply waits for a probe, unless one applied already covers the address
    (then `carry_out` records it without applying it twice)."""
    return (
        probes.wants(decision)
        and decision.disposition is Disposition.APPLIED
        and store.acted_on(decision.realm, decision.user_id, decision.address) is None
    )


def _waits(run: _Run, decision: Decision, show_address: bool) -> Decision | None:
    """Record the decision as `probing` and send its probe (None: another worker's probe
    for the address is open: it decides)."""
    assert run.probes is not None
    stored = run.probes.begin(decision)
    if stored is None:
        return None
    waiting = stored.decision
    log.info("decision %d %s", stored.id, describe(waiting, show_address=show_address))
    run.report.kinds[waiting.kind.value] += 1
    run.report.ids.append(stored.id)
    run.report.dispositions[waiting.disposition.value] += 1
    return waiting


def _breaker(store: Store, dctx: DecideContext, mode: Mode, now: datetime) -> str | None:
    window = timedelta(seconds=dctx.policy.breaker.window_seconds)
    at = int(now.timestamp())
    trip = check_breaker(
        store.recent_actions(now - window, now),
        # counted by the store: a large drain records many events within the window
        store.recorded_tally(now - window, now, (at - dctx.policy.breaker.window_seconds, at)),
        dctx.policy,
        at,
        mode=mode,
    )
    if trip is None:
        return None
    store.trip_breaker(trip, now)
    log.error("circuit breaker tripped: %s; enforcement paused until re-armed", trip.detail)
    return trip.detail


def _confirmed(probes: ProbeRun | None, before: int) -> bool:
    return probes is not None and probes.applied > before


def _after_applying(store: Store, dctx: DecideContext, run: _Run, applied: bool) -> None:
    """In ENFORCE the breaker is checked after every applied decision; once it trips, the
    rest of the run is decided as PAUSED."""
    if run.mode is Mode.ENFORCE and applied:
        run.report.tripped = _breaker(store, dctx, run.mode, run.now)
        if run.report.tripped is not None:
            run.mode = Mode.PAUSED


def _probe_run(
    store: Store, dctx: DecideContext, run_id: str, now: datetime, incidents: IncidentIndex
) -> ProbeRun | None:
    if dctx.probes is None:
        return None
    return ProbeRun(store, dctx.probes, dctx.policy, dctx.actions, run_id, now, incidents)


def _decide_all(
    store: Store, dctx: DecideContext, users: Sequence[tuple[str, int]], run: _Run
) -> None:
    """Decide `users` one chunk at a time (bounded memory however many users); in ENFORCE the
    breaker is checked after every applied decision, and once it trips the rest is decided as
    PAUSED (withheld).  With probes, the open ones are then judged (`ProbeRun.sweep`)."""
    since = run.now - timedelta(days=evidence_days(dctx.policy))
    probes = run.probes
    for start in range(0, len(users), _USERS_AT_ONCE):
        chunk = users[start : start + _USERS_AT_ONCE]
        if probes is None:  # a user `cannot_act` on is skipped: read the others' histories
            chunk = _may_act(store, dctx, chunk, since)
        histories = store.user_histories(chunk, since)
        run.decided = store.decided_users(chunk, *_recorded_span(dctx, run.now))
        if probes is not None:
            with_clearances(store, histories)
        for user in chunk:
            confirmed = probes.applied if probes is not None else 0
            decision = _decide_user(store, dctx, histories[user], run)
            applied = decision is not None and decision.disposition is Disposition.APPLIED
            # a bounce of a probe that confirmed a decision applied it just the same
            _after_applying(store, dctx, run, applied or _confirmed(probes, confirmed))
    if probes is not None:
        before = probes.applied
        probes.sweep(run.mode)
        _after_applying(store, dctx, run, _confirmed(probes, before))


def _may_act(
    store: Store, dctx: DecideContext, users: Sequence[tuple[str, int]], since: datetime
) -> Sequence[tuple[str, int]]:
    """The users `_decide_user` may decide for (in order): the others, most of a drain's,
    `cannot_act` (told from their events' kinds and times alone), and without probes it
    neither records nor logs anything for them, nor does the breaker look."""
    if not users:
        return users
    activity = store.user_activity(users, since)
    return [user for user in users if not cannot_act_on(activity[user], dctx.policy)]


def decide_users(
    store: Store, dctx: DecideContext, users: Sequence[tuple[str, int]], run_id: str, now: datetime
) -> DecideReport:
    """Decide these users now, as a decide run decides users with new evidence (in the mode
    in force, with the breaker and the probes): after `reclassify` rewrote the verdicts of
    their events."""
    unique = sorted(set(users))
    mode = store.get_mode().mode
    report = DecideReport(mode=mode, users=len(unique))
    since = now - timedelta(days=evidence_days(dctx.policy))
    incidents = IncidentIndex(store.incidents(since, with_events=False))
    report.incidents = sum(1 for i in incidents.incidents if i.active)
    run = _Run(
        run_id, now, mode, incidents, report, _probe_run(store, dctx, run_id, now, incidents)
    )
    _decide_all(store, dctx, unique, run)
    return report


def run_decisions(store: Store, dctx: DecideContext, run_id: str, now: datetime) -> DecideReport:
    """Decide every user with evidence newer than the watermark; apply per the mode.

    In ENFORCE the breaker is checked after every applied decision: once it trips, the rest
    of the run is decided as PAUSED (recorded, withheld), never applied.
    """
    mode = store.get_mode().mode
    report = DecideReport(mode=mode)
    watermark = store.watermark(WATERMARK)
    # SQLite has one writer at a time, so its ids are in commit order; elsewhere new ids
    # only become the watermark once surely committed (several workers write at once)
    settled = None if store.backend == "sqlite" else now - SETTLE
    users, top = store.verified_users_after(watermark, settled_before=settled)
    incidents = IncidentIndex(_incidents(store, dctx, watermark, now))
    report.incidents = sum(1 for i in incidents.incidents if i.active)
    report.users = len(users)
    run = _Run(
        run_id, now, mode, incidents, report, _probe_run(store, dctx, run_id, now, incidents)
    )
    _decide_all(store, dctx, users, run)
    mode = run.mode
    store.set_watermark(WATERMARK, top, now)
    retry_failed(store, dctx.actions, now)
    if dctx.webhook is not None:
        deliver_due(store, dctx.webhook, now)
    if mode is Mode.ENFORCE and report.tripped is None:
        report.tripped = _breaker(store, dctx, mode, now)  # e.g. a wave of sender-side bounces
    return report

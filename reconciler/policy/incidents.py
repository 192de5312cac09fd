"""The policy's guards, pure: domain / remote-MTA incidents and the circuit breaker (STYLE 2.2).

An *incident* is a spike: within one sliding window (default an hour), one recipient domain or
one remote MTA returns bounces with the same reason for at least `min_users` distinct users.  Its
events are the outage's, not the users': `decide` does not count them against anyone.  Only
verified bounces (a valid VERP token) make incidents, and only they count for the breaker:
anyone can mail us bounces without a token.  A spike of unverified bounces is a *burst*
(`unverified_bursts`), to be reported, never acted on.  The
incident is *active* while the spike is still inside the window ending at `now`; it clears when
no such spike is in that window.  An incident keeps covering the events of its span after it has
cleared, so an outage never turns into suppressions an hour later: the caller should keep (store)
incidents and pass every incident whose span may hold a user's evidence, not only active ones.

The *breaker* looks at the last window of actions and events and says whether enforcement must
stop (the caller then sets the mode to PAUSED).  Public names are re-exported by policy.py.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from reconciler.records import (
    BreakerCause,
    BreakerTrip,
    Decision,
    DecisionKind,
    Disposition,
    EventTally,
    EvidenceEvent,
    Fault,
    Incident,
    IncidentScope,
    MessageKind,
    Mode,
    Reason,
)
from reconciler.settings import BreakerSettings, IncidentSettings, PolicySettings

__all__ = [
    "IncidentIndex",
    "check_breaker",
    "covers",
    "describe_burst",
    "describe_incident",
    "detect_incidents",
    "event_order",
    "incidents_of_group",
    "tally_events",
    "unverified_bursts",
]

_Key = tuple[IncidentScope, str, Reason]
_Who = tuple[str, str]


def event_order(event: EvidenceEvent) -> tuple[int, int]:
    """Events are read in time order (ties by id), whatever order the caller passed them in."""
    return (event.at, event.event_id)


def _scopes(event: EvidenceEvent) -> list[tuple[IncidentScope, str]]:
    keys = [
        (IncidentScope.DOMAIN, event.domain.strip().casefold()),
        (IncidentScope.REMOTE_MTA, event.remote_mta.strip().casefold()),
    ]
    return [(scope, key) for scope, key in keys if key]


def _verified(event: EvidenceEvent) -> bool:
    """A valid VERP token names the event's user: the only evidence that steers policy."""
    return event.verp_valid and event.realm is not None and event.user_id is not None


def _who(event: EvidenceEvent) -> _Who:
    """The user a bounce is about: the verified VERP user, else the address itself."""
    if _verified(event):
        return (event.realm or "", str(event.user_id))
    return ("", event.address.strip().casefold())


def _spans(events: Sequence[EvidenceEvent], rules: IncidentSettings) -> list[tuple[int, int]]:
    """Index ranges of windows with enough distinct users; overlapping windows are merged."""
    users: Counter[_Who] = Counter()
    spans: list[tuple[int, int]] = []
    left = 0
    for right, event in enumerate(events):
        users[_who(event)] += 1
        while event.at - events[left].at >= rules.window_seconds:
            gone = _who(events[left])
            users[gone] -= 1
            if not users[gone]:
                del users[gone]
            left += 1
        if len(users) >= rules.min_users:
            if spans and left <= spans[-1][1]:
                spans[-1] = (spans[-1][0], right)
            else:
                spans.append((left, right))
    return spans


def _active(events: Sequence[EvidenceEvent], rules: IncidentSettings, now: int) -> bool:
    recent = {_who(e) for e in events if e.at > now - rules.window_seconds}
    return len(recent) >= rules.min_users


def _incidents(
    key: _Key, events: Sequence[EvidenceEvent], rules: IncidentSettings, now: int
) -> list[Incident]:
    spans = _spans(events, rules)
    found = []
    for number, (first, last) in enumerate(spans):
        covered = events[first : last + 1]
        found.append(
            Incident(
                scope=key[0],
                key=key[1],
                reason=key[2],
                users=len({_who(e) for e in covered}),
                start=covered[0].at,
                end=covered[-1].at,
                active=number == len(spans) - 1 and _active(events, rules, now),
                event_ids=tuple(e.event_id for e in covered),
            )
        )
    return found


def detect_incidents(
    events: Iterable[EvidenceEvent], settings: PolicySettings, now: int
) -> list[Incident]:
    """Every spike of one reason at one domain or remote MTA among bounces up to `now`.

    Only verified failed deliveries count (not complaints, delays or auto-replies, nor bounces
    without a valid token); a user is counted once per window however often they bounce.
    Sorted by scope, key, reason and time.
    """
    groups: dict[_Key, list[EvidenceEvent]] = {}
    for event in sorted(events, key=event_order):
        if event.kind is MessageKind.BOUNCE and event.at <= now and _verified(event):
            for scope, key in _scopes(event):
                groups.setdefault((scope, key, event.reason), []).append(event)
    found: list[Incident] = []
    for group, grouped in sorted(groups.items()):
        found.extend(incidents_of_group(group, grouped, settings, now))
    return found


def incidents_of_group(
    group: tuple[IncidentScope, str, Reason],
    events: Iterable[EvidenceEvent],
    settings: PolicySettings,
    now: int,
) -> list[Incident]:
    """`detect_incidents` for the bounces of one (scope, key, reason) group, such as a store
    hands out one group at a time; the same incidents, in time order."""
    return _incidents(group, _bounces(group, events, now, True), settings.incident, now)


def unverified_bursts(
    group: tuple[IncidentScope, str, Reason],
    events: Iterable[EvidenceEvent],
    settings: PolicySettings,
    now: int,
) -> list[Incident]:
    """The spikes the group's bounces WITHOUT a valid token would make (distinct addresses for
    users): a burst to report (`describe_burst`); it covers nothing and never acts."""
    return _incidents(group, _bounces(group, events, now, False), settings.incident, now)


def _bounces(
    group: tuple[IncidentScope, str, Reason], events: Iterable[EvidenceEvent], now: int,
    verified: bool,
) -> list[EvidenceEvent]:  # fmt: skip
    """The group's bounces up to `now`, verified or not, in time order."""
    return sorted(
        (
            e
            for e in events
            if e.kind is MessageKind.BOUNCE
            and e.at <= now
            and e.reason is group[2]
            and _verified(e) is verified
        ),
        key=event_order,
    )


def covers(incident: Incident, event: EvidenceEvent) -> bool:
    """Whether `event` is part of the outage `incident` stands for."""
    if event.kind is not MessageKind.BOUNCE or event.reason is not incident.reason:
        return False
    if not incident.start <= event.at <= incident.end:
        return False
    return (incident.scope, incident.key) in _scopes(event)


class IncidentIndex:
    """Incidents by (scope, key, reason): whether one covers an event (as `covers` says),
    looking only at those of the event's domain, remote MTA and reason.  Build it once for
    the many decisions of a run; `decide` builds one when given a plain list."""

    __slots__ = ("_by_key", "incidents")

    def __init__(self, incidents: Iterable[Incident]) -> None:
        self.incidents = tuple(incidents)
        self._by_key: dict[_Key, list[Incident]] = {}
        for incident in self.incidents:
            key = (incident.scope, incident.key, incident.reason)
            self._by_key.setdefault(key, []).append(incident)

    def covers(self, event: EvidenceEvent) -> bool:
        if event.kind is not MessageKind.BOUNCE or not self._by_key:
            return False
        return any(
            covers(incident, event)
            for scope, key in _scopes(event)
            for incident in self._by_key.get((scope, key, event.reason), ())
        )


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def describe_incident(incident: Incident) -> str:
    """One log line for an incident."""
    state = "active" if incident.active else "cleared"
    return (
        f"incident {state} {incident.scope}={incident.key} reason={incident.reason} "
        f"users={incident.users} events={len(incident.event_ids)} "
        f"from={_utc(incident.start)} to={_utc(incident.end)}"
    )


def describe_burst(burst: Incident) -> str:
    """One log line for a burst of unverified bounces (see `unverified_bursts`); its key is
    anyone's text: shortened, without spaces or control characters."""
    key = "".join(ch if ch.isprintable() and not ch.isspace() else "?" for ch in burst.key[:100])
    return (
        f"unverified burst {burst.scope}={key} reason={burst.reason} "
        f"addresses={burst.users} events={len(burst.event_ids)} "
        f"from={_utc(burst.start)} to={_utc(burst.end)}: no valid VERP token, not counted"
    )


# --- circuit breaker ------------------------------------------------------------------------

_Check = Callable[[Sequence[Decision], EventTally, BreakerSettings, int], BreakerTrip | None]


def _minutes(rules: BreakerSettings) -> str:
    return f"{rules.window_seconds // 60} min"


def _action_count(
    actions: Sequence[Decision], _: EventTally, rules: BreakerSettings, now: int
) -> BreakerTrip | None:
    if len(actions) <= rules.max_actions:
        return None
    detail = (
        f"{len(actions)} actions in the last {_minutes(rules)} exceed the limit of "
        f"{rules.max_actions}"
    )
    return BreakerTrip(
        BreakerCause.ACTION_COUNT, now, len(actions), rules.max_actions, len(actions), detail
    )


def _action_share(
    actions: Sequence[Decision], tally: EventTally, rules: BreakerSettings, now: int
) -> BreakerTrip | None:
    seen = tally.users_seen
    if seen < max(rules.min_sample, 1):
        return None
    share = len(actions) / seen
    if share <= rules.max_action_share:
        return None
    detail = (
        f"{len(actions)} actions on {seen} users seen in the last {_minutes(rules)} "
        f"({share:.0%}) exceed the limit of {rules.max_action_share:.0%}"
    )
    return BreakerTrip(BreakerCause.ACTION_SHARE, now, share, rules.max_action_share, seen, detail)


def _sender_share(
    _: Sequence[Decision], tally: EventTally, rules: BreakerSettings, now: int
) -> BreakerTrip | None:
    if tally.bounces < max(rules.min_sample, 1):
        return None
    share = tally.sender_bounces / tally.bounces
    if share <= rules.max_sender_share:
        return None
    detail = (
        f"sender-side bounces are {share:.0%} of {tally.bounces} bounces in the last "
        f"{_minutes(rules)}, above the limit of {rules.max_sender_share:.0%}"
    )
    return BreakerTrip(
        BreakerCause.SENDER_SHARE, now, share, rules.max_sender_share, tally.bounces, detail
    )


def tally_events(events: Iterable[EvidenceEvent], since: int, now: int) -> EventTally:
    """What the breaker counts of the events with `since < at <= now`: verified ones only (a
    store may count the same in SQL instead of handing over the events)."""
    window = [e for e in events if since < e.at <= now and _verified(e)]
    bounces = [e for e in window if e.kind is MessageKind.BOUNCE]
    return EventTally(
        users_seen=len({(e.realm, e.user_id) for e in window}),
        bounces=len(bounces),
        sender_bounces=sum(e.fault is Fault.SENDER for e in bounces),
    )


_CHECKS: tuple[_Check, ...] = (_action_count, _action_share, _sender_share)


def check_breaker(
    recent_actions: Iterable[Decision],
    recent_events: Iterable[EvidenceEvent] | EventTally,
    settings: PolicySettings,
    now: int,
    *,
    mode: Mode,
) -> BreakerTrip | None:
    """A trip when enforcement must stop, else None.  Only ENFORCE mode can trip.

    Looks at the window ending at `now`: actions are decisions that act and were APPLIED;
    events are the verified bounce events (unverified ones are ignored), or their
    `EventTally` over the window (`tally_events`).  The first cause found wins, in the order:
    action count, action share of users seen, sender-side share of bounces.
    """
    if mode is not Mode.ENFORCE:
        return None
    rules = settings.breaker
    since = now - rules.window_seconds
    actions = [
        d
        for d in recent_actions
        if d.kind is not DecisionKind.NONE
        and d.disposition is Disposition.APPLIED
        and since < d.at <= now
    ]
    tally = (
        recent_events
        if isinstance(recent_events, EventTally)
        else tally_events(recent_events, since, now)
    )
    for check in _CHECKS:
        trip = check(actions, tally, rules, now)
        if trip is not None:
            return trip
    return None

"""Domain and remote-MTA incidents, pure (STYLE 2.2): spikes whose events count against no user.

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

The circuit breaker is in `breaker`.  Public names are re-exported by the `policy` package.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from operator import itemgetter

from reconciler.records import (
    EvidenceEvent,
    Incident,
    IncidentScope,
    MessageKind,
    Reason,
)
from reconciler.settings import IncidentSettings, PolicySettings

__all__ = [
    "IncidentIndex",
    "Sighting",
    "bursts_of_sightings",
    "covers",
    "describe_burst",
    "describe_incident",
    "detect_incidents",
    "event_order",
    "incidents_of_group",
    "incidents_of_sightings",
    "sighting",
    "unverified_bursts",
]

_Key = tuple[IncidentScope, str, Reason]
_Who = tuple[str, str]

# One bounce of a group as incident detection reads it: (at, event_id, realm, user_id,
# address, verp_valid), the fields of `EvidenceEvent` of these names.  A store hands out a
# drained backlog's tens of thousands as tuples: making an EvidenceEvent of each was most of
# the decide stage's time, and detection reads only these.
Sighting = tuple[int, int, str | None, int | None, str, bool]
# (at, event_id, who): the bounces a group's windows slide over, in time order (ties by id)
_Seen = tuple[int, int, _Who]
_ORDER = itemgetter(0, 1)  # `event_order` of a sighting


def event_order(event: EvidenceEvent) -> tuple[int, int]:
    """Events are read in time order (ties by id), whatever order the caller passed them in."""
    return (event.at, event.event_id)


def _scopes(event: EvidenceEvent) -> list[tuple[IncidentScope, str]]:
    keys = [
        (IncidentScope.DOMAIN, event.domain.strip().casefold()),
        (IncidentScope.REMOTE_MTA, event.remote_mta.strip().casefold()),
    ]
    return [(scope, key) for scope, key in keys if key]


def sighting(event: EvidenceEvent) -> Sighting:
    """The fields of `event` incident detection reads."""
    return (event.at, event.event_id, event.realm, event.user_id, event.address, event.verp_valid)


def _seen(sightings: Iterable[Sighting], now: int, verified: bool) -> list[_Seen]:
    """The sightings up to `now`, verified (as `EvidenceEvent.verified` says) or not, with
    the user each is about (the verified VERP user, else the address itself), in time order
    (ties by id, else as given)."""
    seen = []
    for at, event_id, realm, user_id, address, valid in sightings:
        if at > now:
            continue
        if valid and realm is not None and user_id is not None:
            if verified:
                seen.append((at, event_id, (realm, str(user_id))))
        elif not verified:
            seen.append((at, event_id, ("", address.strip().casefold())))
    seen.sort(key=_ORDER)
    return seen


def _spans(events: Sequence[_Seen], rules: IncidentSettings) -> list[tuple[int, int]]:
    """Index ranges of windows with enough distinct users; overlapping windows are merged."""
    users: dict[_Who, int] = {}  # the events of each user in the window
    spans: list[tuple[int, int]] = []
    window, enough = rules.window_seconds, rules.min_users
    left = 0
    for right, (at, _, who) in enumerate(events):
        users[who] = users.get(who, 0) + 1
        while at - events[left][0] >= window:
            gone = events[left][2]
            if users[gone] == 1:
                del users[gone]
            else:
                users[gone] -= 1
            left += 1
        if len(users) >= enough:
            if spans and left <= spans[-1][1]:
                spans[-1] = (spans[-1][0], right)
            else:
                spans.append((left, right))
    return spans


def _active(events: Sequence[_Seen], rules: IncidentSettings, now: int) -> bool:
    recent = {who for at, _, who in events if at > now - rules.window_seconds}
    return len(recent) >= rules.min_users


def _incidents(
    key: _Key, events: Sequence[_Seen], rules: IncidentSettings, now: int
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
                users=len({who for _, _, who in covered}),
                start=covered[0][0],
                end=covered[-1][0],
                active=number == len(spans) - 1 and _active(events, rules, now),
                event_ids=tuple(event_id for _, event_id, _ in covered),
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
        if event.kind is MessageKind.BOUNCE and event.at <= now and event.verified:
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
    return incidents_of_sightings(group, _sightings(group, events), settings, now)


def unverified_bursts(
    group: tuple[IncidentScope, str, Reason],
    events: Iterable[EvidenceEvent],
    settings: PolicySettings,
    now: int,
) -> list[Incident]:
    """The spikes the group's bounces WITHOUT a valid token would make (distinct addresses for
    users): a burst to report (`describe_burst`); it covers nothing and never acts."""
    return bursts_of_sightings(group, _sightings(group, events), settings, now)


def incidents_of_sightings(
    group: tuple[IncidentScope, str, Reason],
    sightings: Iterable[Sighting],
    settings: PolicySettings,
    now: int,
) -> list[Incident]:
    """`incidents_of_group` of the group's bounces as sightings (every one a bounce of the
    group's reason: what a store reads for the group)."""
    return _incidents(group, _seen(sightings, now, True), settings.incident, now)


def bursts_of_sightings(
    group: tuple[IncidentScope, str, Reason],
    sightings: Iterable[Sighting],
    settings: PolicySettings,
    now: int,
) -> list[Incident]:
    """`unverified_bursts` of the group's bounces as sightings (as `incidents_of_sightings`)."""
    return _incidents(group, _seen(sightings, now, False), settings.incident, now)


def _sightings(
    group: tuple[IncidentScope, str, Reason], events: Iterable[EvidenceEvent]
) -> list[Sighting]:
    """The group's bounces (of its reason) among `events`, as sightings."""
    return [sighting(e) for e in events if e.kind is MessageKind.BOUNCE and e.reason is group[2]]


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

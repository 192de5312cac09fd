"""Incident detection's window core as it was before issue 16 read a group's bounces as
sightings: kept, as it was, for the tests that hold the rewrite to it
(tests/policy/test_incident_sightings.py, tests/service/test_decide_equivalence.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from reconciler.records import EvidenceEvent, Incident, IncidentScope, Reason
from reconciler.settings import IncidentSettings

__all__ = ["old_incidents", "old_who"]


def old_who(event: EvidenceEvent) -> tuple[str, str]:
    if event.verified:
        return (event.realm or "", str(event.user_id))
    return ("", event.address.strip().casefold())


def _spans(events: Sequence[EvidenceEvent], rules: IncidentSettings) -> list[tuple[int, int]]:
    users: Counter[tuple[str, str]] = Counter()
    spans: list[tuple[int, int]] = []
    whos = [old_who(event) for event in events]
    left = 0
    for right, event in enumerate(events):
        users[whos[right]] += 1
        while event.at - events[left].at >= rules.window_seconds:
            gone = whos[left]
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


def old_incidents(
    key: tuple[IncidentScope, str, Reason],
    events: Sequence[EvidenceEvent],
    rules: IncidentSettings,
    now: int,
) -> list[Incident]:
    spans = _spans(events, rules)
    found = []
    for number, (first, last) in enumerate(spans):
        covered = events[first : last + 1]
        recent = {old_who(e) for e in events if e.at > now - rules.window_seconds}
        found.append(
            Incident(
                scope=key[0],
                key=key[1],
                reason=key[2],
                users=len({old_who(e) for e in covered}),
                start=covered[0].at,
                end=covered[-1].at,
                active=number == len(spans) - 1 and len(recent) >= rules.min_users,
                event_ids=tuple(e.event_id for e in covered),
            )
        )
    return found

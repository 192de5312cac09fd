"""Incident detection over sightings (issue 16: a store reads a group's bounces as a few
columns, not as EvidenceEvents) finds what the EvidenceEvent form it replaced found.

The replaced window core is kept below as it was (`_old_*`); generated groups mix verified
and forged bounces, addresses in several cases and with spaces, ties in time (and in id),
events after `now`, other kinds and reasons.  Compared: `incidents_of_group` and
`unverified_bursts` (EvidenceEvents), `incidents_of_sightings` and `bursts_of_sightings` (the
same bounces as sightings) and the old core; `cannot_act_on` against `cannot_act`.
"""

from __future__ import annotations

from collections.abc import Iterable

import replaced_incidents as replaced
from hypothesis import given
from hypothesis import strategies as st

from reconciler.policy import (
    DAY,
    bursts_of_sightings,
    cannot_act,
    cannot_act_on,
    incidents_of_group,
    incidents_of_sightings,
    sighting,
    unverified_bursts,
)
from reconciler.records import (
    EvidenceEvent,
    Fault,
    IncidentScope,
    MessageKind,
    Reason,
    Severity,
    UserHistory,
)
from reconciler.settings import DayThreshold, IncidentSettings, PolicySettings

NOW = 100 * DAY
GROUP = (IncidentScope.DOMAIN, "example.net", Reason.USERUNKNOWN)

# -- the form it replaced, as it was ------------------------------------------------------


def _old_bounces(events: Iterable[EvidenceEvent], now: int, verified: bool) -> list[EvidenceEvent]:
    return sorted(
        (
            e
            for e in events
            if e.kind is MessageKind.BOUNCE
            and e.at <= now
            and e.reason is GROUP[2]
            and e.verified is verified
        ),
        key=lambda e: (e.at, e.event_id),
    )


# -- generated groups -----------------------------------------------------------------------

_ADDRESSES = ("ann@example.net", "ANN@example.net", " ann@Example.NET", "bob@example.net",
              "cy@example.net", "dee@example.net", "Dee@example.net ", "")  # fmt: skip


@st.composite
def _event(draw: st.DrawFn) -> EvidenceEvent:
    valid = draw(st.booleans())
    realm = draw(st.sampled_from(("shop", "", None)))
    user = draw(st.one_of(st.none(), st.integers(1, 6)))
    return EvidenceEvent(
        event_id=draw(st.integers(1, 40)),  # ties in id too: the order given decides them
        realm=realm,
        user_id=user,
        address=draw(st.sampled_from(_ADDRESSES)),
        domain="example.net",
        remote_mta="mx.example.net",
        kind=draw(
            st.sampled_from((MessageKind.BOUNCE,) * 5 + (MessageKind.DELAY, MessageKind.FEEDBACK))
        ),
        reason=draw(st.sampled_from((Reason.USERUNKNOWN,) * 4 + (Reason.MAILBOXFULL,))),
        severity=draw(st.sampled_from(Severity)),
        fault=Fault.RECIPIENT,
        verp_valid=valid,
        at=NOW - draw(st.sampled_from((-60, 0, 1, 59, 600, 3599, 3600, 3601, 7200, 9000))),
    )


_settings = st.builds(
    PolicySettings,
    hard=st.builds(DayThreshold, st.integers(1, 4), st.just(14)),
    soft=st.builds(DayThreshold, st.integers(1, 4), st.just(30)),
    incident=st.builds(IncidentSettings, st.sampled_from((60, 1800, 3600)), st.integers(1, 4)),
)


@given(events=st.lists(_event(), max_size=40), policy=_settings)
def test_sightings_find_the_incidents_and_bursts_the_events_did(
    events: list[EvidenceEvent], policy: PolicySettings
) -> None:
    rules = policy.incident
    old_incidents = replaced.old_incidents(GROUP, _old_bounces(events, NOW, True), rules, NOW)
    old_bursts = replaced.old_incidents(GROUP, _old_bounces(events, NOW, False), rules, NOW)
    assert incidents_of_group(GROUP, events, policy, NOW) == old_incidents
    assert unverified_bursts(GROUP, events, policy, NOW) == old_bursts
    # a store's sightings: the group's bounces (of its reason) only, in any order
    seen = [
        sighting(e) for e in reversed(events)
        if e.kind is MessageKind.BOUNCE and e.reason is GROUP[2]
    ]  # fmt: skip
    ordered = sorted(events, key=lambda e: (e.at, e.event_id))
    if len({(e.at, e.event_id) for e in events}) == len(events):  # no ties: any order
        assert incidents_of_sightings(GROUP, seen, policy, NOW) == old_incidents
        assert bursts_of_sightings(GROUP, seen, policy, NOW) == old_bursts
    assert incidents_of_group(GROUP, ordered, policy, NOW) == replaced.old_incidents(
        GROUP, _old_bounces(ordered, NOW, True), rules, NOW
    )


@given(events=st.lists(_event(), max_size=12), policy=_settings)
def test_cannot_act_on_kinds_and_times_is_cannot_act(
    events: list[EvidenceEvent], policy: PolicySettings
) -> None:
    history = UserHistory(realm="shop", user_id=1, events=tuple(events))
    activity = [(e.kind, e.at) for e in events]
    assert cannot_act_on(activity, policy) is cannot_act(history, policy)
    spread = [(kind, NOW + n * DAY) for n, (kind, _) in enumerate(activity)]  # a day each
    fewest = min(policy.hard.days, policy.soft.days)
    assert cannot_act_on(spread, policy) is (
        len(spread) < fewest and all(kind is not MessageKind.FEEDBACK for kind, _ in spread)
    )

"""The circuit breaker, pure (STYLE 2.2): whether enforcement must stop.

It looks at the last window of actions and events and says whether enforcement must stop
(the caller then sets the mode to PAUSED): too many actions, actions on too large a share of
the users seen, or too large a share of sender-side bounces.  Only verified events count:
anyone can mail us bounces without a token.
"""

from __future__ import annotations

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
    MessageKind,
    Mode,
)
from reconciler.settings import BreakerSettings, PolicySettings

__all__ = ["check_breaker", "tally_events"]


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
    window = [e for e in events if since < e.at <= now and e.verified]
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

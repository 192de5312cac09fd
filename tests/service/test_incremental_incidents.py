"""The decide stage reads again only the incident groups with new evidence or an active
incident (`decisions._changed`): its decisions are exactly those of a run that reads every
group of the window again, over generated drains (batches of bounces at several domains and
remote MTAs, old and new event times, time passing between runs so that incidents clear).

Each sequence runs twice on a fresh SQLite file: as shipped, and with the group filter
switched off (the full re-read).  Compared after every run: the decisions recorded, and for
every recorded event whether a stored incident covers it (what `decide` counts or not).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from helpers_store import recorded_batches
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import NOW

from reconciler.actions import build_actions
from reconciler.config import ActionsSettings
from reconciler.policy import IncidentIndex, detect_incidents
from reconciler.records import (
    BounceEvent,
    EvidenceEvent,
    Fault,
    MessageKind,
    Reason,
    Severity,
)
from reconciler.service.decisions import DecideContext, run_decisions
from reconciler.settings import DayThreshold, IncidentSettings, PolicySettings
from reconciler.store import Store, open_database

# one hard bounce acts unless an incident covers it: coverage shows in every decision
POLICY = PolicySettings(
    hard=DayThreshold(1, 14), incident=IncidentSettings(window_seconds=3600, min_users=3)
)
DOMAINS = ("a.example", "b.example", "c.example")
MTAS = ("mx1.example.net", "mx2.example.net")
REASONS = (Reason.USERUNKNOWN, Reason.MAILBOXFULL)


@dataclass(frozen=True)
class _Bounce:
    user: int
    domain: int
    mta: int
    reason: int
    minutes_ago: int  # before the batch's time: a drained backlog brings old events
    verified: bool


@dataclass(frozen=True)
class _Batch:
    later: int  # minutes after the batch before (time passing: incidents clear)
    bounces: tuple[_Bounce, ...]


_bounces = st.builds(
    _Bounce,
    user=st.integers(1, 8),
    domain=st.integers(0, len(DOMAINS) - 1),
    mta=st.integers(0, len(MTAS) - 1),
    reason=st.integers(0, len(REASONS) - 1),
    minutes_ago=st.sampled_from((0, 1, 5, 20, 45, 59, 61, 90, 150, 300)),
    verified=st.sampled_from((True, True, True, False)),  # one in four: no valid token
)
_drains = st.lists(
    st.builds(
        _Batch,
        later=st.sampled_from((0, 1, 10, 30, 59, 61, 120, 600)),
        bounces=st.lists(_bounces, min_size=0, max_size=10).map(tuple),  # none: time passes
    ),
    min_size=1,
    max_size=6,
)


def _event(bounce: _Bounce, now: datetime) -> BounceEvent:
    user = bounce.user if bounce.verified else None
    return BounceEvent(
        recipient=f"u{bounce.user}@{DOMAINS[bounce.domain]}", kind=MessageKind.BOUNCE,
        reason=REASONS[bounce.reason], severity=Severity.HARD, fault=Fault.RECIPIENT,
        rule_id="test", event_time=now - timedelta(minutes=bounce.minutes_ago),
        remote_mta=MTAS[bounce.mta], realm="wiki" if user is not None else None,
        user_id=user, verp_valid=user is not None, address_bound=user is not None,
    )  # fmt: skip


def _covered(store: Store, now: datetime) -> tuple[bool, ...]:
    """For every recorded event, in id order: whether a stored incident covers it."""
    since = now - timedelta(days=30)
    index = IncidentIndex(store.incidents(since, with_events=False))
    events: list[EvidenceEvent] = sorted(store.recent_events(since, now), key=lambda e: e.event_id)
    return tuple(index.covers(e) for e in events)


def _active(store: Store, now: datetime) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """The groups with an incident stored as active, and those where one is active by
    `detect_incidents` over every recorded event (the truth: a spike inside the window
    ending at `now`)."""
    since = now - timedelta(days=30)
    stored = {(i.scope, i.key, i.reason) for i in store.incidents(since) if i.active}
    events = store.recent_events(since, now)
    truth = detect_incidents(events, POLICY, int(now.timestamp()))
    return stored, {(i.scope, i.key, i.reason) for i in truth if i.active}


def _decisions(store: Store, now: datetime) -> list[tuple[Any, ...]]:
    stored = store.decisions(now - timedelta(days=30), now + timedelta(days=1))
    return [
        (d.kind, d.user_id, d.address, d.disposition, d.event_ids, d.ignored)
        for d in (s.decision for s in stored)
    ]


def _drain(path: Path, batches: list[_Batch]) -> list[tuple[Any, ...]]:
    """Record the batches one by one, with a decide run after each: what each run left."""
    store = open_database(f"sqlite:///{path}")
    try:
        store.migrate(NOW)
        dctx = DecideContext(
            policy=POLICY,
            actions=tuple(build_actions(ActionsSettings(enabled=("suppress",)), store)),
        )
        seen = []
        for number, now in recorded_batches(store, batches, _event):
            run_decisions(store, dctx, f"run-{number}", now)
            stored, truth = _active(store, now)
            assert stored == truth, f"run {number}: active incidents"
            seen.append((_decisions(store, now), _covered(store, now)))
        return seen
    finally:
        store.close()


@contextmanager
def _full_reads() -> Iterator[None]:
    """Every group of the window read again at every run (the filter switched off)."""
    original = Store.bounce_groups

    def every_group(self: Store, *args: Any, **_: Any) -> Any:
        return original(self, *args[:4])

    with mock.patch.object(Store, "bounce_groups", every_group):
        yield


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drain=_drains)
def test_incremental_incident_reads_decide_as_full_reads(
    tmp_path: Path, drain: list[_Batch]
) -> None:
    runs = len(list(tmp_path.glob("*.db")))
    incremental = _drain(tmp_path / f"inc-{runs}.db", drain)
    with _full_reads():
        full = _drain(tmp_path / f"full-{runs}.db", drain)
    assert incremental == full


def test_a_group_without_new_evidence_is_not_read_again(tmp_path: Path) -> None:
    """The filter does leave groups out: a spike at one domain an hour ago (its incident is
    not active), then bounces at another domain only, half an hour ago; the second run's
    window holds both, and reads the new domain's groups only."""
    spike = [_Bounce(user, 0, 0, 0, 61, True) for user in (1, 2, 3)]
    other = [_Bounce(user, 1, 1, 0, 30, True) for user in (4, 5, 6)]
    read: list[list[str]] = []
    original = Store.bounce_groups

    def spy(self: Store, *args: Any, **kw: Any) -> Any:
        groups = list(original(self, *args, **kw))
        read.append([key for key, _, _ in groups])
        return iter(groups)

    with mock.patch.object(Store, "bounce_groups", spy):
        seen = _drain(tmp_path / "spy.db", [_Batch(0, tuple(spike)), _Batch(0, tuple(other))])
    assert read == [["a.example"], ["mx1.example.net"], ["b.example"], ["mx2.example.net"]]
    assert seen[-1][1] == (True,) * 6  # every event is covered by its incident


def test_an_active_incident_stays_active_when_new_evidence_is_old(tmp_path: Path) -> None:
    """A spike at one domain a minute ago, then a drained backlog brings one bounce from five
    hours ago at another domain: the run reads a window around the old bounce, and the
    outage still going on must not be reported as over (`_active` checks it every run)."""
    spike = [_Bounce(user, 0, 0, 0, 1, True) for user in (1, 2, 3)]
    old = [_Bounce(4, 1, 1, 0, 300, True)]
    _drain(tmp_path / "old.db", [_Batch(0, tuple(spike)), _Batch(1, tuple(old))])


def test_an_incident_clears_when_time_passes_without_new_evidence(tmp_path: Path) -> None:
    """A spike, then a run two hours later with nothing new (the run at the end of a cycle):
    the incident is over (`_drain` compares the stored flags with the truth at every run)."""
    spike = [_Bounce(user, 0, 0, 0, 1, True) for user in (1, 2, 3)]
    seen = _drain(tmp_path / "quiet.db", [_Batch(0, tuple(spike)), _Batch(120, ())])
    assert seen[-1][1] == (True,) * 3  # the events stay covered after it cleared

"""The decide stage (reconciler/decisions.py) on SQLite, PostgreSQL and MariaDB: what unverified
evidence can and cannot do (issue 12, item 4).

The events are recorded straight into the store (the cycle is tested elsewhere); the clock is
`NOW` of conftest, the time the `store` fixture migrates at.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from datetime import timedelta

import pytest
from conftest import NOW

from reconciler.actions import build_actions
from reconciler.config import ActionsSettings
from reconciler.decisions import DecideContext, run_decisions
from reconciler.records import (
    BounceEvent,
    DecisionKind,
    Fault,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    PolicySettings,
    Reason,
    Severity,
)
from reconciler.store import Store

_uids = itertools.count(1)


def _event(
    address: str,
    minutes_ago: float,
    *,
    user: int | None = None,
    reason: Reason = Reason.USERUNKNOWN,
    mta: str = "mx.spike.example",
) -> BounceEvent:
    """A hard bounce (a sender-side one for a sender-side reason); verified with `user`."""
    sender = reason is Reason.BLOCKED
    return BounceEvent(
        recipient=address, kind=MessageKind.BOUNCE, reason=reason,
        severity=Severity.SOFT if sender else Severity.HARD,
        fault=Fault.SENDER if sender else Fault.RECIPIENT, rule_id="test",
        event_time=NOW - timedelta(minutes=minutes_ago), remote_mta=mta,
        realm="wiki" if user is not None else None, user_id=user,
        verp_valid=user is not None, address_bound=user is not None,
    )  # fmt: skip


def _record(store: Store, *events: BounceEvent) -> None:
    entries = []
    for event in events:
        uid = next(_uids)
        outcome = MessageOutcome.PROCESSED if event.verp_valid else MessageOutcome.UNMATCHED
        digest = hashlib.sha256(b"%d" % uid).hexdigest()
        entries.append(
            LedgerEntry("bounces", 1, uid, digest, 100, outcome, NOW, NOW, events=(event,))
        )
    store.record_batch(entries, NOW)


def _context(store: Store) -> DecideContext:
    actions = build_actions(ActionsSettings(enabled=("suppress",)), store)
    return DecideContext(policy=PolicySettings(), actions=tuple(actions))


# -- unverified evidence never steers the breaker or incidents (item 4) -----------------------


def test_forged_sender_side_bounces_never_pause_enforcement(store: Store) -> None:
    """21+ forged "blocked using zen.spamhaus.org" bounces in an hour, no token: before the fix
    the breaker counted them (100 % sender-side of at least `min_sample` bounces) and paused
    enforcement, again after every re-arm.  Verified sender-side bounces still trip it."""
    store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW)
    forged = [
        _event(f"x{n}@b{n}.example", 30, reason=Reason.BLOCKED, mta=f"mx.b{n}.example")
        for n in range(25)
    ]
    _record(store, *forged)
    report = run_decisions(store, _context(store), "run-1", NOW)
    assert report.tripped is None and store.get_mode().mode is Mode.ENFORCE
    real = [
        _event(f"y{n}@c{n}.example", 20, user=500 + n, reason=Reason.BLOCKED,
               mta=f"mx.c{n}.example")
        for n in range(25)
    ]  # fmt: skip
    _record(store, *real)
    report = run_decisions(store, _context(store), "run-2", NOW)
    assert report.tripped is not None and store.get_mode().mode is Mode.PAUSED


def test_forged_bounces_at_a_domain_make_no_incident_and_hide_no_real_bounce(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Five forged bounces at a domain within an hour used to make an incident there, and the
    incident hid a real user's bounce of that hour: the user's third day went uncounted.
    Now the burst is reported (a warning), not stored and not acted on."""
    store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW)
    real = [_event("ann@spike.example", minutes, user=42) for minutes in (4 * 1440, 2 * 1440)]
    real.append(_event("ann@spike.example", 30, user=42))
    forged = [_event(f"f{n}@spike.example", 20 + n) for n in range(6)]
    _record(store, *real, *forged)
    with caplog.at_level(logging.WARNING, logger="reconciler.decisions"):
        run_decisions(store, _context(store), "run-1", NOW)
    assert store.incidents(NOW - timedelta(days=30)) == []
    (decision,) = store.decisions(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert (decision.decision.kind, decision.decision.hard_days) == (DecisionKind.SUPPRESS, 3)
    assert [s.address for s in store.suppressions()] == ["ann@spike.example"]
    bursts = [r.getMessage() for r in caplog.records if "unverified burst" in r.getMessage()]
    assert any("domain=spike.example" in line and "not counted" in line for line in bursts)


def test_verified_bounces_still_make_an_incident(store: Store) -> None:
    _record(store, *[_event(f"u{n}@spike.example", 20 + n, user=600 + n) for n in range(6)])
    run_decisions(store, _context(store), "run-1", NOW)
    keys = {(i.scope.value, i.key) for i in store.incidents(NOW - timedelta(days=1))}
    assert keys == {("domain", "spike.example"), ("remote_mta", "mx.spike.example")}
    assert store.suppressions() == []

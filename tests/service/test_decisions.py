"""The decide stage (reconciler/decisions.py) on SQLite, PostgreSQL and MariaDB: what unverified
evidence can and cannot do (issue 12, item 4); its lease kept while it runs, and one action per
decision however workers overlap (item 9).

The events are recorded straight into the store (the cycle is tested elsewhere); the clock is
`NOW` of conftest, the time the `store` fixture migrates at.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support import NOW, until

from reconciler.actions import (
    PENDING_GRACE,
    Action,
    CommandAction,
    WebhookAction,
    build_actions,
    carry_out,
    retry_failed,
)
from reconciler.classify import Classifier
from reconciler.config import ActionsSettings, CommandSettings, WebhookSettings
from reconciler.records import (
    ActionOutcome,
    ActionRecord,
    ActionStatus,
    BounceEvent,
    Decision,
    DecisionKind,
    Disposition,
    Fault,
    LeaseScope,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    Reason,
    Severity,
    StoredDecision,
    Trigger,
)
from reconciler.service.cycle import CycleContext
from reconciler.service.decisions import DecideContext, run_decisions
from reconciler.service.leasing import DECIDE, LeaseTerms, Tenure, claim
from reconciler.settings import PolicySettings
from reconciler.store import Store

STAGE = LeaseScope.STAGE


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
    with caplog.at_level(logging.WARNING, logger="reconciler.service.decisions"):
        run_decisions(store, _context(store), "run-1", NOW)
    assert store.incidents(NOW - timedelta(days=30)) == []
    (decision,) = store.decisions(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert (decision.decision.kind, decision.decision.hard_days) == (DecisionKind.SUPPRESS, 3)
    assert [s.address for s in store.suppressions()] == ["ann@spike.example"]
    bursts = [r.getMessage() for r in caplog.records if "unverified burst" in r.getMessage()]
    assert any("domain=spike.example" in line and "not counted" in line for line in bursts)


def test_verified_bounces_still_make_an_incident(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    _record(store, *[_event(f"u{n}@spike.example", 20 + n, user=600 + n) for n in range(6)])
    with caplog.at_level(logging.WARNING, logger="reconciler.service.decisions"):
        run_decisions(store, _context(store), "run-1", NOW)
    said = [r.getMessage() for r in caplog.records if "spike.example" in r.getMessage()]
    assert said and all(line.startswith("incident active ") for line in said), said
    keys = {(i.scope.value, i.key) for i in store.incidents(NOW - timedelta(days=1))}
    assert keys == {("domain", "spike.example"), ("remote_mta", "mx.spike.example")}
    assert store.suppressions() == []


# -- the decide stage keeps its lease, and acts once per decision (item 9) ---------------------


class _Clock:
    """The injected clock: moved by the test, never by time passing."""

    def __init__(self) -> None:
        self.now = NOW
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=seconds)
            return self.now


def test_a_long_decide_run_keeps_the_stage_lease(store: Store) -> None:
    """A decide run slower than the lease (a slow MediaWiki, commands hitting their timeout):
    before the fix the stage's lease expired under it and another worker ran the stage at the
    same time.  Now it is renewed while the run lasts, and released at its end."""
    clock, ttl = _Clock(), timedelta(seconds=60)
    terms = LeaseTerms("worker-a:1", ttl)
    assert claim(store, "box", terms, clock())
    others: list[bool] = []

    def slow_run(_at: datetime) -> None:
        for _ in range(3):  # three lease times pass within this one run
            moved = clock.advance(50)
            later = moved + ttl - timedelta(seconds=1)  # valid then only if renewed since `moved`
            until(
                lambda later=later: store.lease_holder(DECIDE, later, scope=STAGE) == terms.worker,
                10.0,
                "the decide stage's lease to be renewed",
            )
            others.append(store.acquire_lease(DECIDE, "worker-b:2", clock(), ttl, scope=STAGE))

    ctx = CycleContext(Classifier(()), None, clock=clock, after_batch=slow_run)
    with Tenure(store, "box", terms, ctx.hooks(), renew_every=0.01) as held:
        run = ctx.under(held)
        assert run.after_batch is not None
        run.after_batch(clock())  # one batch recorded: its decide stage runs
    assert others == [False, False, False]
    assert store.lease_holder(DECIDE, clock(), scope=STAGE) is None  # released after the run
    assert store.acquire_lease(DECIDE, "worker-b:2", clock(), ttl, scope=STAGE)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _command(store: Store, out: Path) -> CommandAction:
    code = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read().strip() + '\\n')"
    return CommandAction(store, CommandSettings(argv=(sys.executable, "-c", code, str(out))))


class _Overlapped:
    """An outside action during whose run another worker's decide run ends (its
    `retry_failed`): the overlap of two workers, made certain instead of timed."""

    local = False

    def __init__(self, store: Store, inner: Action) -> None:
        self.name, self._store, self._inner = inner.name, store, inner
        self.retried: list[ActionRecord] = []

    def describe(self, decision: StoredDecision) -> str:
        return self._inner.describe(decision)

    def apply(self, decision: StoredDecision, now: datetime) -> ActionOutcome:
        self.retried += retry_failed(self._store, [self._inner], now + timedelta(seconds=30))
        return self._inner.apply(decision, now)

    def undo(self, record: ActionRecord, now: datetime) -> ActionOutcome:
        return self._inner.undo(record, now)


def _decision(user: int = 7) -> Decision:
    return Decision(
        DecisionKind.SUPPRESS, "wiki", user, f"u{user}@example.org", int(NOW.timestamp()),
        Mode.ENFORCE, Disposition.APPLIED, Trigger.HARD, "hard:3d/14d", 3,
        event_ids=(1, 2, 3), reasons=(Reason.USERUNKNOWN,),
    )  # fmt: skip


def test_a_command_running_is_not_run_again_by_another_workers_retry(
    store: Store, tmp_path: Path
) -> None:
    """Worker A records a decision and runs its command; meanwhile worker B's run ends with
    `retry_failed`, which saw A's PENDING row and ran the command a second time."""
    out = tmp_path / "runs"
    overlapped = _Overlapped(store, _command(store, out))
    stored, (outcome,) = carry_out(store, [overlapped], _decision(), "run-a", NOW)
    assert outcome.status is ActionStatus.DONE
    assert overlapped.retried == []
    assert len(_lines(out)) == 1
    # a row left PENDING by a crash is still run again, once it is surely not running
    store.record_action(stored.id, ActionOutcome("command", ActionStatus.PENDING), NOW)
    assert retry_failed(store, [_command(store, out)], NOW + timedelta(minutes=5)) == []
    (again,) = retry_failed(store, [_command(store, out)], NOW + PENDING_GRACE)
    assert again.status is ActionStatus.DONE and len(_lines(out)) == 2


def test_a_failed_command_is_retried_by_one_worker_only(store: Store, tmp_path: Path) -> None:
    out, flag = tmp_path / "runs", tmp_path / "fixed"
    code = (
        "import sys, pathlib\n"
        "if not pathlib.Path(sys.argv[2]).exists(): sys.exit(3)\n"
        "open(sys.argv[1], 'a').write('ran\\n')\n"
    )
    command = CommandAction(
        store, CommandSettings(argv=(sys.executable, "-c", code, str(out), str(flag)))
    )
    _, (failed,) = carry_out(store, [command], _decision(), "run-a", NOW)
    assert failed.status is ActionStatus.FAILED
    flag.write_text("")
    overlapped = _Overlapped(store, command)  # A retries; B's retry ends meanwhile
    (done,) = retry_failed(store, [overlapped], NOW + timedelta(minutes=1))
    assert done.status is ActionStatus.DONE
    assert overlapped.retried == [] and _lines(out) == ["ran"]


class _Gate:
    """A local action that holds the first worker inside its transaction (decision recorded
    and claimed, nothing committed) until the test lets it go; other callers pass."""

    name, local = "gate", True

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self._first = threading.Lock()

    def describe(self, decision: StoredDecision) -> str:
        return "gate: holds the first worker's transaction open"

    def apply(self, decision: StoredDecision, now: datetime) -> ActionOutcome:
        if self._first.acquire(blocking=False):
            self.entered.set()
            self.release.wait(30)
        return ActionOutcome(self.name, ActionStatus.SKIPPED, "nothing to do")

    def undo(self, record: ActionRecord, now: datetime) -> ActionOutcome:
        return ActionOutcome(self.name, ActionStatus.SKIPPED, "nothing to undo")


def test_two_overlapping_decide_runs_act_once(store: Store, tmp_path: Path) -> None:
    """Two workers run the decide stage over the same new evidence at once (the lease of one
    expired under it).  On PostgreSQL and MariaDB both decided and both applied: the command
    ran twice and the webhook queued two events for one decision.  Now the second waits for
    the first one's claim and does not act (SQLite has one writer: it never raced)."""
    store.set_mode(Mode.ENFORCE, "operator:test", "test", NOW)
    _record(store, *[_event("ann@d.example", m, user=42, mta="mx.d.example")
                     for m in (4 * 1440, 2 * 1440, 30)])  # fmt: skip
    out, gate = tmp_path / "runs", _Gate()
    webhook = WebhookSettings(url="http://127.0.0.1:9/hook", secret=b"webhook-secret-0123456789")
    actions = (gate, WebhookAction(store, webhook), _command(store, out))
    dctx = DecideContext(policy=PolicySettings(), actions=actions)
    failures: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            run_decisions(store, dctx, name, NOW)
        except BaseException as err:  # reported to the test below
            failures.append(err)
        finally:
            store.release_connection()

    first = threading.Thread(target=worker, args=("run-1",))
    first.start()
    assert gate.entered.wait(30), "the first worker never reached its actions"
    second = threading.Thread(target=worker, args=("run-2",))
    second.start()
    second.join(2)  # unfixed, it acts meanwhile; fixed, it waits for the first one's claim
    gate.release.set()
    first.join(60)
    second.join(60)
    assert failures == []
    assert len(_lines(out)) == 1
    assert [item.kind for item in store.outbox("all")] == ["suppress"]
    recorded = store.decisions(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert len([d for d in recorded if d.applied_at is not None]) == 1

"""The store's policy side (migration 2): mode and audit, decisions, suppressions, action log,
outbox and incidents — on SQLite, PostgreSQL and MariaDB through the `store` fixture."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from support import NOW

from reconciler.errors import StoreError
from reconciler.policy import detect_incidents, incidents_of_sightings, tally_events
from reconciler.records import (
    ActionOutcome,
    ActionStatus,
    BounceEvent,
    BreakerCause,
    BreakerTrip,
    Decision,
    DecisionKind,
    Disposition,
    Fault,
    Ignored,
    Incident,
    IncidentScope,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Mode,
    Reason,
    Severity,
    Suppression,
    Trigger,
    UndoFilter,
)
from reconciler.settings import PolicySettings
from reconciler.store import Store, evidence, migrations
from reconciler.store.models import database

T = int(NOW.timestamp())
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def decision(user_id: int = 7, **kw: object) -> Decision:
    values: dict[str, object] = {
        "kind": DecisionKind.SUPPRESS,
        "realm": "wiki",
        "user_id": user_id,
        "address": f"user{user_id}@example.org",
        "at": T,
        "mode": Mode.LOG_ONLY,
        "disposition": Disposition.WOULD,
        "trigger": Trigger.HARD,
        "rule": "hard:3d/14d",
        "hard_days": 3,
        "event_ids": (1, 2, 3),
        "message_ids": ("<a@x>", "<b@x>"),
        "reasons": (Reason.USERUNKNOWN,),
        "ignored": ((Ignored.UNVERIFIED, 2),),
    }
    values.update(kw)
    return Decision(**values)  # type: ignore[arg-type]


def applied(user_id: int = 7, **kw: object) -> Decision:
    return decision(user_id, mode=Mode.ENFORCE, disposition=Disposition.APPLIED, **kw)


def bounce(
    uid: int, user_id: int | None, rule_id: str = "userunknown-5.1.1", **kw: object
) -> LedgerEntry:
    event = BounceEvent(
        recipient=f"user{user_id}@example.org", kind=MessageKind.BOUNCE,
        reason=Reason.USERUNKNOWN, severity=Severity.HARD, fault=Fault.RECIPIENT,
        rule_id=rule_id, event_time=kw.pop("at", NOW - HOUR),  # type: ignore[arg-type]
        realm="wiki" if user_id is not None else None, user_id=user_id,
        verp_valid=user_id is not None,
    )  # fmt: skip
    return LedgerEntry(
        mailbox="INBOX", uidvalidity=1, uid=uid, sha256=hashlib.sha256(b"%d" % uid).hexdigest(),
        size=10, outcome=MessageOutcome.PROCESSED, received_at=NOW, processed_at=NOW,
        events=(event,),
    )  # fmt: skip


# -- mode and audit --------------------------------------------------------------------------


def test_a_fresh_install_is_log_only_since_the_migration(store: Store) -> None:
    state = store.get_mode()
    assert (state.mode, state.since, state.by) == (Mode.LOG_ONLY, NOW, "install")
    assert store.audit_log() == []


def test_every_mode_change_is_audited(store: Store) -> None:
    later = NOW + HOUR
    state = store.set_mode(Mode.ENFORCE, "operator:ann", "reviewed a week of decisions", later)
    assert store.get_mode() == state
    assert (state.mode, state.since, state.by) == (Mode.ENFORCE, later, "operator:ann")
    store.set_mode(Mode.LOG_ONLY, "operator:bob", "holiday", later + HOUR)
    newest, oldest = store.audit_log()
    assert (oldest.old_mode, oldest.new_mode, oldest.actor) == (
        Mode.LOG_ONLY,
        Mode.ENFORCE,
        "operator:ann",
    )
    assert "reviewed a week" in oldest.detail
    assert (newest.old_mode, newest.new_mode, newest.at) == (
        Mode.ENFORCE,
        Mode.LOG_ONLY,
        later + HOUR,
    )
    assert [e.id for e in store.audit_log(action="mode", limit=1)] == [newest.id]


@pytest.mark.parametrize(("mode", "actor", "reason"), [
    (Mode.PAUSED, "operator:ann", "pause"),
    (Mode.ENFORCE, "", "why"),
    (Mode.ENFORCE, "operator:ann", " "),
])  # fmt: skip
def test_refused_mode_changes(store: Store, mode: Mode, actor: str, reason: str) -> None:
    with pytest.raises(StoreError):
        store.set_mode(mode, actor, reason, NOW)
    assert store.get_mode().mode is Mode.LOG_ONLY
    assert store.audit_log() == []


def test_the_breaker_pauses_enforcement_only_and_an_operator_rearms(store: Store) -> None:
    trip = BreakerTrip(BreakerCause.ACTION_COUNT, T, 51, 50, 51, "51 actions exceed 50")
    assert store.trip_breaker(trip, NOW) is None  # log-only: nothing to pause
    store.set_mode(Mode.ENFORCE, "operator:ann", "go", NOW)
    paused = store.trip_breaker(trip, NOW + HOUR)
    assert paused is not None and store.get_mode() == paused
    assert paused.mode is Mode.PAUSED and paused.by == "breaker"
    assert "action_count" in paused.reason and "51 actions" in paused.reason
    assert store.trip_breaker(trip, NOW + 2 * HOUR) is None  # already paused
    entry = store.audit_log(action="breaker")[0]
    assert (entry.old_mode, entry.new_mode) == (Mode.ENFORCE, Mode.PAUSED)
    store.set_mode(Mode.ENFORCE, "operator:ann", "re-armed after checking", NOW + 3 * HOUR)
    assert store.get_mode().mode is Mode.ENFORCE


# -- decisions -------------------------------------------------------------------------------


def test_a_decision_round_trips(store: Store) -> None:
    stored = store.record_decision(decision(address="User7@Example.ORG "), "run-1", NOW)
    assert stored.decision == decision(address="user7@example.org")
    assert (stored.run_id, stored.recorded_at, stored.applied_at) == ("run-1", NOW, None)
    assert store.get_decision(stored.id) == stored
    assert store.get_decision(stored.id + 1000) is None
    nothing = decision(
        8, kind=DecisionKind.NONE, disposition=Disposition.NONE, trigger=None, address=None,
        rule="", event_ids=(), message_ids=(), reasons=(), ignored=(),
    )  # fmt: skip
    none = store.record_decision(nothing, "run-1", NOW)
    assert none.decision.address is None and none.decision.trigger is None
    window = store.decisions(NOW - HOUR, NOW + HOUR)
    assert [s.id for s in window] == [stored.id, none.id]
    assert [s.id for s in store.decisions(NOW - HOUR, NOW + HOUR, "wiki", 8)] == [none.id]
    assert store.decisions(NOW + HOUR, NOW + 2 * HOUR) == []


def test_decided_users_are_those_with_a_decision_in_the_span(store: Store) -> None:
    """What the decide stage asks before comparing with earlier decisions: which users of a
    chunk have one made in [since, until), realm by realm (a NONE decision counts too)."""

    def at(when: datetime) -> int:
        return int(when.timestamp())

    store.record_decision(decision(7, at=at(NOW)), "run-1", NOW)
    store.record_decision(decision(8, realm="other", at=at(NOW)), "run-1", NOW)
    store.record_decision(decision(9, realm="", at=at(NOW + HOUR)), "run-1", NOW)
    none = decision(10, kind=DecisionKind.NONE, disposition=Disposition.NONE, at=at(NOW))
    store.record_decision(none, "run-1", NOW)
    store.record_decision(decision(11, at=at(NOW - 3 * HOUR)), "run-0", NOW)
    users = [("wiki", n) for n in range(1, 12)] + [("other", 7), ("other", 8), ("", 9)]
    wide = users * 60  # more than one query's worth of ids, with repeats
    assert store.decided_users(wide, NOW - HOUR, NOW + 2 * HOUR) == {
        ("wiki", 7), ("other", 8), ("", 9), ("wiki", 10),
    }  # fmt: skip
    assert store.decided_users(users, NOW - HOUR, NOW + HOUR) == {
        ("wiki", 7), ("other", 8), ("wiki", 10),
    }  # fmt: skip
    many = [("wiki", n) for n in range(1, 1200)]
    assert store.decided_users(many, NOW - 4 * HOUR, NOW + HOUR) == {
        ("wiki", 7), ("wiki", 10), ("wiki", 11),
    }  # fmt: skip
    assert store.decided_users([], NOW - HOUR, NOW + HOUR) == set()


def test_pending_would_decisions_latest_per_user_until_applied(store: Store) -> None:
    old = store.record_decision(decision(7), "run-1", NOW)
    new = store.record_decision(decision(7, hard_days=4), "run-2", NOW + HOUR)
    other = store.record_decision(decision(8), "run-2", NOW + HOUR)
    store.record_decision(
        decision(9, kind=DecisionKind.NONE, disposition=Disposition.NONE), "r", NOW
    )
    assert [s.id for s in store.pending_decisions()] == [other.id, new.id]
    assert [s.id for s in store.pending_decisions(limit=1)] == [other.id]
    assert store.supersede_pending(new.decision, NOW + 2 * HOUR) == 2  # old and new of user 7
    assert [s.id for s in store.pending_decisions()] == [other.id]
    assert store.mark_applied([other.id], NOW + 2 * HOUR) == 1
    assert store.mark_applied([other.id], NOW + 3 * HOUR) == 0  # the first time counts
    assert store.pending_decisions() == []
    got = store.get_decision(old.id)
    assert got is not None and got.applied_at == NOW + 2 * HOUR


def test_acted_on_and_undone(store: Store) -> None:
    stored = store.record_decision(applied(7), "run-1", NOW)
    assert store.acted_on("wiki", 7, "user7@example.org") is None  # not applied yet
    store.mark_applied([stored.id], NOW)
    found = store.acted_on("wiki", 7, "USER7@example.org")
    assert found is not None and found.id == stored.id
    assert store.acted_on("wiki", 7, "new@example.org") is None
    assert store.mark_undone(stored.id, NOW + HOUR) is True
    assert store.mark_undone(stored.id, NOW + HOUR) is False
    assert store.acted_on("wiki", 7, "user7@example.org") is None


def test_one_claim_to_act_per_user_and_address_until_undone(store: Store) -> None:
    """Migration 8 (issue 12, item 9): the claim is unique per realm, user and address (any
    case); an undo gives it back; the migration re-runs safely."""
    first = store.record_decision(applied(7), "run-1", NOW)
    with store.transaction():
        assert store.claim_acting(applied(7), NOW) is True
        store.bind_acting(applied(7), first.id)
    assert store.claim_acting(applied(7, address="USER7@Example.org"), NOW) is False
    assert store.claim_acting(applied(7, address="other@example.org"), NOW) is True
    assert store.claim_acting(applied(8), NOW) is True
    store.bind_acting(applied(8), None)  # an unused claim given back
    assert store.claim_acting(applied(8), NOW) is True
    assert store.mark_undone(first.id, NOW + HOUR) is True
    assert store.claim_acting(applied(7), NOW + HOUR) is True  # free again after the undo
    migrations.v8.apply(database.obj)  # the table exists: nothing to do
    assert 8 in store.schema_versions()


def test_recent_actions_and_events_feed_the_breaker(store: Store) -> None:
    first = store.record_decision(applied(7), "run-1", NOW - 3 * HOUR)
    late = store.record_decision(decision(8), "run-1", NOW - 3 * HOUR)  # would, applied later
    store.record_decision(applied(9), "run-1", NOW)  # never applied
    store.mark_applied([first.id], NOW - 2 * HOUR)
    store.mark_applied([late.id], NOW - HOUR / 2)
    actions = store.recent_actions(NOW - HOUR, NOW)
    assert [a.user_id for a in actions] == [8]
    assert actions[0].disposition is Disposition.APPLIED
    assert actions[0].at == T - 1800
    assert len(store.recent_actions(NOW - 3 * HOUR, NOW)) == 2
    store.record_batch([bounce(1, 7), bounce(2, None), bounce(3, 8, at=NOW - 5 * HOUR)], NOW)
    events = store.recent_events(NOW - 2 * HOUR, NOW)
    assert [(e.user_id, e.verp_valid) for e in events] == [(7, True), (None, False)]


def test_applied_decisions_by_filter(store: Store) -> None:
    store.record_batch([bounce(1, 7, rule_id="office365-5.1.10"), bounce(2, 8)], NOW)
    ids = {e.user_id: e.event_id for e in store.recent_events(NOW - 2 * HOUR, NOW)}
    a = store.record_decision(applied(7, event_ids=(ids[7],)), "run-1", NOW)
    b = store.record_decision(
        applied(8, event_ids=(ids[8],), trigger=Trigger.SOFT, rule="soft:10d/30d",
                reasons=(Reason.MAILBOXFULL,)),
        "run-2", NOW,
    )  # fmt: skip
    c = store.record_decision(applied(9), "run-2", NOW)  # never applied: never undone
    store.mark_applied([a.id], NOW)
    store.mark_applied([b.id], NOW + HOUR)

    def found(**kw: object) -> list[int]:
        return [s.id for s in store.applied_decisions(UndoFilter(**kw))]  # type: ignore[arg-type]

    assert found() == [a.id, b.id]
    assert found(since=NOW + HOUR / 2) == [b.id]
    assert found(run_id="run-1") == [a.id]
    assert found(rule="soft:10d/30d") == found(rule="soft") == [b.id]
    assert found(rule="office365-5.1.10") == [a.id]  # the classification rule of the evidence
    assert found(reason=Reason.MAILBOXFULL) == [b.id]
    assert found(realm="wiki", user_id=7) == [a.id]
    assert found(address="USER8@example.org") == [b.id]
    assert found(rule="nope") == []
    store.mark_undone(a.id, NOW + HOUR)
    assert found() == [b.id]
    assert c.id not in found()


# -- suppressions, action log ----------------------------------------------------------------


def test_suppression_list(store: Store) -> None:
    stored = store.record_decision(applied(7), "run-1", NOW)
    entry = Suppression(" User7@Example.org", "wiki", 7, "hard:3d/14d userunknown", NOW, stored.id)
    assert store.add_suppression(entry) is True
    assert store.add_suppression(replace(entry, reason="again", decision_id=None)) is False
    store.add_suppression(Suppression("a@other.example", "shop", 1, "manual", NOW + HOUR))
    found = store.check_suppression("USER7@example.org")
    assert found == replace(entry, address="user7@example.org")
    assert [s.address for s in store.suppressions()] == ["a@other.example", "user7@example.org"]
    assert [s.address for s in store.suppressions(realm="shop")] == ["a@other.example"]
    assert [s.address for s in store.suppressions("wiki", 7)] == ["user7@example.org"]
    assert store.remove_suppression("user7@EXAMPLE.org") == found
    assert store.remove_suppression("user7@example.org") is None
    assert store.check_suppression("user7@example.org") is None


def test_action_log(store: Store) -> None:
    stored = store.record_decision(applied(7), "run-1", NOW)
    done = store.record_action(
        stored.id, ActionOutcome("suppress", ActionStatus.DONE, "added", '{"a": 1}'), NOW
    )
    store.record_action(stored.id, ActionOutcome("command", ActionStatus.FAILED, "exit 1"), NOW)
    queued = store.record_action(stored.id, ActionOutcome("webhook", ActionStatus.QUEUED), NOW)
    assert (done.realm, done.user_id, done.address, done.undo_data) == (
        "wiki", 7, "user7@example.org", '{"a": 1}',
    )  # fmt: skip
    assert [r.action for r in store.actions_of(stored.id)] == ["suppress", "command", "webhook"]
    assert store.actions_of(stored.id, undoable_only=True) == [done, queued]
    assert store.mark_action_undone(done.id, NOW + HOUR) is True
    assert store.mark_action_undone(done.id, NOW + HOUR) is False
    assert store.actions_of(stored.id, undoable_only=True) == [queued]
    assert store.actions_of(stored.id)[0].undone_at == NOW + HOUR


def test_a_failed_transaction_keeps_nothing(store: Store) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.transaction():
        stored = store.record_decision(applied(7), "run-1", NOW)
        store.add_suppression(Suppression("user7@example.org", "wiki", 7, "r", NOW, stored.id))
        store.enqueue("d1-suppress", "suppress", "{}", stored.id, NOW)
        raise Boom
    assert store.decisions(NOW - HOUR, NOW + HOUR) == []
    assert store.suppressions() == []
    assert store.outbox("all") == []


# -- outbox ----------------------------------------------------------------------------------


def test_outbox_retry_delivery_and_giving_up(store: Store) -> None:
    first = store.enqueue("e1", "suppress", '{"n": 1}', None, NOW)
    assert store.enqueue("e1", "suppress", '{"n": 2}', None, NOW + HOUR) == first  # idempotent
    second = store.enqueue("e2", "reinstated", '{"n": 3}', None, NOW + HOUR)
    assert [i.event_id for i in store.due_outbox(NOW)] == ["e1"]
    assert [i.event_id for i in store.due_outbox(NOW + HOUR)] == ["e1", "e2"]
    retry = store.outbox_attempt(first.id, NOW, "HTTP 500", NOW + 2 * HOUR)
    assert (retry.attempts, retry.next_at, retry.last_error) == (1, NOW + 2 * HOUR, "HTTP 500")
    assert [i.event_id for i in store.due_outbox(NOW + HOUR)] == ["e2"]
    sent = store.outbox_attempt(first.id, NOW + 2 * HOUR, None, None)
    assert (sent.attempts, sent.delivered_at, sent.last_error) == (2, NOW + 2 * HOUR, "")
    gave_up = store.outbox_attempt(second.id, NOW + HOUR, "refused", None)
    assert gave_up.failed_at == NOW + HOUR
    assert store.due_outbox(NOW + 9 * HOUR) == []
    assert [i.event_id for i in store.outbox("delivered")] == ["e1"]
    assert [i.event_id for i in store.outbox("failed")] == ["e2"]
    assert store.outbox("pending") == []
    assert store.retry_outbox(NOW + 3 * HOUR) == 1
    again = store.due_outbox(NOW + 3 * HOUR)
    assert [(i.event_id, i.attempts, i.failed_at) for i in again] == [("e2", 0, None)]
    with pytest.raises(StoreError):
        store.outbox("everything")


# -- incidents -------------------------------------------------------------------------------


def incident(start: int, end: int, active: bool, ids: tuple[int, ...]) -> Incident:
    return Incident(IncidentScope.DOMAIN, "example.org", Reason.USERUNKNOWN, 5, start, end,
                    active, ids)  # fmt: skip


def test_incidents_merge_by_overlap_and_clear(store: Store) -> None:
    day = 86_400
    old = incident(T - 3 * day, T - 3 * day + 600, False, (1, 2))
    assert store.record_incidents([old, incident(T - 1800, T - 600, True, (5, 6))], NOW) == 2
    grown = replace(incident(T - 1200, T, True, (6, 7)), users=8)
    assert store.record_incidents([grown], NOW + HOUR) == 0
    assert store.incidents(NOW - HOUR, active_only=True) == [
        replace(incident(T - 1800, T, True, (5, 6, 7)), users=8)
    ]
    assert [i.start for i in store.incidents(NOW - 4 * timedelta(days=1))] == [old.start, T - 1800]
    assert store.record_incidents([], NOW + 2 * HOUR) == 0  # not detected again: cleared
    cleared = store.incidents(NOW - HOUR)
    assert [i.active for i in cleared] == [False]
    assert store.incidents(NOW - HOUR, active_only=True) == []


def test_one_run_merges_into_stored_incidents_and_into_those_it_just_created(
    store: Store,
) -> None:
    stored = incident(T - 1800, T - 600, True, (1, 2))
    assert store.record_incidents([stored], NOW) == 1
    net = replace(incident(T - 600, T, True, (10, 11)), key="example.net")
    run = [
        incident(T - 900, T - 300, True, (2, 3)),  # meets the stored one
        net,  # new
        replace(net, start=T - 100, end=T + 100, event_ids=(12,), users=9),  # meets `net`
        replace(stored, reason=Reason.MAILBOXFULL),  # same key, another reason: new
    ]
    assert store.record_incidents(run, NOW + HOUR) == 2
    found = {(i.key, i.reason): i for i in store.incidents(NOW - HOUR, active_only=True)}
    assert found == {
        ("example.org", Reason.USERUNKNOWN): incident(T - 1800, T - 300, True, (1, 2, 3)),
        ("example.net", Reason.USERUNKNOWN): replace(
            net, end=T + 100, event_ids=(10, 11, 12), users=9
        ),
        ("example.org", Reason.MAILBOXFULL): replace(stored, reason=Reason.MAILBOXFULL),
    }


def test_times_are_utc(store: Store) -> None:
    stored = store.record_decision(applied(7), "run-1", NOW.astimezone())
    assert stored.recorded_at.tzinfo is UTC
    assert stored.recorded_at == NOW == datetime.fromtimestamp(stored.decision.at, UTC)


@pytest.mark.parametrize("run", [(4096, 400), (7, 2)], ids=["one-run", "runs-of-2-groups"])
def test_incidents_read_group_by_group_are_those_of_the_whole_window(
    store: Store, run: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a mixed window: spikes at a domain and at a remote MTA (in mixed case), one user bouncing
    # often, complaints and delays (never counted), a small group and an event outside; the
    # groups read in one query, or a few at a time (as a large window is read)
    monkeypatch.setattr(evidence, "GROUP_ROWS", run[0])
    monkeypatch.setattr(evidence, "GROUPS_AT_ONCE", run[1])
    rng = random.Random(5)
    domains = ["Example.ORG", "example.net", "mail.example.jp"]
    mtas = ["MX1.example.net", "mx1.example.net", "mx.example.jp", ""]
    reasons = [Reason.USERUNKNOWN, Reason.MAILBOXFULL, Reason.BLOCKED]
    kinds = [MessageKind.BOUNCE] * 8 + [MessageKind.FEEDBACK, MessageKind.DELAY]
    entries = []
    for uid in range(1, 301):
        user = rng.choice([None, *range(1, 40)])
        event = BounceEvent(
            recipient=f"u{rng.randint(1, 40)}@{rng.choice(domains)}",
            kind=rng.choice(kinds), reason=rng.choice(reasons), severity=Severity.SOFT,
            fault=Fault.TRANSIENT, rule_id="r",
            event_time=NOW - timedelta(seconds=rng.randint(0, 3 * 3600)),
            remote_mta=rng.choice(mtas) or None,
            realm="wiki" if user is not None else None, user_id=user,
            verp_valid=user is not None,
        )  # fmt: skip
        entries.append(replace(bounce(uid, user), events=(event,)))
    store.record_batch(entries, NOW)
    since, until = NOW - 2 * HOUR, NOW
    settings = PolicySettings()
    whole = detect_incidents(store.recent_events(since, until), settings, T)

    streamed = [
        incident
        for scope in IncidentScope
        for key, reason, events in store.bounce_groups(since, until, scope, 1)
        for incident in incidents_of_sightings((scope, key, reason), events, settings, T)
    ]

    assert whole  # the window holds spikes at both scopes
    assert {i.scope for i in whole} == set(IncidentScope)
    assert sorted(streamed, key=_order) == sorted(whole, key=_order)
    # the group threshold only skips groups that cannot be incidents
    pruned = [
        incident
        for scope in IncidentScope
        for key, reason, events in store.bounce_groups(
            since, until, scope, settings.incident.min_users
        )
        for incident in incidents_of_sightings((scope, key, reason), events, settings, T)
    ]
    assert sorted(pruned, key=_order) == sorted(whole, key=_order)
    sizes = [
        len(events)
        for scope in IncidentScope
        for _, _, events in store.bounce_groups(since, until, scope, settings.incident.min_users)
    ]
    assert sizes and min(sizes) >= settings.incident.min_users


def _order(incident: Incident) -> tuple[str, str, str, int]:
    return (incident.scope.value, incident.key, incident.reason.value, incident.start)


def test_the_breaker_tally_counted_in_sql_is_the_one_counted_from_the_events(
    store: Store,
) -> None:
    # event times on and around the window's edges (sub-second too), verified or not, every
    # fault and kind, some users twice; and a batch recorded outside the created window
    rng = random.Random(9)
    window = 3600
    low, high = T - window, T
    edges = [low - 1, low, low + 1, high - 1, high, high + 1]
    entries = []
    for uid in range(1, 161):
        at = rng.choice(edges) if uid % 3 else rng.randint(low - 600, high + 600)
        when = datetime.fromtimestamp(at, UTC) + timedelta(microseconds=rng.choice([0, 1, 999_999]))
        user = rng.choice([None, *range(1, 30)])
        event = BounceEvent(
            recipient=f"u{uid}@example.org", kind=rng.choice(list(MessageKind)[:4]),
            reason=Reason.BLOCKED, severity=Severity.SOFT,
            fault=rng.choice([Fault.SENDER, Fault.RECIPIENT, Fault.TRANSIENT]), rule_id="r",
            event_time=when,
            realm=rng.choice(["wiki", "shop"]) if user is not None else None, user_id=user,
            verp_valid=user is not None and uid % 7 != 0,
        )  # fmt: skip
        entries.append(replace(bounce(uid, user), events=(event,)))
    store.record_batch(entries[:120], NOW)
    store.record_batch(entries[120:], NOW - 2 * HOUR)  # recorded before the created window

    counted = store.recorded_tally(NOW - HOUR, NOW, (low, high))
    from_events = tally_events(store.recorded_events(NOW - HOUR, NOW), low, high)

    assert counted == from_events
    assert counted.bounces > counted.sender_bounces > 0 and counted.users_seen > 0
    assert from_events != tally_events(store.recorded_events(NOW - 3 * HOUR, NOW), low, high)


def test_unmatched_events_are_the_unverified_ones_recorded_in_the_window_oldest_first(
    store: Store,
) -> None:
    def entry(uid: int, verified: bool) -> LedgerEntry:
        event = BounceEvent(
            recipient=f"u{uid}@example.org", kind=MessageKind.BOUNCE, reason=Reason.USERUNKNOWN,
            severity=Severity.HARD, fault=Fault.RECIPIENT, rule_id="r",
            event_time=datetime.fromtimestamp(T, UTC),
            realm="wiki" if verified else None, user_id=uid if verified else None,
            verp_valid=verified,
        )  # fmt: skip
        return replace(bounce(uid, uid if verified else None), events=(event,))

    store.record_batch([entry(1, False), entry(2, True), entry(3, False)], NOW - 30 * MINUTE)
    store.record_batch([entry(4, False), entry(5, False)], NOW - 10 * MINUTE)
    store.record_batch([entry(6, False)], NOW - 2 * HOUR)  # recorded before the window

    def recipients(limit: int) -> list[str]:
        return [e.address for e in store.unmatched_events(NOW - HOUR, NOW, limit)]

    assert recipients(10) == [f"u{n}@example.org" for n in (1, 3, 4, 5)]
    assert recipients(2) == ["u1@example.org", "u3@example.org"]
    assert recipients(0) == []
    expected = [e for e in store.recorded_events(NOW - HOUR, NOW) if not e.verp_valid]
    assert store.unmatched_events(NOW - HOUR, NOW, 10) == expected


def test_migration_10_keeps_why_a_decision_is_withheld(store: Store) -> None:
    """Issue 15: a decision withheld because its realm has no wiki database says so; decisions
    recorded before migration 10 read as withheld by the mode only."""
    why = "realm dewiki has no database in [actions.mediawiki]"
    held = replace(applied(7), disposition=Disposition.WITHHELD, withheld=why)
    stored = store.record_decision(held, "run-1", NOW)
    assert store.get_decision(stored.id).decision.withheld == why  # type: ignore[union-attr]
    plain = store.record_decision(applied(8), "run-1", NOW)
    assert store.get_decision(plain.id).decision.withheld == ""  # type: ignore[union-attr]
    database.execute_sql("UPDATE decision SET withheld = NULL")
    migrations.v10.apply(database.obj)  # the column exists: nothing to do
    assert store.get_decision(stored.id).decision.withheld == ""  # type: ignore[union-attr]
    assert 10 in store.schema_versions()

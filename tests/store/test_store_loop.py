"""The store's side of the operator's loop (issue 17) on SQLite, PostgreSQL and MariaDB:
requeued bytes go through the ledger once more with their events replaced, and probes are
opened once per address."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

from helpers_store import BOX, entry, event
from support import NOW

from reconciler.records import (
    BatchResult,
    HeldMessage,
    MessageOutcome,
    Probe,
    ProbeState,
    Trigger,
    UserSelector,
)
from reconciler.store import Store

LATER = NOW + timedelta(days=1)


def held(body: bytes, uid: int = 1) -> HeldMessage:
    return HeldMessage(BOX, "quarantine", 7, uid, hashlib.sha256(body).hexdigest(), len(body),
                       NOW)  # fmt: skip


def events(store: Store) -> int:
    return sum(store.count_events(NOW - timedelta(days=30), LATER).values())


def test_a_requeued_message_is_recorded_once_more_with_its_events_replaced(store: Store) -> None:
    body = b"a bounce nobody understood"
    unmatched = entry(1, body, outcome=MessageOutcome.UNMATCHED,
                      events=(event("kim@example.org", user_id=None),))  # fmt: skip
    store.record_batch([unmatched], NOW)
    assert store.ledger_verdicts([unmatched.sha256]) == {
        unmatched.sha256: (MessageOutcome.UNMATCHED, NOW)
    }
    assert store.grant_requeue([held(body)], "operator:test", NOW) == 1
    assert store.open_requeues() == 1

    # moved back: a new UID, the same bytes, now understood (a new key verifies the token)
    again = entry(2, body, processed_at=LATER, events=(event("kim@example.org"),))
    assert store.record_batch([again], LATER) == BatchResult(recorded=(2,), requeued=(2,))
    assert events(store) == 1  # replaced, not added
    assert store.user_events("wiki", 7, NOW - timedelta(days=1))[0].verp_valid
    first = store.get_entry(BOX, 1, 1)
    assert first is not None and first.outcome is MessageOutcome.REQUEUED
    assert store.open_requeues() == 0
    assert store.ledger_verdicts([body_sha(body)])[body_sha(body)][0] is MessageOutcome.PROCESSED

    # once only: the same bytes a third time are a replay
    assert store.record_batch([entry(3, body)], LATER) == BatchResult(duplicates=(3,))
    assert events(store) == 1


def test_requeued_twice_is_counted_once(store: Store) -> None:
    body = b"still not understood"
    store.record_batch([entry(1, body, outcome=MessageOutcome.UNMATCHED,
                              events=(event("a@example.org", user_id=None),))], NOW)  # fmt: skip
    for uid in (2, 3):
        store.grant_requeue([held(body, uid - 1)], "operator:test", NOW)
        unmatched = entry(uid, body, outcome=MessageOutcome.UNMATCHED,
                          events=(event("a@example.org", user_id=None),))  # fmt: skip
        assert store.record_batch([unmatched], NOW).requeued == (uid,)
        assert events(store) == 1
    counts = store.count_outcomes(NOW - timedelta(hours=1), LATER)
    assert (counts[MessageOutcome.UNMATCHED], counts[MessageOutcome.REQUEUED]) == (1, 2)


def test_two_copies_requeued_in_one_batch_make_one_message(store: Store) -> None:
    body = b"quarantined twice"
    store.record_batch([entry(1, body, outcome=MessageOutcome.QUARANTINED, events=())], NOW)
    store.grant_requeue([held(body)], "operator:test", NOW)
    result = store.record_batch([entry(5, body), entry(6, body)], LATER)
    assert result == BatchResult(recorded=(5,), duplicates=(6,), requeued=(5,))
    assert events(store) == 1


def body_sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def draft(state: ProbeState = ProbeState.SENDING, address: str = "Kim@Example.org") -> Probe:
    return Probe(
        id=0, decision_id=None, realm="wiki", user_id=7, address=address, trigger=Trigger.HARD,
        state=state, message_id="probe-1@bounces.example.org", send_ref="abcd",
        return_path="bounces+x@bounces.example.org", created_at=NOW,
        due_at=NOW + timedelta(days=3),
    )  # fmt: skip


def test_one_open_probe_per_address(store: Store) -> None:
    first = store.insert_probe(draft())
    assert first is not None and first.address == "kim@example.org" and first.open
    assert store.insert_probe(draft(address="kim@example.org ")) is None  # the key is taken
    assert store.insert_probe(draft(ProbeState.WOULD)) is not None  # log-only: never open
    assert [p.id for p in store.open_probes()] == [first.id]
    # resolved by exactly one caller; then the address is free for another probe
    assert store.resolve_probe(first.id, ProbeState.DELIVERED, LATER)
    assert not store.resolve_probe(first.id, ProbeState.BOUNCED, LATER, 42)
    assert store.get_probe(first.id) == replace(first, state=ProbeState.DELIVERED,
                                                resolved_at=LATER)  # fmt: skip
    assert store.insert_probe(draft()) is not None
    assert store.probe_clearances([("wiki", 7), ("wiki", 8)]) == {
        ("wiki", 7): {"kim@example.org": int(NOW.timestamp())}
    }
    shown = store.probes(UserSelector(address="KIM@example.org"))
    assert [p.state for p in shown] == [ProbeState.DELIVERED, ProbeState.WOULD, ProbeState.SENDING]
    assert store.probe_counts(NOW, LATER)[ProbeState.WOULD] == 1


def test_an_unsent_probe_is_claimed_by_one_worker(store: Store) -> None:
    probe = store.insert_probe(draft())
    assert probe is not None
    assert store.update_probe(probe.id, [ProbeState.SENDING], state=ProbeState.UNSENT,
                              detail="refused", attempts=1)  # fmt: skip
    assert store.claim_unsent(probe.id, LATER)
    assert not store.claim_unsent(probe.id, LATER)
    got = store.get_probe(probe.id)
    assert got is not None and got.state is ProbeState.SENDING and got.attempts == 1

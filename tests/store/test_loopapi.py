"""The store side of the operator's loop (issue 17) on every backend: what the rules read is
kept with each event, the error of a quarantined message, the review queue's reads, the
replay's pages, and `reclassify`'s writes with their audit rows; migration 11 on a database
recorded before it."""

from __future__ import annotations

from datetime import timedelta

from helpers_store import BOX, entry, event
from playhouse.migrate import SchemaMigrator, migrate
from support import NOW

from reconciler.records import (
    Fault,
    MessageKind,
    MessageOutcome,
    Reason,
    Severity,
    Stage,
    Verdict,
    VerdictChange,
)
from reconciler.store import Store, migrations
from reconciler.store.models import database

SINCE, UNTIL = NOW - timedelta(days=7), NOW + timedelta(seconds=1)
FACTS = {
    "action": "failed",
    "diagnostic_type": "smtp",
    "reporting_mta": "mta.example.net",
    "sender_domain": "example.net",
    "final_domain": "example.org",
    "detector": "rfc3464",
    "stage": Stage.RCPT,
}


def test_every_fact_the_rules_read_round_trips(store: Store) -> None:
    long_text = "x" * 4000  # FACT_LIMITS: a diagnostic is read and kept up to 4000 characters
    kept = event("a@example.org", diagnostic=long_text, **FACTS)  # type: ignore[arg-type]
    store.record_batch([entry(1, events=(kept,))], NOW)
    (stored,) = store.window_events(SINCE, UNTIL)
    assert stored.event == kept and (stored.mailbox, stored.uid) == (BOX, 1)
    assert store.stored_event(stored.id) == stored and store.stored_event(stored.id + 99) is None


def test_a_quarantined_entry_keeps_its_error(store: Store) -> None:
    held = entry(1, outcome=MessageOutcome.QUARANTINED, events=(), destination="quarantine",
                 error="not understood: no header block")  # fmt: skip
    store.record_batch([held, entry(2)], NOW)
    found = store.quarantined_entries(SINCE, UNTIL)
    assert [(e.uid, e.error) for _, e in found] == [(1, "not understood: no header block")]
    ledger_id = found[0][0]
    assert store.quarantined_entries(SINCE, UNTIL, after=ledger_id) == []
    got = store.get_entry(BOX, 1, 2)
    assert got is not None and got.error is None


def test_the_review_queue_reads_what_could_not_be_used(store: Store) -> None:
    onhold = {"reason": Reason.ONHOLD, "severity": Severity.SOFT, "fault": Fault.UNKNOWN}
    store.record_batch(
        [
            entry(1, events=(event("used@example.org"),)),  # verified, decided: not in it
            entry(2, events=(event("nobody@example.org", user_id=None),)),  # unmatched
            entry(3, events=(event("held@example.org", **onhold),)),  # type: ignore[arg-type]
            entry(4, events=(event("away@example.org", user_id=None, kind=MessageKind.VACATION),)),
            entry(
                5,
                events=(
                    event("old@example.org", user_id=None, event_time=NOW - timedelta(days=30)),
                ),
            ),
        ],
        NOW,
    )
    queue = store.review_events(SINCE, UNTIL)
    assert sorted(s.event.recipient for s in queue) == ["held@example.org", "nobody@example.org"]
    first, second = sorted(queue, key=lambda s: s.id)
    assert store.review_events(SINCE, UNTIL, after=first.id, limit=5) == [second]
    entries = store.event_entries([first.id, second.id, 12345])
    assert {e.uid for e in entries.values()} == {first.uid, second.uid}
    assert store.event_entry(first.id) == entries[first.id]


def test_reclassify_writes_new_verdicts_with_an_audit_row_each(store: Store) -> None:
    store.record_batch([entry(uid) for uid in (1, 2, 3)], NOW)
    events = store.window_events(SINCE, UNTIL)
    old = Verdict(Reason.USERUNKNOWN, Severity.HARD, Fault.RECIPIENT, "userunknown-5.1.1")
    new = Verdict(Reason.MAILBOXFULL, Severity.SOFT, Fault.RECIPIENT, "local-mailboxfull-1")
    stale = Verdict(Reason.FILTERED, Severity.SOFT, Fault.UNKNOWN, "gone")  # no longer stored
    changes = [VerdictChange(s.id, "wiki", 7, old, new) for s in events[:2]]
    changes.append(VerdictChange(events[2].id, "wiki", 7, stale, new))
    audit = store.audit("operator:test", "reclassify", "a test", NOW)
    assert store.reclassify(changes, audit.id, NOW) == 2
    after = {s.id: s.event for s in store.window_events(SINCE, UNTIL)}
    for change in changes[:2]:
        e = after[change.event_id]
        assert (e.reason, e.severity, e.fault, e.rule_id) == (
            Reason.MAILBOXFULL, Severity.SOFT, Fault.RECIPIENT, "local-mailboxfull-1",
        )  # fmt: skip
        (row,) = store.reclassifications(change.event_id)
        assert (row.audit_id, row.old, row.new, row.at) == (audit.id, old, new, NOW)
    assert after[events[2].id].rule_id == "userunknown-5.1.1"  # not what the change expected
    assert store.reclassifications(events[2].id) == []
    assert store.reclassify(changes, audit.id, NOW) == 0  # written once


def test_migration_11_on_events_recorded_before_it(store: Store) -> None:
    store.record_batch([entry(1, events=(event("a@example.org", **FACTS),))], NOW)  # type: ignore[arg-type]
    migrator = SchemaMigrator.from_database(database.obj)
    database.obj.execute_sql("DROP TABLE reclassification")
    for column in ("action", "diagnostic_type", "reporting_mta", "sender_domain",
                   "final_domain", "detector"):  # fmt: skip
        migrate(migrator.drop_column("bounce_event", column))
    migrate(migrator.drop_column("message_ledger", "error"))
    migrations.v11.apply(database.obj)  # an upgraded database: the events recorded before
    (stored,) = store.window_events(SINCE, UNTIL)
    assert stored.event.final_domain is None  # replayed from the fields it has
    assert (stored.event.action, stored.event.reporting_mta, stored.event.detector) == ("", "", "")
    assert stored.event.stage is Stage.RCPT
    migrations.v11.apply(database.obj)  # everything exists: nothing to do
    assert store.reclassifications(stored.id) == []
    assert 11 in store.schema_versions()

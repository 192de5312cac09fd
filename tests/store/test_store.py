"""The store, run on a temporary SQLite file, on PostgreSQL and on MariaDB (same functions)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest
from helpers_store import BOX, entry, event
from playhouse.migrate import SchemaMigrator, migrate
from support import NOW

from reconciler.errors import StoreError
from reconciler.records import (
    BatchResult,
    Checkpoint,
    MessageOutcome,
    Severity,
    Stage,
    Unprocessed,
)
from reconciler.store import LATEST_VERSION, Store, migrations, open_database
from reconciler.store.models import MODELS, Event, database

LATER = NOW + timedelta(days=400)


def total_events(store: Store) -> int:
    return sum(store.count_events(NOW - timedelta(days=30), LATER).values())


ALL_VERSIONS = [step.number for step in migrations.MIGRATIONS]


def test_migrations_are_recorded_once(store: Store) -> None:
    numbers = [step.number for step in migrations.MIGRATIONS]
    assert numbers == sorted(set(numbers)) and numbers[-1] == LATEST_VERSION
    assert store.schema_versions() == numbers
    assert store.migrate(NOW) == []
    assert store.schema_versions() == numbers


def test_a_second_migration_applies_once_on_top(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def add_note(db: peewee.Database) -> None:
        migrator = SchemaMigrator.from_database(db)
        migrate(migrator.add_column("checkpoint", "note", peewee.TextField(null=True)))

    step = migrations.Migration(LATEST_VERSION + 1, "checkpoint note", add_note)
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, step))
    store.set_checkpoint(Checkpoint(BOX, 1, 5), NOW)
    assert store.migrate(LATER) == [LATEST_VERSION + 1]
    assert store.migrate(LATER) == []
    # the patched list: every step, the new one last
    assert store.schema_versions() == [m.number for m in migrations.MIGRATIONS]
    assert store.get_checkpoint(BOX) == Checkpoint(BOX, 1, 5)


def test_reconnect_keeps_working(store: Store) -> None:
    store.record_batch([entry(1)], NOW)
    store.reconnect()
    assert store.get_entry(BOX, 1, 1) is not None


def test_migrated_schema_matches_the_live_models(store: Store) -> None:
    db = database.obj
    for model in MODELS:
        table = model._meta.table_name
        cursor = db.execute(model.select(peewee.SQL("*")).where(peewee.SQL("1 = 0")))
        columns = {col[0] for col in cursor.description}
        assert columns == {field.column_name for field in model._meta.sorted_fields}, table


def test_record_batch_is_idempotent(store: Store) -> None:
    batch = [entry(1), entry(2), entry(3)]
    first = store.record_batch(batch, NOW, Checkpoint(BOX, 1, 3))
    again = store.record_batch(batch, NOW, Checkpoint(BOX, 1, 3))
    assert first == BatchResult(recorded=(1, 2, 3))
    assert again == BatchResult(already=(1, 2, 3))
    assert total_events(store) == 3
    assert store.count_outcomes(NOW, LATER)[MessageOutcome.PROCESSED] == 3


def test_a_large_batch_is_recorded_whole(store: Store) -> None:
    # 2,100 events: more than one multi-row statement on the servers (store.bulk), with
    # NULLs, booleans and times among the bound values, and a repeated recipient ignored
    batch = [
        entry(
            uid,
            events=(
                event(f"u{uid}@example.org"),
                event(f"v{uid}@example.org", user_id=None, status=None, remote_mta=None),
                event(f"w{uid}@example.org", severity=Severity.SOFT),
                event(f"u{uid}@example.org", status="5.1.2"),  # the same recipient again
            ),
        )
        for uid in range(1, 701)
    ]
    assert store.record_batch(batch, NOW).recorded == tuple(range(1, 701))
    assert total_events(store) == 2100
    assert store.count_outcomes(NOW, LATER)[MessageOutcome.PROCESSED] == 700
    got = store.get_entry(BOX, 1, 700)
    assert got is not None and got.received_at == NOW and got.moved_at is None
    unverified = Event.select().where(Event.verp_valid == False)  # noqa: E712 (SQL, not Python)
    assert unverified.count() == 700
    assert {(e.status, e.remote_mta, e.user_id) for e in unverified} == {(None, None, None)}
    soft = Event.get(Event.recipient == "w700@example.org")
    assert (soft.severity, soft.status, soft.verp_valid) == ("soft", "5.1.1", True)


def test_same_recipient_twice_in_one_message_is_one_event(store: Store) -> None:
    twice = entry(1, events=(event("x@example.org"), event("x@example.org", status="5.1.2")))
    store.record_batch([twice], NOW)
    assert total_events(store) == 1


def test_entry_round_trips_with_utc_times(store: Store) -> None:
    stored = entry(5, message_id="<m@x>", destination=None)
    store.record_batch([stored], NOW)
    got = store.get_entry(BOX, 1, 5)
    assert got == replace(stored, events=())
    assert got is not None and got.received_at.tzinfo == UTC


def test_replay_after_uidvalidity_change_is_not_counted_twice(store: Store) -> None:
    store.record_batch([entry(1), entry(2)], NOW, Checkpoint(BOX, 1, 2))
    # The server was rebuilt: same bytes, new UIDVALIDITY and UIDs, plus one new message.
    replay = [entry(10, b"message 1", uidvalidity=9), entry(11, uidvalidity=9)]
    result = store.record_batch(replay, NOW, Checkpoint(BOX, 9, 11))
    assert result == BatchResult(recorded=(11,), duplicates=(10,))
    assert total_events(store) == 3
    duplicate = store.get_entry(BOX, 9, 10)
    assert duplicate is not None and duplicate.outcome is MessageOutcome.DUPLICATE
    # Still moved out of the inbox like any other message.
    assert [e.uid for e in store.pending_moves(BOX, 9)] == [10, 11]
    assert store.get_checkpoint(BOX) == Checkpoint(BOX, 9, 11)


def test_same_bytes_twice_in_one_batch(store: Store) -> None:
    result = store.record_batch([entry(1, b"same"), entry(2, b"same")], NOW)
    assert result == BatchResult(recorded=(1,), duplicates=(2,))
    assert store.seen_fingerprint(hashlib.sha256(b"same").hexdigest())
    assert not store.seen_fingerprint(hashlib.sha256(b"other").hexdigest())


def test_a_read_only_open_refuses_a_database_that_is_not_there(database_url: str) -> None:
    """create=False (report, status, mode, ...): no empty database is made in its place; the
    SQLite file is not created, a server database without our tables is left as it is."""
    with pytest.raises(StoreError, match=r"^no database at .*: nothing was recorded there yet"):
        open_database(database_url, create=False)
    if database_url.startswith("sqlite:///"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()
    with open_database(database_url) as store:  # a cycle creates it
        store.migrate(NOW)
    with open_database(database_url, create=False) as store:
        assert store.get_mode().mode.value == "log-only"


def test_pending_moves_survive_a_crash_between_commit_and_move(database_url: str) -> None:
    with open_database(database_url) as store:
        store.migrate(NOW)
        store.record_batch([entry(1), entry(2), entry(3, destination=None)], NOW)
        store.mark_moved(BOX, 1, [1], NOW)
        # ...the process dies here, before moving UID 2.
    with open_database(database_url) as store:
        pending = store.pending_moves(BOX, 1)
        assert [(e.uid, e.destination) for e in pending] == [(2, "processed")]
        assert store.moves_due(BOX, 1) == {"processed": [2]}
        assert store.pending_moves(BOX, 2) == []
        assert store.moves_due(BOX, 2) == {}
        assert store.mark_moved(BOX, 1, [2], NOW + timedelta(minutes=1)) == 1
        assert store.mark_moved(BOX, 1, [2], NOW + timedelta(minutes=2)) == 0
        assert store.pending_moves(BOX, 1) == []
        assert store.moves_due(BOX, 1) == {}
        moved = store.get_entry(BOX, 1, 2)
        assert moved is not None and moved.moved_at == NOW + timedelta(minutes=1)


def test_prune_keeps_fingerprints(store: Store) -> None:
    store.record_batch([entry(1)], NOW)
    assert store.prune_evidence(NOW) == 0
    assert store.prune_evidence(NOW + timedelta(days=1)) == 1
    assert total_events(store) == 0
    assert store.seen_fingerprint(hashlib.sha256(b"message 1").hexdigest())
    # An old message replayed after pruning is still recognised and not counted.
    result = store.record_batch([entry(40, b"message 1")], NOW + timedelta(days=2))
    assert result.duplicates == (40,)
    assert total_events(store) == 0


def test_checkpoints(store: Store) -> None:
    assert store.get_checkpoint(BOX) is None
    store.set_checkpoint(Checkpoint(BOX, 5, 10), NOW)
    store.set_checkpoint(Checkpoint(BOX, 5, 20, last_success=NOW), NOW)
    assert store.get_checkpoint(BOX) == Checkpoint(BOX, 5, 20, NOW)
    assert store.get_checkpoint("other") is None


def test_failed_batch_records_nothing(store: Store) -> None:
    broken = entry(2, size=None)  # NOT NULL violation in the middle of the batch
    with pytest.raises(StoreError, match="recording a batch"):
        store.record_batch([entry(1), broken], NOW, Checkpoint(BOX, 1, 2))
    assert store.get_entry(BOX, 1, 1) is None
    assert store.get_checkpoint(BOX) is None
    assert store.record_batch([entry(1)], NOW) == BatchResult(recorded=(1,))


def test_failures_are_counted_and_cleared_by_recording(store: Store) -> None:
    failing = Unprocessed(BOX, 1, 4, "parse", "boom")
    assert store.record_failure(failing, NOW) == 1
    assert store.record_failure(failing, NOW + timedelta(minutes=5)) == 2
    store.record_batch([entry(4, outcome=MessageOutcome.QUARANTINED, events=())], NOW)
    assert store.record_failure(failing, NOW + timedelta(minutes=9)) == 1


def test_user_history_and_counts(store: Store) -> None:
    store.record_batch(
        [
            entry(1, events=(event("a@example.org"),)),
            entry(2, events=(event("a@example.org", severity=Severity.SOFT),)),
            entry(3, events=(event("b@example.org", user_id=8),)),
            entry(4, outcome=MessageOutcome.UNMATCHED, events=(event("c@x.org", user_id=None),)),
        ],
        NOW,
    )
    history = store.user_history("wiki", 7, NOW - timedelta(days=1))
    assert [(e.address, e.domain, e.severity) for e in history.events] == [
        ("a@example.org", "example.org", Severity.HARD),
        ("a@example.org", "example.org", Severity.SOFT),
    ]
    assert len(store.user_events("wiki", 8, NOW - timedelta(days=1))) == 1
    assert store.user_events("wiki", 7, NOW) == []  # events happened an hour before NOW
    counts = store.count_events(NOW - timedelta(days=1), NOW)
    assert counts == {Severity.HARD: 3, Severity.SOFT: 1, Severity.NONE: 0}
    outcomes = store.count_outcomes(NOW, LATER)
    assert outcomes[MessageOutcome.PROCESSED] == 3
    assert outcomes[MessageOutcome.UNMATCHED] == 1
    since = NOW - timedelta(days=1)
    many = store.user_histories([("wiki", 7), ("wiki", 8), ("other", 7)], since)
    assert many[("wiki", 7)] == store.user_history("wiki", 7, since)
    assert many[("wiki", 8)] == store.user_history("wiki", 8, since)
    assert many[("other", 7)].events == ()
    users, top = store.verified_users_after(0)
    assert users == [("wiki", 7), ("wiki", 8)] and top == 4
    # with concurrent writers only settled ids become the watermark; the users are still listed
    fresh_users, settled_top = store.verified_users_after(0, settled_before=NOW - timedelta(1))
    assert fresh_users == users and settled_top == 0
    assert store.verified_users_after(0, settled_before=LATER)[1] == 4
    span = store.event_span_after(0)
    assert span is not None and span[0] <= span[1] < NOW
    assert store.event_span_after(top) is None


def test_user_histories_keep_realms_apart(store: Store) -> None:
    """Histories are read realm by realm (the realm is part of the indexed condition): the
    same user id in two realms, and a verified event without a realm (key ""), each get
    their own events only."""
    store.record_batch(
        [
            entry(1, events=(event("a@example.org"),)),
            entry(2, events=(event("b@example.org", realm="other"),)),
            entry(3, events=(event("c@example.org", realm=None, verp_valid=True),)),
            entry(4, events=(event("d@example.org", realm="", verp_valid=True),)),
            entry(5, events=(event("e@example.org", user_id=8),)),
        ],
        NOW,
    )
    since = NOW - timedelta(days=1)
    users = [("wiki", 7), ("other", 7), ("", 7), ("wiki", 8), ("nowhere", 7)]
    many = store.user_histories(users, since)
    addresses = {user: [e.address for e in history.events] for user, history in many.items()}
    assert addresses == {
        ("wiki", 7): ["a@example.org"],
        ("other", 7): ["b@example.org"],
        ("", 7): ["c@example.org", "d@example.org"],
        ("wiki", 8): ["e@example.org"],
        ("nowhere", 7): [],
    }
    assert many[("wiki", 7)] == store.user_history("wiki", 7, since)


def test_one_store_per_process(store: Store, tmp_path: object) -> None:
    with pytest.raises(StoreError, match="already open"):
        open_database("sqlite:///:memory:")


@pytest.mark.parametrize(
    "url", ["oracle://scott:tiger@db/x", "postgresql://nobody:secret@127.0.0.1:1/none"]
)
def test_bad_urls_raise_store_error_without_the_password(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_database(url).migrate(NOW)
    assert "secret" not in str(caught.value)
    if database.obj is not None:
        database.obj.close()
        database.initialize(None)


def test_naive_times_are_taken_as_utc(tmp_path: object) -> None:
    with open_database("sqlite:///:memory:") as store:
        store.migrate(NOW.replace(tzinfo=None))
        store.set_checkpoint(Checkpoint(BOX, 1, 1, datetime(2026, 1, 1)), NOW)
        got = store.get_checkpoint(BOX)
    assert got is not None and got.last_success == datetime(2026, 1, 1, tzinfo=UTC)


def test_watermarks_insert_then_update(store: Store) -> None:
    assert store.watermark("test") == 0
    store.set_watermark("test", 5, NOW)
    store.set_watermark("test", 9, LATER)
    store.set_watermark("test", 9, LATER)  # an unchanged value is no error (MySQL: 0 rows)
    assert store.watermark("test") == 9


def test_migration_5_fills_the_domain_of_existing_events_and_reruns_safely(store: Store) -> None:
    store.record_batch(
        [
            entry(1, events=(event("Ann@Example.ORG"), event("weird@x@Mail.Example.NET"))),
            entry(2, events=(event("no-at-sign"),)),
        ],
        NOW,
    )
    database.execute_sql("UPDATE bounce_event SET domain = NULL")  # as before migration 5
    migrations.v5.apply(database.obj)
    assert sorted((e.recipient, e.domain) for e in Event.select()) == [
        ("Ann@Example.ORG", "example.org"),
        ("no-at-sign", ""),
        ("weird@x@Mail.Example.NET", "mail.example.net"),
    ]
    migrations.v5.apply(database.obj)  # the column and the index exist: nothing to do
    assert Event.select().where(Event.domain.is_null()).count() == 0
    assert LATEST_VERSION >= 5 and 5 in store.schema_versions()


def test_migration_7_adds_the_binding_and_old_events_read_as_unbound(store: Store) -> None:
    store.record_batch([entry(1, events=(event("ann@example.org", address_bound=True),))], NOW)
    history = store.user_history("wiki", 7, NOW - timedelta(days=1))
    assert [e.bound for e in history.events] == [True]
    migrate(SchemaMigrator.from_database(database.obj).drop_column("bounce_event", "address_bound"))
    migrations.v7.apply(database.obj)  # an upgraded database: the events recorded before
    history = store.user_history("wiki", 7, NOW - timedelta(days=1))
    assert [(e.address, e.bound) for e in history.events] == [("ann@example.org", False)]
    assert [e.address_bound for e in store.user_events("wiki", 7, NOW - timedelta(days=1))] == [
        False
    ]
    migrations.v7.apply(database.obj)  # the column exists: nothing to do
    store.record_batch([entry(2, events=(event("bob@example.org", address_bound=True),))], NOW)
    history = store.user_history("wiki", 7, NOW - timedelta(days=1))
    assert sorted((e.address, e.bound) for e in history.events) == [
        ("ann@example.org", False),
        ("bob@example.org", True),
    ]
    assert 7 in store.schema_versions()


def test_a_token_one_past_the_largest_user_id_still_records(store: Store) -> None:
    """Issue 12, item 7: a signed native token for user 2**63 (one past a signed BIGINT) was
    accepted and made `record_batch` fail (OverflowError) on every backend; it is malformed
    now, so its bounce is recorded as unverified evidence.  2**63 - 1 records as it is."""
    from helpers_mail import KEY, VERP, hard_bounce

    from reconciler.analysis import Destinations, ledger_entry
    from reconciler.classify import Classifier
    from reconciler.classify.rules import load_rules
    from reconciler.records import RawMessage, VerpFailure
    from reconciler.verp import EPOCH, _native_mac
    from reconciler.verp import bouncehandler as _verpbh

    def token(user_id: int) -> str:
        issued = int(NOW.timestamp()) - 600
        mac = _native_mac(VERP.keys[0], "", user_id, issued, "")
        time36 = _verpbh.base36(issued - EPOCH).rjust(6, "0")
        return f"bounces+c{_verpbh.base36(user_id)}.{time36}{mac}@{VERP.domain}"

    assert VERP.keys[0].secret == KEY
    classifier = Classifier(load_rules(None, use_shipped=True).rules)
    folders = Destinations("processed", "unmatched", "quarantine")
    entries = []
    for uid, user_id in ((1, 2**63), (2, 2**63 - 1)):
        data = hard_bounce(token(user_id), f"u{uid}@example.net", f"t{uid}", own_mx=True)
        raw = RawMessage(BOX, 1, uid, data, received_at=NOW)
        entries.append(ledger_entry(raw, _Inputs(classifier, VERP), folders, NOW)[0])
    assert store.record_batch(entries, NOW, None) == BatchResult(recorded=(1, 2))
    past, largest = (store.get_entry(BOX, 1, uid) for uid in (1, 2))
    assert past is not None and past.outcome is MessageOutcome.UNMATCHED
    assert largest is not None and largest.outcome is MessageOutcome.PROCESSED
    assert [e.verp_failure for e in entries[0].events] == [VerpFailure.MALFORMED]
    recorded = store.user_events("", 2**63 - 1, NOW - timedelta(days=1))  # a token without realm
    assert [e.user_id for e in recorded] == [2**63 - 1]


class _Inputs:
    def __init__(self, classifier: object, verp: object) -> None:
        self.classifier = classifier
        self.verp = verp


def test_migration_9_keeps_the_original_recipient_and_the_stage(store: Store) -> None:
    kept = event("final@example.org", original_recipient="mailed@example.org", stage=Stage.RCPT)
    store.record_batch([entry(1, events=(kept,)), entry(2)], NOW)
    events = store.user_events("wiki", 7, NOW - timedelta(days=1))
    by_recipient = {e.recipient: e for e in events}
    assert by_recipient["final@example.org"].original_recipient == "mailed@example.org"
    assert by_recipient["final@example.org"].stage is Stage.RCPT
    assert by_recipient["user2@example.org"].original_recipient is None
    assert by_recipient["user2@example.org"].stage is Stage.UNKNOWN
    # a result is about either address: what was mailed, or where it ended
    assert by_recipient["final@example.org"].names("MAILED@example.org")
    assert by_recipient["final@example.org"].names("final@example.org")
    assert not by_recipient["final@example.org"].names("other@example.org")
    # events recorded before migration 9 read as no original recipient, stage unknown
    database.execute_sql("UPDATE bounce_event SET original_recipient = NULL, stage = NULL")
    migrations.v9.apply(database.obj)  # the columns exist: nothing to do
    (old,) = [
        e
        for e in store.user_events("wiki", 7, NOW - timedelta(days=1))
        if e.names("final@example.org")
    ]
    assert (old.original_recipient, old.stage) == (None, Stage.UNKNOWN)
    assert 9 in store.schema_versions()

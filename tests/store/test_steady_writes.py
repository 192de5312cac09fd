"""The drain's store writes made cheaper (issue 16, the steady drain), held to the forms they
replaced: `to_db` / `from_db` without `datetime.replace`, SQLite times written once per
distinct value, None and bools bound through registered adapters.  The replaced forms are
kept here, and a batch recorded both ways leaves the same rows in every table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import peewee as pw
import pytest
from helpers_store import entry, event
from hypothesis import given
from hypothesis import strategies as st
from support import NOW

from reconciler.records import Checkpoint, MessageOutcome
from reconciler.store import Store, bulk, ledger, rows
from reconciler.store.bulk import _sqlite_times
from reconciler.store.connection import from_db, to_db
from reconciler.store.models import database


def old_to_db(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def old_from_db(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC)


def old_sqlite_times(column: list[Any]) -> list[Any]:
    kinds = set(map(type, column))
    kinds.discard(type(None))
    if kinds != {datetime}:
        return column
    return [None if value is None else value.isoformat(" ") for value in column]


ZONES = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m))),
)
MOMENTS = st.builds(
    lambda day, zone, fold: day.replace(tzinfo=zone, fold=fold),
    st.datetimes(datetime(1990, 1, 1), datetime(2090, 1, 1)),
    ZONES,
    st.integers(0, 1),
)


def same(a: datetime, b: datetime) -> bool:
    """Equal as values and in every part that equality leaves out (zone, fold, type)."""
    return (a, a.tzinfo, a.fold, type(a)) == (b, b.tzinfo, b.fold, type(b))


@given(MOMENTS)
def test_to_db_and_from_db_give_what_replace_gave(moment: datetime) -> None:
    assert same(to_db(moment), old_to_db(moment))
    naive = moment.replace(tzinfo=None)
    assert same(from_db(moment), old_from_db(moment))
    assert same(from_db(naive), old_from_db(naive))
    assert same(from_db(str(moment)), old_from_db(str(moment)))


@given(st.lists(st.one_of(st.none(), MOMENTS), max_size=12), st.integers(0, 5))
def test_sqlite_times_are_the_texts_of_each_value(column: list[Any], repeats: int) -> None:
    column = column + column[:repeats]  # the same values again: read from the memo
    assert _sqlite_times(column) == old_sqlite_times(column)


def test_equal_instants_in_other_zones_keep_their_own_text() -> None:
    east = NOW.astimezone(timezone(timedelta(hours=2)))
    assert _sqlite_times([NOW, east]) == [NOW.isoformat(" "), east.isoformat(" ")]


@pytest.fixture
def default_binding() -> Iterator[None]:
    """sqlite3 without the adapters `bulk` registers (put back afterwards)."""
    keys = [(type(None), sqlite3.PrepareProtocol), (bool, sqlite3.PrepareProtocol)]
    kept = {key: sqlite3.adapters.pop(key) for key in keys if key in sqlite3.adapters}
    yield
    sqlite3.adapters.update(kept)


def test_none_and_bools_are_bound_as_sqlite3_binds_them(default_binding: None) -> None:
    values = [(None, True, False, 1, 0, "t", 2.5)] * 3

    def stored() -> list[tuple[Any, ...]]:
        con = sqlite3.connect(":memory:")
        con.execute("create table t (a, b, c, d, e, f, g)")
        con.executemany("insert into t values (?, ?, ?, ?, ?, ?, ?)", values)
        columns = ", ".join(f"typeof({c}), quote({c})" for c in "abcdefg")
        return con.execute(f"select {columns} from t").fetchall()

    plain = stored()
    bulk._plain_binding.cache_clear()
    bulk._plain_binding()
    assert (type(None), sqlite3.PrepareProtocol) in sqlite3.adapters
    assert stored() == plain
    assert plain[0][:6] == ("null", "NULL", "integer", "1", "integer", "0")


def _dump() -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in order, as the database holds them (SQLite: with their types)."""
    bound = database.obj
    tables = sorted(bound.get_tables())
    dump: dict[str, list[tuple[Any, ...]]] = {}
    for table in tables:
        cursor = bound.execute_sql(f'SELECT * FROM "{table}"')
        names = [column[0] for column in cursor.description]
        rows_ = [tuple(row) for row in cursor.fetchall()]
        if isinstance(bound, pw.SqliteDatabase):
            kinds = ", ".join(f'typeof("{name}")' for name in names)
            kinds_rows = bound.execute_sql(f'SELECT {kinds} FROM "{table}"').fetchall()
            rows_ = [(*row, *kind) for row, kind in zip(rows_, kinds_rows, strict=True)]
        dump[table] = sorted(rows_, key=repr)
    return dump


def _batch() -> list[Any]:
    east = timezone(timedelta(hours=5, minutes=30))
    later = NOW + timedelta(minutes=3)
    return [
        entry(1),
        entry(2, received_at=NOW.astimezone(east), processed_at=later),
        entry(3, message_id=None, destination=None, outcome=MessageOutcome.SKIPPED, events=()),
        entry(4, events=(event("x@example.org", None, reply_code=None, remote_mta=None),)),
        entry(5, body=b"message 1"),  # the bytes of uid 1 again: a duplicate
        entry(6, error="parse: odd", moved_at=later),
        entry(7, events=(event("y@example.org", event_time=NOW.astimezone(east)),) * 2),
    ]


def _record(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    store.record_batch(_batch(), NOW, Checkpoint(entry(1).mailbox, 1, 7))
    store.mark_moved(entry(1).mailbox, 1, [1, 2], NOW + timedelta(seconds=1))
    store.record_batch([entry(8, received_at=datetime(2020, 2, 2, 2, 2, 2))], NOW, None)
    return _dump()


def test_a_batch_leaves_the_rows_the_replaced_forms_left(
    sqlite_store: Store, default_binding: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same batches recorded with the replaced forms (old `to_db`, one text per value,
    sqlite3's own adapting) and with the new ones: the same rows in every table.  On SQLite
    only, whose path the texts and the binding are (the servers' SQL and values are unchanged;
    `to_db` is held to the old form above)."""
    store = sqlite_store
    assert isinstance(database.obj, pw.SqliteDatabase)
    with monkeypatch.context() as old:
        for module in (ledger, rows):
            old.setattr(module, "to_db", old_to_db)
        old.setattr(bulk, "_sqlite_times", old_sqlite_times)
        old.setattr(bulk, "_plain_binding", lambda: None)
        before = _record(store)
    for table in before:  # emptied (rowid tables: the ids start again where they started)
        if table != "schema_version":
            database.obj.execute_sql(f'DELETE FROM "{table}"')
    after = _record(store)
    assert after == before
    assert sum(map(len, after.values())) > 10

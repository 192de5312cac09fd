"""Bulk inserts (reconciler.store.bulk): a column is bound as it is only when every value of
it would be; one value that needs it is still converted, made valid text, or cut."""

from __future__ import annotations

from typing import Any

from support import NOW

from reconciler.store import Store
from reconciler.store.bulk import TEXT_LIMIT, insert_row, insert_rows, update_rows
from reconciler.store.connection import to_db
from reconciler.store.models import Attempt, database
from reconciler.validtext import REPLACEMENT


def attempt(uid: int, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "mailbox": "box",
        "uidvalidity": 1,
        "uid": uid,
        "attempts": 1,
        "stage": "analyse",
        "error": f"error {uid}",
        "first_at": to_db(NOW),
        "last_at": to_db(NOW),
    }
    return {**row, **kw}


def stored() -> dict[int, Attempt]:
    return {int(row.uid): row for row in Attempt.select()}


def test_one_value_that_needs_it_is_made_valid_or_cut_the_others_kept(store: Store) -> None:
    rows = [attempt(uid) for uid in range(1, 40)]
    rows[5] = attempt(6, error="nul\x00here")
    rows[9] = attempt(10, error="lone \udc80 surrogate")
    rows[20] = attempt(21, error="x" * (TEXT_LIMIT + 50), stage="s" * 40)  # stage: 32 at most
    rows[30] = attempt(31, attempts=True)  # a bool in an integer column: converted
    with database.atomic():
        insert_rows(Attempt, rows)
    found = stored()
    assert found[6].error == f"nul{REPLACEMENT}here"
    assert found[10].error == f"lone {REPLACEMENT} surrogate"
    assert found[21].error == "x" * TEXT_LIMIT and found[21].stage == "s" * 32
    assert found[31].attempts == 1 and type(found[31].attempts) is int
    assert [found[uid].error for uid in (1, 2, 39)] == ["error 1", "error 2", "error 39"]


def test_valid_columns_go_in_unchanged(store: Store) -> None:
    rows = [attempt(uid, error="naïve, ünïcode ✓") for uid in range(1, 6)]
    with database.atomic():
        insert_rows(Attempt, rows)
    assert {row.error for row in stored().values()} == {"naïve, ünïcode ✓"}


def test_update_rows_writes_each_row_by_its_key(store: Store) -> None:
    """Each row is updated by its key with its own values (the others left as they are),
    text made valid and cut as when inserted, also in the first row (the one the statement
    is written from)."""
    with database.atomic():
        insert_rows(Attempt, [attempt(uid) for uid in range(1, 8)])
    ids = {int(row.uid): int(row.id) for row in Attempt.select()}
    later = to_db(NOW.replace(year=NOW.year + 1))
    changes = [
        {"id": ids[2], "attempts": 5, "error": "two", "last_at": later},
        {"id": ids[5], "attempts": 6, "error": "nul\x00five", "last_at": later},
        {"id": ids[6], "attempts": 7, "error": "x" * (TEXT_LIMIT + 9), "last_at": later},
    ]
    odd_first = [
        {"id": ids[7], "attempts": 8, "error": "lone \udc80", "last_at": later},
        {"id": ids[3], "attempts": 9, "error": "three", "last_at": later},
    ]
    with database.atomic():
        update_rows(Attempt, changes)
        update_rows(Attempt, odd_first)
        update_rows(Attempt, [])
    rows = stored()
    assert {uid: int(row.attempts) for uid, row in rows.items()} == {
        1: 1, 2: 5, 3: 9, 4: 1, 5: 6, 6: 7, 7: 8,
    }  # fmt: skip
    assert rows[2].error == "two" and rows[1].error == "error 1" and rows[4].error == "error 4"
    assert rows[5].error == "nul" + REPLACEMENT + "five"
    assert rows[6].error == "x" * TEXT_LIMIT
    assert rows[7].error == "lone " + REPLACEMENT and rows[3].error == "three"
    assert rows[2].last_at == rows[3].last_at != rows[1].last_at


def test_insert_row_returns_the_new_rows_id_as_create_does(store: Store) -> None:
    """The id given back is the stored row's (the backend's RETURNING or its last row id),
    also after a row made by peewee's `create`, and the values are those `create` stores."""
    with database.atomic():
        first = insert_row(Attempt, attempt(1))
        made = Attempt.create(**attempt(2))
        third = insert_row(Attempt, attempt(3, error="third"))
    assert first < int(made.id) < third
    by_id = {int(row.id): row for row in Attempt.select()}
    assert by_id[first].uid == 1 and by_id[third].uid == 3 and by_id[third].error == "third"
    assert by_id[third].first_at == by_id[int(made.id)].first_at


def test_times_are_stored_as_create_stores_them(store: Store) -> None:
    """A column of datetimes goes in as it is (SQLite: as the text its default adapter
    makes), and a column with one time given as text is converted value by value: the
    stored values are those of peewee's `create`, with microseconds and without."""
    moments = [to_db(NOW), to_db(NOW).replace(microsecond=123456), to_db(NOW).replace(second=7)]
    with database.atomic():
        insert_rows(Attempt, [attempt(i + 1, first_at=m) for i, m in enumerate(moments)])
        insert_rows(Attempt, [attempt(4, last_at="2026-01-02 03:04:05"), attempt(5)])
        for i, moment in enumerate(moments):
            Attempt.create(**attempt(11 + i, first_at=moment))
        Attempt.create(**attempt(14, last_at="2026-01-02 03:04:05"))
    table = Attempt._meta.table_name
    raw = dict(database.execute_sql(f"SELECT uid, first_at FROM {table}").fetchall())
    last = dict(database.execute_sql(f"SELECT uid, last_at FROM {table}").fetchall())
    assert [raw[uid] for uid in (1, 2, 3)] == [raw[uid] for uid in (11, 12, 13)]
    assert raw[1] != raw[3]  # (MariaDB keeps no microseconds: 1 and 2 may be equal)
    assert last[4] == last[14] and last[4] != last[5]

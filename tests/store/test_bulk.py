"""Bulk inserts (reconciler.store.bulk): a column is bound as it is only when every value of
it would be; one value that needs it is still converted, made valid text, or cut."""

from __future__ import annotations

from typing import Any

from support import NOW

from reconciler.store import Store
from reconciler.store.bulk import TEXT_LIMIT, insert_rows
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

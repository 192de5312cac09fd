"""Long IN lists (reconciler.store.inlist): the widened statement finds and changes exactly
what peewee's own statement does, on each backend, and a statement of another shape is run
as peewee writes it."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_store import BOX, entry
from support import NOW

from reconciler.store import Store
from reconciler.store.inlist import execute_in
from reconciler.store.models import Message


def select_uids(values: list[Any]) -> Any:
    return (
        Message.select(Message.uid, Message.sha256)
        .where((Message.mailbox == BOX) & (Message.uidvalidity == 1) & Message.uid.in_(values))
        .order_by(Message.uid)
    )


def test_a_long_in_list_selects_what_peewee_selects(store: Store) -> None:
    store.record_batch([entry(uid) for uid in range(1, 301)], NOW)
    wanted = [*range(5, 290, 3), 999]  # 999 is not there
    rows = [tuple(row) for row in execute_in(select_uids, Message.uid, wanted)]
    assert rows == list(select_uids(wanted).tuples())
    assert [uid for uid, _ in rows] == list(range(5, 290, 3))


def test_an_update_changes_the_rows_of_the_list_only(store: Store) -> None:
    store.record_batch([entry(uid) for uid in range(1, 51)], NOW)

    def unmoved(values: list[Any]) -> Any:
        return Message.update(moved=True).where(
            (Message.moved == False) & Message.uid.in_(values)  # noqa: E712
        )

    assert execute_in(unmoved, Message.uid, list(range(10, 20))).rowcount == 10
    assert execute_in(unmoved, Message.uid, list(range(15, 25))).rowcount == 5  # 15-19: done
    moved = Message.select(Message.uid).where(Message.moved == True)  # noqa: E712
    assert sorted(row.uid for row in moved) == list(range(10, 25))


def test_a_statement_whose_in_list_is_not_last_runs_as_peewee_writes_it(store: Store) -> None:
    store.record_batch([entry(uid) for uid in range(1, 21)], NOW)

    def list_first(values: list[Any]) -> Any:  # the IN list's values come before the mailbox
        return Message.select(Message.uid).where(Message.uid.in_(values) & (Message.mailbox == BOX))

    rows = execute_in(list_first, Message.uid, [3, 4, 5])
    assert sorted(uid for (uid,) in rows) == [3, 4, 5]


def test_no_values_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        execute_in(select_uids, Message.uid, [])

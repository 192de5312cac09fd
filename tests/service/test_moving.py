"""`Mover` marks what one move did in one store call, only what the server moved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from reconciler.errors import SourceError
from reconciler.service.moving import Mover

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class _Source:
    mailbox, uidvalidity = "box", 7

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.moves: list[tuple[str, list[int]]] = []

    def move(self, uids: Sequence[int], destination: str) -> int:
        if destination == self.refuse:
            raise SourceError(f"no room in {destination}")
        self.moves.append((destination, list(uids)))
        return 0


class _Store:
    def __init__(self, due: dict[str, list[int]]) -> None:
        self.due = due
        self.marked: list[tuple[str, int, list[int]]] = []

    def moves_due(self, mailbox: str, uidvalidity: int) -> dict[str, list[int]]:
        due, self.due = self.due, {}
        return due

    def mark_moved(self, mailbox: str, uidvalidity: int, uids: Sequence[int], now: datetime) -> int:
        self.marked.append((mailbox, uidvalidity, list(uids)))
        return len(uids)


@pytest.mark.parametrize("background", [False, True])
def test_every_destination_is_marked_in_one_call(background: bool) -> None:
    source = _Source()
    store = _Store({"processed": [1, 3, 4], "unmatched": [2, 5]})
    counts: list[tuple[int, int]] = []
    with Mover(source, store, lambda: NOW, lambda *c: counts.append(c), background=background) as m:  # type: ignore[arg-type]
        m.move_due()
    assert source.moves == [("processed", [1, 3, 4]), ("unmatched", [2, 5])]
    assert store.marked == [("box", 7, [1, 3, 4, 2, 5])]
    assert counts == [(3, 0), (2, 0)]


def test_a_failed_destination_is_not_marked() -> None:
    source = _Source(refuse="unmatched")
    store = _Store({"processed": [1, 3], "unmatched": [2]})
    mover = Mover(source, store, lambda: NOW, lambda *c: None, background=True)  # type: ignore[arg-type]
    mover.move_due()
    with pytest.raises(SourceError, match="no room"):
        mover.finish()
    assert store.marked == [("box", 7, [1, 3])]


def test_nothing_moved_marks_nothing() -> None:
    store = _Store({})
    with Mover(_Source(), store, lambda: NOW, lambda *c: None) as mover:  # type: ignore[arg-type]
        mover.move_due()
    assert store.marked == []

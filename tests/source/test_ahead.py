"""Fetching one batch ahead in a thread (reconciler.source.ahead), over a real folder source:
the same batches as `fetch_batches`, never more than one batch ahead of the caller, the
reader's error at the batch it would have given, and the thread ended when the caller stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.errors import SourceError
from reconciler.records import RawMessage
from reconciler.source import fetch_batches
from reconciler.source.ahead import ReadAhead
from reconciler.source.folder import DirSource


class Counting(DirSource):
    """A real folder source that counts its fetches (and fails at `fail_at`, when given)."""

    def __init__(self, path: Path, fail_at: int | None = None) -> None:
        super().__init__(path, read_only=True)
        self.fetches = 0
        self.fail_at = fail_at

    def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        self.fetches += 1
        if self.fetches == self.fail_at:
            raise SourceError(f"fetch {self.fetches} failed")
        return super().fetch(uids)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for n in range(1, 12):
        (tmp_path / f"m{n:02}.eml").write_bytes(b"Subject: %d\r\n\r\n" % n + b"x" * (n * 100))
    return tmp_path


UIDS = list(range(1, 12))


def test_the_same_batches_as_fetching_in_turn(folder: Path) -> None:
    with DirSource(folder, read_only=True) as source:
        in_turn = list(fetch_batches(source, UIDS, 3, max_bytes=1500))
        with ReadAhead(source, UIDS, 3, 1500) as ahead:
            read_ahead = list(ahead)
    assert [m.uid for batch in in_turn for m in batch] == UIDS
    assert len(in_turn) > 4  # cut by count and by bytes
    assert read_ahead == in_turn


def test_never_more_than_one_batch_ahead(folder: Path) -> None:
    with Counting(folder) as source, ReadAhead(source, UIDS, 2, None) as ahead:
        taken = 0
        for _batch in ahead:
            taken += 1
            assert source.fetches <= taken + 1  # this one, and at most the next
        assert taken == source.fetches == 6


def test_an_error_of_the_reader_comes_at_its_batch(folder: Path) -> None:
    taken = []
    source = Counting(folder, fail_at=3)
    with source, ReadAhead(source, UIDS, 2, None) as ahead, pytest.raises(SourceError, match="3"):
        for batch in ahead:
            taken.append([m.uid for m in batch])
    assert taken == [[1, 2], [3, 4]]


def test_leaving_early_ends_the_thread(folder: Path) -> None:
    with Counting(folder) as source:
        ahead = ReadAhead(source, UIDS, 2, None)
        with ahead:
            first = next(iter(ahead))
        assert not ahead._thread.is_alive()
        assert [m.uid for m in first] == [1, 2]
        assert source.fetches <= 2  # the first, and perhaps the one ahead; no more

"""A byte budget per FETCH and per batch (issue 12, item 5).

One FETCH used to bring a whole batch: up to 500 x `max_message_bytes`.  41 bounces of
9.5 MB took the polling process to 1.2 GB; a process that the kernel or a memory limit
stops there fetches the same batch again at its next start, and so on for ever.  Batches
are now cut by the sizes the server reports (`[[mailbox]] fetch_bytes`, 16 MiB): the peak
stays near 110 MB, measured on the suite's dovecot by the process itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from dovecot import Account, Dovecot
from helpers_big import count, poll_peak, seed, write_config

from reconciler.records import RawMessage
from reconciler.source import fetch_batches
from reconciler.source.folder import DirSource

MB = 1_000_000
PEAK_LIMIT_KB = 300 * 1024  # the bound on the polling process's peak RSS


class Counting(DirSource):
    """A real folder source that remembers the UIDs of each fetch."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, read_only=True)
        self.fetched: list[list[int]] = []

    def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        self.fetched.append(list(uids))
        return super().fetch(uids)


def test_batches_are_cut_by_size_and_keep_their_order(tmp_path: Path) -> None:
    sizes = [400, 300, 200, 900, 1500, 100, 100, 100, 600]  # bytes of messages 1..9
    for n, size in enumerate(sizes, start=1):
        (tmp_path / f"m{n:02}.eml").write_bytes(b"x" * size)
    with Counting(tmp_path) as source:
        batches = list(fetch_batches(source, [1, 2, 3, 4, 5, 6, 7, 8, 9], 4, max_bytes=1000))
        fetched = source.fetched
    # at most 4 messages, at most 1,000 bytes, a larger message alone; in UID order
    assert fetched == [[1, 2, 3], [4], [5], [6, 7, 8], [9]]
    assert [[raw.uid for raw in batch] for batch in batches] == fetched
    assert [sum(len(raw.data) for raw in batch) for batch in batches] == [900, 900, 1500, 300, 600]


def test_without_a_budget_a_batch_is_counted_in_messages_only(tmp_path: Path) -> None:
    for n in range(1, 6):
        (tmp_path / f"m{n}.eml").write_bytes(b"x" * 5000)
    with Counting(tmp_path) as source:
        list(fetch_batches(source, [1, 2, 3, 4, 5, 77], 2))
        assert source.fetched == [[1, 2], [3, 4], [5, 77]]
    with Counting(tmp_path) as source:  # a UID that vanished is not fetched at all
        list(fetch_batches(source, [1, 2, 3, 4, 5, 77], 10, max_bytes=10_000))
        assert source.fetched == [[1, 2], [3, 4], [5]]


def _drain(
    server: Dovecot, account: Account, work: Path, limit: int = 0, extra: str = ""
) -> tuple[int, int, str]:
    """One `poll --once` child over `account`: its peak RSS in kB, exit status and output."""
    work.mkdir(exist_ok=True)
    work.chmod(0o755)
    return poll_peak(write_config(work, server, account, extra), 0, limit)


def _discard(server: Dovecot, account: Account) -> None:
    """Drop the account's 390 MB of mail (the session's dovecot lives on)."""
    with server.client(account, folder=None) as imap:
        for folder in ("processed", "INBOX"):
            if imap.folder_exists(folder):
                imap.select_folder(folder)
                imap.delete_messages(imap.search("ALL"))
                imap.expunge()


@pytest.mark.live
@pytest.mark.slow
def test_41_messages_of_9_5_mb_drain_under_300_mb(
    dovecot: Dovecot, imap_account: Account, tmp_path: Path
) -> None:
    """Before the budget this peak was 1,196 MB."""
    seed(dovecot, imap_account, 41, int(9.5 * MB))
    try:
        peak, status, _ = _drain(dovecot, imap_account, tmp_path / "run")
        where = (count(dovecot, imap_account, "INBOX"), count(dovecot, imap_account, "processed"))
    finally:
        _discard(dovecot, imap_account)
    assert status == 0
    print(f"\npeak RSS, 41 messages of 9.5 MB: {peak / 1024:.1f} MB")
    assert where == (0, 41)
    assert peak < PEAK_LIMIT_KB, f"{peak / 1024:.0f} MB"


@pytest.mark.live
@pytest.mark.slow
def test_a_process_capped_at_300_mb_drains_instead_of_failing_again_and_again(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """Under a 300 MB data limit, one FETCH for the whole batch (what a budget of 2 GiB
    still does) fails on every run and nothing moves: the crash loop.  With the default
    budget one run drains the mailbox."""
    limit = 300 * 2**20
    for budget, runs in ((2**31, 2), (None, 1)):
        account = dovecot.add_user()
        seed(dovecot, account, 41, int(9.5 * MB))
        work = tmp_path / f"budget-{budget}"
        extra = f"fetch_bytes = {budget}" if budget else ""
        try:
            for _ in range(runs):
                _, status, output = _drain(dovecot, account, work, limit, extra)
                assert (status == 0) is (budget is None), output[-2000:]
                assert ("MemoryError" in output) is (budget is not None), output[-2000:]
            left = count(dovecot, account, "INBOX")
        finally:
            _discard(dovecot, account)
        assert left == (41 if budget else 0), (budget, left)

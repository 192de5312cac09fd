"""Mail sources: where raw messages come from and where they are moved afterwards.

`MailSource` is the protocol the cycle uses; `imap.ImapSource` (imapclient, UID mode only,
never touching \\Seen) and `folder.DirSource` (a folder of .eml files) implement it, and
`backoff` reconnects with growing pauses; `files` reads messages from local files for
`classify` and `explain`.  imapclient is imported by `source.imap` only (STYLE 1), and this
module imports none of them: reading local files never loads the IMAP client.

Typical use in a cycle::

    with connect_with_retry(lambda: ImapSource(settings, read_only=dry_run), Backoff()) as src:
        uids = src.uids_after(checkpoint.last_uid if same_uidvalidity else 0)
        for batch in fetch_batches(src, uids, settings.batch_size, settings.fetch_bytes):
            ...  # list[RawMessage], in UID order
        src.move(uid_set, settings.processed_folder)   # batched UID MOVE; returns 0

Every failure raises `SourceError` naming host, mailbox and operation; `SourceUnavailable`
(a subclass) marks the ones worth a reconnect: refused, reset, timed out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Protocol

from reconciler.records import RawMessage

__all__ = ["MailSource", "fetch_batches"]


class MailSource(Protocol):
    """An opened mailbox.  UIDs are stable within one `uidvalidity`."""

    @property
    def mailbox(self) -> str:
        """A label for the mailbox, used in records and the store (e.g. "user@host/INBOX")."""
        ...

    @property
    def uidvalidity(self) -> int: ...

    @property
    def read_only(self) -> bool: ...

    def uids_after(self, last_uid: int) -> Sequence[int]:
        """UIDs greater than `last_uid`, ascending."""
        ...

    def sizes(self, uids: Sequence[int], small: int = 0) -> dict[int, int]:
        """The bytes `fetch` would bring of each of these UIDs (vanished ones left out).

        With `small` > 0, a message of at most `small` bytes may be given as `small`, a
        bound instead of its size (and one that vanished as well): what the caller needs
        to keep within a budget, which lets a source find the few larger ones at once
        instead of asking each message's size.
        """
        ...

    def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        """The messages with these UIDs, ascending; UIDs that vanished are left out."""
        ...

    def move(self, uids: Sequence[int], destination: str) -> int:
        """Move messages to `destination` (created when missing) in batches; returns how many
        were only copied, and left in place flagged \\Deleted (IMAP without UIDPLUS)."""
        ...

    def close(self) -> None: ...


def fetch_batches(
    source: MailSource, uids: Sequence[int], batch_size: int, max_bytes: int | None = None
) -> Iterator[list[RawMessage]]:
    """Fetch `uids` in ascending batches of at most `batch_size` messages and, when
    `max_bytes` is given, at most `max_bytes` of message data (by the sizes the server
    reports; a larger message comes alone): one round trip per batch, plus one per
    `batch_size` UIDs to ask their sizes.  A batch is what the cycle holds in memory.

    Sizes are asked with `small` = `max_bytes` / the UIDs asked: a message that small is
    counted as that many bytes (so a chunk of them alone fits the budget, and the source
    need not say each one's size), a larger one by its size.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    ascending = all(a < b for a, b in itertools.pairwise(uids))  # as uids_after gives them
    ordered = uids if ascending else sorted(uids)
    for start in range(0, len(ordered), batch_size):
        chunk = list(ordered[start : start + batch_size])
        if max_bytes is None:
            yield source.fetch(chunk)
            continue
        small = max_bytes // len(chunk)
        for part in _within(chunk, source.sizes(chunk, small), max_bytes):
            yield source.fetch(part)


def _within(uids: list[int], sizes: dict[int, int], budget: int) -> Iterator[list[int]]:
    """`uids` in runs whose sizes add up to at most `budget` (a larger one alone)."""
    run: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid)
        if size is None:
            continue  # vanished since the search: nothing to fetch
        if run and total + size > budget:
            yield run
            run, total = [], 0
        run.append(uid)
        total += size
    if run:
        yield run

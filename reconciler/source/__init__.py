"""Mail sources: where raw messages come from and where they are moved afterwards.

`MailSource` is the protocol the cycle uses; `ImapSource` (imapclient, UID mode only, never
touching \\Seen) and `DirSource` (a folder of .eml files) implement it.  imapclient is imported
inside this package only (STYLE 1).

Typical use in a cycle::

    with connect_with_retry(lambda: ImapSource(settings, read_only=dry_run), Backoff()) as src:
        uids = src.uids_after(checkpoint.last_uid if same_uidvalidity else 0)
        for batch in fetch_batches(src, uids, settings.batch_size):
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
from reconciler.source.backoff import Backoff, backoff_delays, connect_with_retry
from reconciler.source.folder import DirSource
from reconciler.source.imap import ImapSource, SourceUnavailable, check_security

__all__ = [
    "Backoff",
    "DirSource",
    "ImapSource",
    "MailSource",
    "SourceUnavailable",
    "backoff_delays",
    "check_security",
    "connect_with_retry",
    "fetch_batches",
]


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

    def fetch(self, uids: Sequence[int]) -> list[RawMessage]:
        """The messages with these UIDs, ascending; UIDs that vanished are left out."""
        ...

    def move(self, uids: Sequence[int], destination: str) -> int:
        """Move messages to `destination` (created when missing) in batches; returns how many
        were only copied, and left in place flagged \\Deleted (IMAP without UIDPLUS)."""
        ...

    def close(self) -> None: ...


def fetch_batches(
    source: MailSource, uids: Sequence[int], batch_size: int
) -> Iterator[list[RawMessage]]:
    """Fetch `uids` in ascending chunks of `batch_size`; one round trip per chunk."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    ascending = all(a < b for a, b in itertools.pairwise(uids))  # as uids_after gives them
    ordered = uids if ascending else sorted(uids)
    for start in range(0, len(ordered), batch_size):
        yield source.fetch(list(ordered[start : start + batch_size]))

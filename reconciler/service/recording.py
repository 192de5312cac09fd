"""Recording a batch so that one message can never stop a mailbox (issue 12, item 2).

The batch is recorded in one transaction, as always.  When the store refuses it, the entries
are recorded one at a time (recording is idempotent, so those of the batch that did go in are
recognised), and an entry the store still refuses is recorded as *quarantined*: without its
events and its Message-ID, the only values a bounce's author wrote, and with the quarantine
folder as its destination.  The rest of the batch is recorded and moved; the refused message
is moved aside with its reason in the log and in the cycle report.

When even that quarantine entry is refused, the message is not what the database objects to
(a lost connection, a full disk, a missing table): the error goes up, the cycle fails and the
batch is read again next time, with nothing quarantined.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from reconciler.errors import StoreError
from reconciler.records import BatchResult, Checkpoint, LedgerEntry, MessageOutcome, Unprocessed
from reconciler.store import Store

__all__ = ["Recorded", "record_entries"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording one batch did."""

    result: BatchResult
    entries: tuple[LedgerEntry, ...]  # as recorded: a refused entry replaced by its quarantine
    refused: tuple[Unprocessed, ...] = ()  # the entries the store refused (stage "store")


def record_entries(
    store: Store,
    entries: Sequence[LedgerEntry],
    now: datetime,
    checkpoint: Checkpoint | None,
    quarantine_folder: str,
) -> Recorded:
    """Record `entries` and the checkpoint: in one transaction, else one entry at a time."""
    try:
        return Recorded(store.record_batch(entries, now, checkpoint), tuple(entries))
    except StoreError as err:
        if not entries:
            raise
        log.warning("%d messages: %s; recording them one by one", len(entries), err)
    results: list[BatchResult] = []
    kept: list[LedgerEntry] = []
    refused: list[Unprocessed] = []
    for entry in entries:
        try:
            results.append(store.record_batch([entry], now))
            kept.append(entry)
            continue
        except StoreError as err:
            why = Unprocessed(entry.mailbox, entry.uidvalidity, entry.uid, "store", str(err))
        held = _quarantined(entry, quarantine_folder, why.error)
        results.append(store.record_batch([held], now))  # refused too: the database's fault
        log.error(
            "mailbox=%s uid=%s quarantined: the database refused it: %s",
            entry.mailbox,
            entry.uid,
            why.error,
        )
        kept.append(held)
        refused.append(why)
    if checkpoint is not None:
        store.set_checkpoint(checkpoint, now)
    return Recorded(_merged(results), tuple(kept), tuple(refused))


def _quarantined(entry: LedgerEntry, folder: str, error: str) -> LedgerEntry:
    """The entry without what the message's author wrote, bound for the quarantine folder,
    with the database's refusal as its error."""
    return replace(
        entry,
        outcome=MessageOutcome.QUARANTINED,
        destination=folder,
        message_id=None,
        events=(),
        error=f"store: {error}",
    )


def _merged(results: Sequence[BatchResult]) -> BatchResult:
    return BatchResult(
        recorded=tuple(uid for r in results for uid in r.recorded),
        duplicates=tuple(uid for r in results for uid in r.duplicates),
        already=tuple(uid for r in results for uid in r.already),
        requeued=tuple(uid for r in results for uid in r.requeued),
    )

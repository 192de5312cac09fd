"""Requeued messages: what the ledger knows of messages found in a quarantine or unmatched
folder, and the grants that let their bytes through the ledger once more (`requeue`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from reconciler.records import HeldMessage, MessageOutcome
from reconciler.store.connection import from_db, to_db
from reconciler.store.models import Message, RequeueRow, database

__all__ = ["grant_requeue", "ledger_verdicts", "open_grants"]

_CHUNK = 400


def ledger_verdicts(digests: Iterable[str]) -> dict[str, tuple[MessageOutcome, datetime]]:
    """sha256 → (outcome, processed at) of the latest ledger row of those bytes that is not a
    duplicate (what became of the message the last time it was analysed)."""
    wanted = sorted(set(digests))
    found: dict[str, tuple[MessageOutcome, datetime]] = {}
    for start in range(0, len(wanted), _CHUNK):
        query: Any = (
            Message.select(Message.sha256, Message.outcome, Message.processed_at)
            .where(
                Message.sha256.in_(wanted[start : start + _CHUNK])
                & (Message.outcome != MessageOutcome.DUPLICATE.value)
            )
            .order_by(Message.id)
            .tuples()
        )
        for sha256, outcome, processed_at in query:
            found[str(sha256)] = (MessageOutcome(outcome), from_db(processed_at))
    return found


def grant_requeue(messages: Sequence[HeldMessage], actor: str, now: datetime) -> int:
    """Let each message's bytes through the ledger once more; returns the grants written.

    One row per content: a content requeued again gets its grant back (even one used)."""
    by_digest = {m.sha256: m for m in messages}
    digests = sorted(by_digest)
    with database.atomic():
        existing: set[str] = set()
        for start in range(0, len(digests), _CHUNK):
            part = digests[start : start + _CHUNK]
            query = RequeueRow.select(RequeueRow.sha256).where(RequeueRow.sha256.in_(part))
            existing.update(row.sha256 for row in query)
        for digest in digests:
            held = by_digest[digest]
            values = {"mailbox": held.mailbox, "folder": held.folder, "granted_at": to_db(now),
                      "granted_by": actor[:128], "used_at": None}  # fmt: skip
            if digest in existing:
                RequeueRow.update(**values).where(RequeueRow.sha256 == digest).execute()
            else:
                RequeueRow.insert(sha256=digest, **values).execute()
    return len(digests)


def open_grants() -> int:
    """Requeued contents not recorded again yet (they wait for the next cycle)."""
    return int(RequeueRow.select().where(RequeueRow.used_at.is_null()).count())

"""How far things have been read: mailbox checkpoints, failed attempts on a message, and the
watermarks of the stages that read the events (the decide stage, the digest)."""

from __future__ import annotations

from datetime import datetime

from reconciler.records import (
    Checkpoint,
    Unprocessed,
)
from reconciler.store.connection import from_db, to_db
from reconciler.store.models import Attempt, CheckpointRow, Watermark, database

__all__ = [
    "read_checkpoint",
    "read_watermark",
    "record_failure",
    "write_checkpoint",
    "write_watermark",
]


def read_checkpoint(mailbox: str) -> Checkpoint | None:
    row = CheckpointRow.get_or_none(CheckpointRow.mailbox == mailbox)
    if row is None:
        return None
    success = from_db(row.last_success) if row.last_success is not None else None
    return Checkpoint(row.mailbox, row.uidvalidity, row.last_uid, success)


def write_checkpoint(checkpoint: Checkpoint, now: datetime) -> None:
    """Insert or replace the mailbox's checkpoint (one row per mailbox)."""
    values = {
        "uidvalidity": checkpoint.uidvalidity,
        "last_uid": checkpoint.last_uid,
        "last_success": to_db(checkpoint.last_success) if checkpoint.last_success else None,
        "updated_at": to_db(now),
    }
    # Select, then update or insert: MySQL reports 0 rows for an UPDATE that changes nothing.
    where = CheckpointRow.mailbox == checkpoint.mailbox
    with database.atomic():
        if CheckpointRow.get_or_none(where) is None:
            CheckpointRow.insert(mailbox=checkpoint.mailbox, **values).execute()
        else:
            CheckpointRow.update(**values).where(where).execute()


def record_failure(item: Unprocessed, now: datetime) -> int:
    """Count one more failed attempt on a message; returns the attempts so far."""
    key = (
        (Attempt.mailbox == item.mailbox)
        & (Attempt.uidvalidity == item.uidvalidity)
        & (Attempt.uid == item.uid)
    )
    moment = to_db(now)
    with database.atomic():
        row = Attempt.get_or_none(key)
        if row is None:
            Attempt.insert(
                mailbox=item.mailbox, uidvalidity=item.uidvalidity, uid=item.uid, attempts=1,
                stage=item.stage, error=item.error, first_at=moment, last_at=moment,
            ).execute()  # fmt: skip
            return 1
        Attempt.update(
            attempts=Attempt.attempts + 1, stage=item.stage, error=item.error, last_at=moment
        ).where(key).execute()
        return int(row.attempts) + 1


def read_watermark(name: str) -> int:
    row = Watermark.get_or_none(Watermark.name == name)
    return int(row.value) if row is not None else 0


def write_watermark(name: str, value: int, now: datetime) -> None:
    """Insert or update, safe when two workers write the same watermark at once.

    Update first (the usual case: one row lock, so two writers queue); only when no row is
    there, insert skipping a row another writer inserted meanwhile (portable, unlike an ON
    CONFLICT target: MySQL has none), and update if it did.  A check-then-insert raced on
    PostgreSQL (duplicate key)."""
    moment = to_db(now)
    with database.atomic():
        row = Watermark.update(value=value, updated_at=moment).where(Watermark.name == name)
        if row.execute():
            return
        new = Watermark.insert(name=name, value=value, updated_at=moment).on_conflict_ignore()
        if not new.as_rowcount().execute():
            row.execute()

"""Migration 12: requeued messages and probes (issue 17).

`requeue` lets the ledger record a message moved back to be analysed again once more (its
events replaced, not added); `probe` keeps the probe mails sent before a decision acts.
"""

from __future__ import annotations

import peewee as pw

from reconciler.store.migrations.v1 import V1Base
from reconciler.store.models import ADDRESS_LENGTH

__all__ = ["apply"]


class _V12Decision(V1Base):
    """The `decision` table as migration 12 refers to it (never created here)."""

    id = pw.AutoField()

    class Meta:
        table_name = "decision"


class _V12Requeue(V1Base):
    """Frozen copy of `models.RequeueRow` at version 12."""

    id = pw.AutoField()
    sha256 = pw.CharField(max_length=64, unique=True)
    mailbox = pw.CharField(max_length=255)
    folder = pw.CharField(max_length=255)
    granted_at = pw.DateTimeField()
    granted_by = pw.CharField(max_length=128)
    used_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "requeue"


class _V12Probe(V1Base):
    """Frozen copy of `models.ProbeRow` at version 12."""

    id = pw.AutoField()
    decision = pw.ForeignKeyField(_V12Decision, null=True, on_delete="SET NULL")
    realm = pw.CharField(max_length=64)
    user_id = pw.BigIntegerField()
    address = pw.CharField(max_length=ADDRESS_LENGTH)
    trigger = pw.CharField(max_length=16)
    state = pw.CharField(max_length=16)
    open_key = pw.CharField(max_length=64, null=True, unique=True)
    message_id = pw.CharField(max_length=255)
    send_ref = pw.CharField(max_length=16)
    return_path = pw.CharField(max_length=ADDRESS_LENGTH)
    created_at = pw.DateTimeField()
    due_at = pw.DateTimeField(index=True)
    attempted_at = pw.DateTimeField(null=True)
    sent_at = pw.DateTimeField(null=True)
    resolved_at = pw.DateTimeField(null=True)
    event_id = pw.BigIntegerField(null=True)
    detail = pw.TextField()
    attempts = pw.IntegerField()

    class Meta:
        indexes = ((("realm", "user_id"), False), (("state", "due_at"), False))
        table_name = "probe"


def apply(db: pw.Database) -> None:
    """Two new tables; nothing else changes (re-runnable: `IF NOT EXISTS`)."""
    with db.bind_ctx((_V12Decision, _V12Requeue, _V12Probe)):
        db.create_tables((_V12Requeue, _V12Probe), safe=True)

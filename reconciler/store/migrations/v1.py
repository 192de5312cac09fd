"""Migration 1, frozen: the message ledger, bounce events, checkpoints and attempts.

The tables are created from a *frozen copy* of the models as they were at version 1, never from
the live models: when a later migration adds a column to a live model, a fresh database still
goes 1 → 2 → … and ends with the same schema as an upgraded one.  `V1Base` is the base of the
later frozen copies too.
"""

from __future__ import annotations

import peewee as pw

from reconciler.store.models import ADDRESS_LENGTH

__all__ = ["V1Base", "apply"]


class V1Base(pw.Model):
    class Meta:
        legacy_table_names = False


class _V1Message(V1Base):
    mailbox = pw.CharField(max_length=255)
    uidvalidity = pw.BigIntegerField()
    uid = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64, index=True)
    message_id = pw.TextField(null=True)
    size = pw.BigIntegerField()
    received_at = pw.DateTimeField()
    processed_at = pw.DateTimeField(index=True)
    outcome = pw.CharField(max_length=32)
    destination = pw.CharField(max_length=255, null=True)
    moved = pw.BooleanField(default=False)
    moved_at = pw.DateTimeField(null=True)
    duplicate_of = pw.ForeignKeyField("self", null=True, on_delete="SET NULL")

    class Meta:
        indexes = (
            (("mailbox", "uidvalidity", "uid"), True),
            (("mailbox", "uidvalidity", "moved"), False),
        )
        table_name = "message_ledger"


class _V1Event(V1Base):
    message = pw.ForeignKeyField(_V1Message, on_delete="CASCADE")
    recipient = pw.CharField(max_length=ADDRESS_LENGTH)
    kind = pw.CharField(max_length=32)
    status = pw.CharField(max_length=32, null=True)
    reply_code = pw.CharField(max_length=16, null=True)
    reason = pw.CharField(max_length=32)
    severity = pw.CharField(max_length=16)
    fault = pw.CharField(max_length=16)
    rule_id = pw.CharField(max_length=128)
    diagnostic = pw.TextField()
    remote_mta = pw.TextField(null=True)
    original_message_id = pw.TextField(null=True)
    realm = pw.CharField(max_length=64, null=True)
    user_id = pw.BigIntegerField(null=True)
    verp_valid = pw.BooleanField()
    verp_failure = pw.CharField(max_length=32, null=True)
    send_ref = pw.CharField(max_length=128, null=True)
    event_time = pw.DateTimeField()
    created_at = pw.DateTimeField(index=True)

    class Meta:
        indexes = (
            (("message", "recipient"), True),
            (("realm", "user_id", "event_time"), False),
        )
        table_name = "bounce_event"


class _V1Checkpoint(V1Base):
    mailbox = pw.CharField(max_length=255, primary_key=True)
    uidvalidity = pw.BigIntegerField()
    last_uid = pw.BigIntegerField()
    last_success = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "checkpoint"


class _V1Attempt(V1Base):
    mailbox = pw.CharField(max_length=255)
    uidvalidity = pw.BigIntegerField()
    uid = pw.BigIntegerField()
    attempts = pw.IntegerField()
    stage = pw.CharField(max_length=32)
    error = pw.TextField()
    first_at = pw.DateTimeField()
    last_at = pw.DateTimeField(index=True)

    class Meta:
        indexes = ((("mailbox", "uidvalidity", "uid"), True),)
        table_name = "attempt"


_V1_MODELS: tuple[type[pw.Model], ...] = (_V1Message, _V1Event, _V1Checkpoint, _V1Attempt)


def apply(db: pw.Database) -> None:
    with db.bind_ctx(_V1_MODELS):
        db.create_tables(_V1_MODELS, safe=True)

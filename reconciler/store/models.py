"""The live peewee models, bound to one module-level `DatabaseProxy` (STYLE 2.14).

These describe the schema as the latest migration leaves it.  They are private to the store
package: query functions turn rows into records from `reconciler.records`.  Changing a model
means adding a migration (see `migrations.py`); `test_store` checks that a freshly migrated
database has exactly the columns declared here.

All times are stored as naive UTC (`DATETIME` / `TIMESTAMP` without zone).
"""

from __future__ import annotations

from typing import Any

import peewee as pw

__all__ = ["MODELS", "Attempt", "CheckpointRow", "Event", "Message", "SchemaVersion", "database"]

database = pw.DatabaseProxy()

ADDRESS_LENGTH = 320  # RFC 3696 erratum: 64 + 1 + 255


class _Base(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(_Base):
    """One row per applied migration."""

    version = pw.IntegerField(primary_key=True)
    description = pw.CharField(max_length=200)
    applied_at = pw.DateTimeField()


class Message(_Base):
    """The message ledger: one row per (mailbox, uidvalidity, uid) ever handled."""

    id = pw.AutoField()

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
    duplicate_of = pw.ForeignKeyField("self", null=True, backref="replays", on_delete="SET NULL")

    class Meta:
        indexes = (
            (("mailbox", "uidvalidity", "uid"), True),
            (("mailbox", "uidvalidity", "moved"), False),
        )
        table_name = "message_ledger"


class Event(_Base):
    """Bounce events: one recipient result of one ledger message."""

    id = pw.AutoField()

    message = pw.ForeignKeyField(Message, backref="events", on_delete="CASCADE")
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


class CheckpointRow(_Base):
    """Per-mailbox read position."""

    mailbox = pw.CharField(max_length=255, primary_key=True)
    uidvalidity = pw.BigIntegerField()
    last_uid = pw.BigIntegerField()
    last_success = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "checkpoint"


class Attempt(_Base):
    """Failed attempts on a message still in its mailbox (for quarantine after N)."""

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


MODELS: tuple[type[Any], ...] = (SchemaVersion, Message, Event, CheckpointRow, Attempt)

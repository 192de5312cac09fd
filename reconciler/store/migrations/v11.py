"""Migration 11: everything the rules read stored with each event, the error of a quarantined
message, and the audit of reclassified events (issue 17)."""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migration

from reconciler.store.migrations.v1 import V1Base

__all__ = ["apply"]


class _V11Event(V1Base):
    """The `bounce_event` table as migration 11 refers to it (never created here)."""

    id = pw.AutoField()

    class Meta:
        table_name = "bounce_event"


class _V11Reclassified(V1Base):
    """Frozen copy of `models.ReclassifiedRow` at version 11."""

    id = pw.AutoField()
    event = pw.ForeignKeyField(_V11Event, on_delete="CASCADE")
    audit_id = pw.BigIntegerField(index=True)
    at = pw.DateTimeField()
    old_rule = pw.CharField(max_length=128)
    new_rule = pw.CharField(max_length=128)
    old_reason = pw.CharField(max_length=32)
    new_reason = pw.CharField(max_length=32)
    old_severity = pw.CharField(max_length=16)
    new_severity = pw.CharField(max_length=16)
    old_fault = pw.CharField(max_length=16)
    new_fault = pw.CharField(max_length=16)

    class Meta:
        table_name = "reclassification"


_EVENT_COLUMNS: tuple[tuple[str, pw.Field], ...] = (
    ("action", pw.CharField(max_length=32, null=True)),
    ("diagnostic_type", pw.CharField(max_length=64, null=True)),
    ("reporting_mta", pw.TextField(null=True)),
    ("sender_domain", pw.CharField(max_length=255, null=True)),
    ("final_domain", pw.CharField(max_length=255, null=True)),
    ("detector", pw.CharField(max_length=32, null=True)),
)


def apply(db: pw.Database) -> None:
    """The rest of what the rules read, with each event (NULL on the events recorded before:
    replayed from the fields they have); why a message was quarantined (NULL before); the
    `reclassification` table."""
    migrator = SchemaMigrator.from_database(db)
    columns = {column.name for column in db.get_columns("bounce_event")}
    for name, field in _EVENT_COLUMNS:
        if name not in columns:
            run_migration(migrator.add_column("bounce_event", name, field))
    if "error" not in {column.name for column in db.get_columns("message_ledger")}:
        run_migration(migrator.add_column("message_ledger", "error", pw.TextField(null=True)))
    with db.bind_ctx((_V11Event, _V11Reclassified)):
        db.create_tables((_V11Reclassified,), safe=True)

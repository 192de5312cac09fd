"""Migration 9: the original recipient and the SMTP stage of each event (issue 13)."""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migration

from reconciler.store.models import ADDRESS_LENGTH

__all__ = ["apply"]


def apply(db: pw.Database) -> None:
    """The original recipient of each event and the SMTP stage of its failure (issue 13).
    Events recorded before stay NULL: read as no original recipient and an unknown stage."""
    migrator = SchemaMigrator.from_database(db)
    columns = {column.name for column in db.get_columns("bounce_event")}
    if "original_recipient" not in columns:
        field = pw.CharField(max_length=ADDRESS_LENGTH, null=True)
        run_migration(migrator.add_column("bounce_event", "original_recipient", field))
    if "stage" not in columns:
        run_migration(migrator.add_column("bounce_event", "stage", pw.CharField(16, null=True)))

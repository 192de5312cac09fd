"""Migration 7: whether the VERP token binds each event's recipient (issue 12)."""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migration

__all__ = ["apply"]


def apply(db: pw.Database) -> None:
    """Whether the VERP token binds an event's recipient (issue 12): NULL for the events
    recorded before, which no token bound."""
    if "address_bound" not in {column.name for column in db.get_columns("bounce_event")}:
        migrator = SchemaMigrator.from_database(db)
        field = pw.BooleanField(null=True)
        run_migration(migrator.add_column("bounce_event", "address_bound", field))

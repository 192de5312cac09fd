"""Migration 10: why a decision is withheld other than by the mode (issue 15)."""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migration

from reconciler.store.models import WITHHELD_LENGTH

__all__ = ["apply"]


def apply(db: pw.Database) -> None:
    """A decision withheld because its realm has no wiki database says so (issue 15).
    Decisions recorded before stay NULL: withheld by the mode only, as they were."""
    migrator = SchemaMigrator.from_database(db)
    if "withheld" not in {column.name for column in db.get_columns("decision")}:
        field = pw.CharField(max_length=WITHHELD_LENGTH, null=True)
        run_migration(migrator.add_column("decision", "withheld", field))

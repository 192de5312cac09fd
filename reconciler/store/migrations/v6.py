"""Migration 6: incidents keyed by the digest of their key (any length), the text beside it."""

from __future__ import annotations

from typing import Any

import peewee as pw
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migration

from reconciler.store.incidents import key_digest
from reconciler.store.migrations.v1 import V1Base

__all__ = ["apply"]


class _V6Incident(V1Base):
    """The columns of `incident` that migration 6 reads and writes."""

    id = pw.AutoField()
    incident_key = pw.CharField(max_length=255)
    key_text = pw.TextField(null=True)

    class Meta:
        table_name = "incident"


def apply(db: pw.Database) -> None:
    """Incidents keyed by the digest of their key, the key itself beside it: a remote MTA's
    name may be longer than the 255 characters of the indexed column."""
    if "key_text" not in {column.name for column in db.get_columns("incident")}:
        migrator = SchemaMigrator.from_database(db)
        run_migration(migrator.add_column("incident", "key_text", pw.TextField(null=True)))
    with db.bind_ctx((_V6Incident,)):
        query: Any = (
            _V6Incident.select(_V6Incident.id, _V6Incident.incident_key)
            .where(_V6Incident.key_text.is_null())
            .tuples()
        )
        for row_id, key in list(query):  # incidents are few: one UPDATE each
            _V6Incident.update(key_text=key, incident_key=key_digest(key)).where(
                _V6Incident.id == row_id
            ).execute()

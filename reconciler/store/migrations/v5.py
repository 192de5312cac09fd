"""Migration 5: the recipient domain of each event as a column, and an index on the event
time (incidents are read group by group, in order).
"""

from __future__ import annotations

from typing import Any

import peewee as pw
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migration

from reconciler.store.migrations.v1 import V1Base
from reconciler.store.models import ADDRESS_LENGTH
from reconciler.store.rows import domain_of

__all__ = ["apply"]


class _V5Event(V1Base):
    """The columns of `bounce_event` that migration 5 reads and writes."""

    id = pw.AutoField()
    recipient = pw.CharField(max_length=ADDRESS_LENGTH)
    domain = pw.CharField(max_length=255, null=True)

    class Meta:
        table_name = "bounce_event"


_BACKFILL_CHUNK = 2000


def apply(db: pw.Database) -> None:
    """The recipient domain as a column (incidents are read group by group, in order), and
    an index on the event time (the windows the decide stage reads)."""
    migrator = SchemaMigrator.from_database(db)
    if "domain" not in {column.name for column in db.get_columns("bounce_event")}:
        field = pw.CharField(max_length=255, null=True)
        run_migration(migrator.add_column("bounce_event", "domain", field))
    if not any(index.columns == ["event_time"] for index in db.get_indexes("bounce_event")):
        run_migration(migrator.add_index("bounce_event", ("event_time",), False))
    with db.bind_ctx((_V5Event,)):
        while True:  # existing events: in chunks, the same value new events get
            query: Any = (
                _V5Event.select(_V5Event.id, _V5Event.recipient)
                .where(_V5Event.domain.is_null())
                .order_by(_V5Event.id)
                .limit(_BACKFILL_CHUNK)
                .tuples()
            )
            rows: list[tuple[int, str]] = list(query)
            if not rows:
                break
            by_domain: dict[str, list[int]] = {}
            for event_id, recipient in rows:
                by_domain.setdefault(domain_of(recipient)[:255], []).append(event_id)
            for domain, ids in by_domain.items():
                _V5Event.update(domain=domain).where(_V5Event.id.in_(ids)).execute()

"""Migration 3: watermarks (how far the decide stage has read the events)."""

from __future__ import annotations

import peewee as pw

from reconciler.store.migrations.v1 import V1Base

__all__ = ["apply"]


class _V3Watermark(V1Base):
    """Frozen copy of `models.Watermark` at version 3."""

    name = pw.CharField(max_length=64, primary_key=True)
    value = pw.BigIntegerField()
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "watermark"


def apply(db: pw.Database) -> None:
    with db.bind_ctx((_V3Watermark,)):
        db.create_tables((_V3Watermark,), safe=True)

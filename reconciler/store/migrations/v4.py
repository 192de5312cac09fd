"""Migration 4: leases, one worker drains a mailbox at a time (scale-out)."""

from __future__ import annotations

import peewee as pw

from reconciler.store.migrations.v1 import V1Base

__all__ = ["apply"]


class _V4Lease(V1Base):
    """Frozen copy of `models.LeaseRow` at version 4."""

    id = pw.AutoField()
    scope = pw.CharField(max_length=16)
    name = pw.CharField(max_length=255)
    holder = pw.CharField(max_length=255)
    acquired_at = pw.DateTimeField()
    renewed_at = pw.DateTimeField()
    expires_at = pw.DateTimeField()

    class Meta:
        indexes = ((("scope", "name"), True),)
        table_name = "lease"


def apply(db: pw.Database) -> None:
    with db.bind_ctx((_V4Lease,)):
        db.create_tables((_V4Lease,), safe=True)

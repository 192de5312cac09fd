"""Migration 8: acting, one acting decision per user and address at a time (issue 12)."""

from __future__ import annotations

import peewee as pw

from reconciler.store.migrations.v1 import V1Base

__all__ = ["apply"]


class _V8Decision(V1Base):
    """The `decision` table as migration 8 refers to it (never created here)."""

    id = pw.AutoField()

    class Meta:
        table_name = "decision"


class _V8Acting(V1Base):
    """Frozen copy of `models.ActingRow` at version 8."""

    id = pw.AutoField()
    acting_key = pw.CharField(max_length=64, unique=True)
    decision = pw.ForeignKeyField(_V8Decision, null=True, on_delete="CASCADE")
    since = pw.DateTimeField()

    class Meta:
        table_name = "acting"


def apply(db: pw.Database) -> None:
    """One acting decision per (realm, user, address) at a time (issue 12).  Decisions
    applied before have no row; the decide stage still finds them (`acted_on`)."""
    with db.bind_ctx((_V8Decision, _V8Acting)):
        db.create_tables((_V8Acting,), safe=True)

"""Numbered, forward-only schema migrations and the `schema_version` table.

Each migration is a function of the (bound) database, applied once, in order, each in its own
transaction where the backend allows DDL in transactions (MySQL commits DDL implicitly, which
is why every step is written to be re-runnable: `IF NOT EXISTS` tables, `safe=True` indexes).

One module per migration, `v1` … `v12`, each with its `apply(db)`.  Migration 1 creates the
schema from a *frozen copy* of the models as they were at version 1 (`v1`), never from the
live models: when a later migration adds a column to a live model, a fresh database still goes
1 → 2 → … and ends with the same schema as an upgraded one; later migrations that create tables
do so from their own frozen copies.  To add migration 10: change the live model in
`models.py`, write `v10.py` with `apply(db)` using
`playhouse.migrate.SchemaMigrator.from_database(db)` (add_column, add_index, …), and append
`Migration(10, "…", _in_module(10))` to `MIGRATIONS`.

A migration's module is imported only when it is applied: a store opened on an up-to-date
schema (every command after the first) never loads the frozen models or playhouse.migrate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

import peewee as pw

from reconciler.store.models import SchemaVersion, database

__all__ = ["MIGRATIONS", "Migration", "applied_versions", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    description: str
    apply: Callable[[pw.Database], None]


def _in_module(number: int) -> Callable[[pw.Database], None]:
    """The `apply(db)` of module `v<number>`, imported when it runs."""

    def apply(db: pw.Database) -> None:
        import_module(f"{__name__}.v{number}").apply(db)

    return apply


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "message ledger, bounce events, checkpoints, attempts", _in_module(1)),
    Migration(
        2, "mode, audit log, decisions, suppressions, action log, outbox, incidents", _in_module(2)
    ),
    Migration(3, "watermarks (how far the decide stage has read the events)", _in_module(3)),
    Migration(4, "leases: one worker drains a mailbox at a time (scale-out)", _in_module(4)),
    Migration(5, "recipient domain of each event; index on event time (incidents)", _in_module(5)),
    Migration(
        6, "incidents keyed by the digest of their key (any length), text beside it", _in_module(6)
    ),
    Migration(7, "whether the VERP token binds each event's recipient", _in_module(7)),
    Migration(8, "acting: one acting decision per user and address at a time", _in_module(8)),
    Migration(9, "original recipient and SMTP stage of each event", _in_module(9)),
    Migration(10, "why a decision is withheld other than by the mode", _in_module(10)),
    Migration(
        11,
        "what the rules read with each event; quarantine errors; reclassification",
        _in_module(11),
    ),
    Migration(12, "requeued messages, probes before acting", _in_module(12)),
)


def applied_versions() -> list[int]:
    """Versions recorded in `schema_version`, ascending (creates the table when missing)."""
    SchemaVersion.create_table(safe=True)
    query = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.version)
    return [row.version for row in query]


_MIGRATION_LOCK = 7_242_024  # PostgreSQL advisory lock key: one migrating worker at a time


def migrate(now: datetime) -> list[int]:
    """Apply every migration not yet recorded (`now`: naive UTC); returns the numbers applied.

    On PostgreSQL several workers starting together on an empty database take turns (a
    session advisory lock), so the second finds the work done instead of colliding.
    """
    db = database.obj
    locked = isinstance(db, pw.PostgresqlDatabase)
    if locked:
        db.execute_sql("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        return _migrate(db, now)
    finally:
        if locked:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


def _migrate(db: pw.Database, now: datetime) -> list[int]:
    done = set(applied_versions())
    applied: list[int] = []
    for step in MIGRATIONS:
        if step.number in done:
            continue
        with db.atomic():
            step.apply(db)
            SchemaVersion.create(version=step.number, description=step.description, applied_at=now)
        applied.append(step.number)
    return applied

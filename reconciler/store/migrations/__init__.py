"""Numbered, forward-only schema migrations and the `schema_version` table.

Each migration is a function of the (bound) database, applied once, in order, each in its own
transaction where the backend allows DDL in transactions (MySQL commits DDL implicitly, which
is why every step is written to be re-runnable: `IF NOT EXISTS` tables, `safe=True` indexes).

Migration 1 creates the schema from a *frozen copy* of the models as they were at version 1
(`_V1`), never from the live models: when a later migration adds a column to a live model, a
fresh database still goes 1 → 2 → … and ends with the same schema as an upgraded one.

Migration 2 (`migration2.py`) adds new tables from its own frozen copies.  To add migration 3:
change the live model in `models.py`, write `_m3(db)` using
`playhouse.migrate.SchemaMigrator.from_database(db)` (add_column, add_index, …), and append
`Migration(3, "…", _m3)` to `MIGRATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee as pw
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migration

from reconciler.store.incidents import key_digest
from reconciler.store.migrations.v2 import apply_v2
from reconciler.store.models import ADDRESS_LENGTH, SchemaVersion, database
from reconciler.store.rows import domain_of

__all__ = ["MIGRATIONS", "Migration", "applied_versions", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    description: str
    apply: Callable[[pw.Database], None]


# -- version 1, frozen: do not edit these classes; add a migration instead -------------------


class _V1Base(pw.Model):
    class Meta:
        legacy_table_names = False


class _V1Message(_V1Base):
    mailbox = pw.CharField(max_length=255)
    uidvalidity = pw.BigIntegerField()
    uid = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64, index=True)
    message_id = pw.TextField(null=True)
    size = pw.BigIntegerField()
    received_at = pw.DateTimeField()
    processed_at = pw.DateTimeField(index=True)
    outcome = pw.CharField(max_length=32)
    destination = pw.CharField(max_length=255, null=True)
    moved = pw.BooleanField(default=False)
    moved_at = pw.DateTimeField(null=True)
    duplicate_of = pw.ForeignKeyField("self", null=True, on_delete="SET NULL")

    class Meta:
        indexes = (
            (("mailbox", "uidvalidity", "uid"), True),
            (("mailbox", "uidvalidity", "moved"), False),
        )
        table_name = "message_ledger"


class _V1Event(_V1Base):
    message = pw.ForeignKeyField(_V1Message, on_delete="CASCADE")
    recipient = pw.CharField(max_length=ADDRESS_LENGTH)
    kind = pw.CharField(max_length=32)
    status = pw.CharField(max_length=32, null=True)
    reply_code = pw.CharField(max_length=16, null=True)
    reason = pw.CharField(max_length=32)
    severity = pw.CharField(max_length=16)
    fault = pw.CharField(max_length=16)
    rule_id = pw.CharField(max_length=128)
    diagnostic = pw.TextField()
    remote_mta = pw.TextField(null=True)
    original_message_id = pw.TextField(null=True)
    realm = pw.CharField(max_length=64, null=True)
    user_id = pw.BigIntegerField(null=True)
    verp_valid = pw.BooleanField()
    verp_failure = pw.CharField(max_length=32, null=True)
    send_ref = pw.CharField(max_length=128, null=True)
    event_time = pw.DateTimeField()
    created_at = pw.DateTimeField(index=True)

    class Meta:
        indexes = (
            (("message", "recipient"), True),
            (("realm", "user_id", "event_time"), False),
        )
        table_name = "bounce_event"


class _V1Checkpoint(_V1Base):
    mailbox = pw.CharField(max_length=255, primary_key=True)
    uidvalidity = pw.BigIntegerField()
    last_uid = pw.BigIntegerField()
    last_success = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "checkpoint"


class _V1Attempt(_V1Base):
    mailbox = pw.CharField(max_length=255)
    uidvalidity = pw.BigIntegerField()
    uid = pw.BigIntegerField()
    attempts = pw.IntegerField()
    stage = pw.CharField(max_length=32)
    error = pw.TextField()
    first_at = pw.DateTimeField()
    last_at = pw.DateTimeField(index=True)

    class Meta:
        indexes = ((("mailbox", "uidvalidity", "uid"), True),)
        table_name = "attempt"


_V1_MODELS: tuple[type[pw.Model], ...] = (_V1Message, _V1Event, _V1Checkpoint, _V1Attempt)


def _m1(db: pw.Database) -> None:
    with db.bind_ctx(_V1_MODELS):
        db.create_tables(_V1_MODELS, safe=True)


class _V3Watermark(_V1Base):
    """Frozen copy of `models.Watermark` at version 3."""

    name = pw.CharField(max_length=64, primary_key=True)
    value = pw.BigIntegerField()
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "watermark"


def _m3(db: pw.Database) -> None:
    with db.bind_ctx((_V3Watermark,)):
        db.create_tables((_V3Watermark,), safe=True)


class _V4Lease(_V1Base):
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


def _m4(db: pw.Database) -> None:
    with db.bind_ctx((_V4Lease,)):
        db.create_tables((_V4Lease,), safe=True)


class _V5Event(_V1Base):
    """The columns of `bounce_event` that migration 5 reads and writes."""

    id = pw.AutoField()
    recipient = pw.CharField(max_length=ADDRESS_LENGTH)
    domain = pw.CharField(max_length=255, null=True)

    class Meta:
        table_name = "bounce_event"


_BACKFILL_CHUNK = 2000


def _m5(db: pw.Database) -> None:
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


class _V6Incident(_V1Base):
    """The columns of `incident` that migration 6 reads and writes."""

    id = pw.AutoField()
    incident_key = pw.CharField(max_length=255)
    key_text = pw.TextField(null=True)

    class Meta:
        table_name = "incident"


def _m6(db: pw.Database) -> None:
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


def _m7(db: pw.Database) -> None:
    """Whether the VERP token binds an event's recipient (issue 12): NULL for the events
    recorded before, which no token bound."""
    if "address_bound" not in {column.name for column in db.get_columns("bounce_event")}:
        migrator = SchemaMigrator.from_database(db)
        field = pw.BooleanField(null=True)
        run_migration(migrator.add_column("bounce_event", "address_bound", field))


class _V8Decision(_V1Base):
    """The `decision` table as migration 8 refers to it (never created here)."""

    id = pw.AutoField()

    class Meta:
        table_name = "decision"


class _V8Acting(_V1Base):
    """Frozen copy of `models.ActingRow` at version 8."""

    id = pw.AutoField()
    acting_key = pw.CharField(max_length=64, unique=True)
    decision = pw.ForeignKeyField(_V8Decision, null=True, on_delete="CASCADE")
    since = pw.DateTimeField()

    class Meta:
        table_name = "acting"


def _m8(db: pw.Database) -> None:
    """One acting decision per (realm, user, address) at a time (issue 12).  Decisions
    applied before have no row; the decide stage still finds them (`acted_on`)."""
    with db.bind_ctx((_V8Decision, _V8Acting)):
        db.create_tables((_V8Acting,), safe=True)


def _m9(db: pw.Database) -> None:
    """The original recipient of each event and the SMTP stage of its failure (issue 13).
    Events recorded before stay NULL: read as no original recipient and an unknown stage."""
    migrator = SchemaMigrator.from_database(db)
    columns = {column.name for column in db.get_columns("bounce_event")}
    if "original_recipient" not in columns:
        field = pw.CharField(max_length=ADDRESS_LENGTH, null=True)
        run_migration(migrator.add_column("bounce_event", "original_recipient", field))
    if "stage" not in columns:
        run_migration(migrator.add_column("bounce_event", "stage", pw.CharField(16, null=True)))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "message ledger, bounce events, checkpoints, attempts", _m1),
    Migration(
        2, "mode, audit log, decisions, suppressions, action log, outbox, incidents", apply_v2
    ),
    Migration(3, "watermarks (how far the decide stage has read the events)", _m3),
    Migration(4, "leases: one worker drains a mailbox at a time (scale-out)", _m4),
    Migration(5, "recipient domain of each event; index on event time (incidents)", _m5),
    Migration(6, "incidents keyed by the digest of their key (any length), text beside it", _m6),
    Migration(7, "whether the VERP token binds each event's recipient", _m7),
    Migration(8, "acting: one acting decision per user and address at a time", _m8),
    Migration(9, "original recipient and SMTP stage of each event", _m9),
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

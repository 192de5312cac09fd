"""A new SQLite database is made from the current schema in one step (issue 16): it must be
the database that replaying every migration makes, object for object (tables, columns, indexes,
foreign keys, the text SQLite keeps of each) and with the same migrations recorded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import peewee as pw
import pytest
from support import NOW

from reconciler.store import migrations, open_database
from reconciler.store.migrations import current
from reconciler.store.models import database


def _dump(db: pw.Database) -> dict[str, object]:
    """Everything SQLite says of a database's schema (the root pages aside), and its
    `schema_version` rows."""
    master = db.execute_sql(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
    ).fetchall()
    tables = [name for kind, name, _, _ in master if kind == "table"]
    pragmas = {
        (pragma, table): db.execute_sql(f'PRAGMA {pragma}("{table}")').fetchall()
        for table in tables
        for pragma in ("table_xinfo", "index_list", "foreign_key_list")
    }
    indexes = {
        name: db.execute_sql(f'PRAGMA index_xinfo("{name}")').fetchall()
        for kind, name, _, _ in master
        if kind == "index"
    }
    versions = db.execute_sql("SELECT * FROM schema_version ORDER BY version").fetchall()
    return {"master": master, "pragmas": pragmas, "indexes": indexes, "versions": versions}


def _made(path: Path, *, one_step: bool) -> tuple[list[int], dict[str, object]]:
    with open_database(f"sqlite:///{path}") as store:
        applied = migrations.migrate(NOW.replace(tzinfo=None), one_step=one_step)
        assert store.schema_versions() == applied
        return applied, _dump(database.obj)


def test_a_new_database_is_the_one_every_migration_makes(tmp_path: Path) -> None:
    replayed = _made(tmp_path / "replayed.db", one_step=False)
    made = _made(tmp_path / "made.db", one_step=True)
    assert made == replayed
    assert made[0] == [step.number for step in migrations.MIGRATIONS]
    assert len(made[1]["master"]) > len(migrations.MIGRATIONS)  # (it holds something)


def test_the_snapshot_is_written_from_the_last_migration() -> None:
    """scripts/sqlite_schema.py wrote `current` after the last migration was added."""
    assert migrations.MIGRATIONS[-1].number == current.VERSION
    with open_database("sqlite:///:memory:"):
        migrations.migrate(datetime(2000, 1, 1), one_step=False)
        assert migrations.sqlite_schema() == current.SQLITE


def test_a_database_holding_anything_is_migrated_step_by_step(tmp_path: Path) -> None:
    """Only an empty database is made in one step: one at version 3 gets 4 and later."""
    path = tmp_path / "old.db"
    with open_database(f"sqlite:///{path}"):
        keep = migrations.MIGRATIONS
        try:
            migrations.MIGRATIONS = keep[:3]
            assert migrations.migrate(NOW.replace(tzinfo=None)) == [1, 2, 3]
        finally:
            migrations.MIGRATIONS = keep
        assert migrations.migrate(NOW.replace(tzinfo=None)) == [n.number for n in keep[3:]]
        upgraded = _dump(database.obj)
    assert upgraded == _made(tmp_path / "new.db", one_step=False)[1]


def test_a_snapshot_older_than_the_last_migration_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration added without writing the snapshot again: new databases are replayed."""
    monkeypatch.setattr(current, "VERSION", current.VERSION - 1)
    monkeypatch.setattr(current, "SQLITE", ())
    assert _made(tmp_path / "a.db", one_step=True) == _made(tmp_path / "b.db", one_step=False)

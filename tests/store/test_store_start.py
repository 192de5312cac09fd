"""What opening the store costs every command: a plain sqlite:/// URL is bound without
playhouse's URL module (which imports every database extension playhouse has), to the same
database that module makes of it (any other SQLite URL still goes through playhouse); on an
up-to-date schema, and on a new SQLite database (made in one step), no migration module is
imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import peewee as pw
import pytest
from playhouse import db_url

from reconciler.store.connection import _SQLITE_PRAGMAS, _make_database, bind, unbind
from reconciler.store.models import database


def _shape(db: pw.Database) -> tuple[object, ...]:
    return (type(db), db.database, db._pragmas, db._lock_type, db.connect_params)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///relative/bounces.db",
        "sqlite:////var/lib/reconciler/bounces.db",
        "sqlite:///:memory:",
        "sqlite://",
        "SQLite:///upper.db",
        "sqlite:///with?timeout=7",
        "sqlite:///odd;params.db",
    ],
)
def test_the_same_database_as_playhouse_makes(url: str) -> None:
    expected = db_url.connect(url, pragmas=_SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    assert _shape(_make_database(url, "sqlite")) == _shape(expected)


def _opened_in_a_fresh_interpreter(url: str) -> list[str]:
    """The modules of migrations and of playhouse loaded by opening and migrating `url`."""
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from reconciler.store import open_database\n"
        f"store = open_database({url!r})\n"
        "print(store.migrate(datetime.now(UTC)))\n"
        "store.close()\n"
        "print(*sorted(m for m in sys.modules if '.migrations.' in m or 'playhouse.' in m))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_a_plain_url_binds_without_playhouse_db_url(tmp_path: Path) -> None:
    loaded = _opened_in_a_fresh_interpreter(f"sqlite:///{tmp_path / 'x.db'}")
    assert "playhouse.db_url" not in loaded


def test_an_up_to_date_schema_imports_no_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'up.db'}"
    first = _opened_in_a_fresh_interpreter(url)  # a new database: made in one step
    assert first[0] == "[1," and "reconciler.store.migrations.current" in first
    assert not [m for m in first if ".migrations.v" in m or m == "playhouse.migrate"]
    again = _opened_in_a_fresh_interpreter(url)
    assert again[0] == "[]"
    assert not [m for m in again if ".migrations.v" in m or m == "playhouse.migrate"]


def test_a_bound_plain_url_writes_in_wal_mode(tmp_path: Path) -> None:
    db, backend = bind(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        assert backend == "sqlite" and database.obj is db
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        unbind()

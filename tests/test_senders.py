"""The senders' call (reconciler/senders.py): the store's answer, from one indexed query, on
each backend; the configuration read as the reconciler reads it; and what it imports."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import config, senders
from reconciler.errors import ConfigError, StoreError
from reconciler.records import Suppression
from reconciler.store import open_database
from reconciler.store.models import SuppressionRow
from reconciler.store.rows import normalise
from tests.support import NOW, ROOT


def _seed(url: str, *addresses: str) -> None:
    with open_database(url) as store:
        store.migrate(NOW)
        for n, address in enumerate(addresses):
            item = Suppression(address=address, realm="wiki", user_id=n, reason="hard", since=NOW)
            store.add_suppression(item)


def test_the_answer_is_the_stores_on_each_backend(database_url: str) -> None:
    _seed(database_url, "kim@example.net", "Lee@Example.NET ")
    assert senders.is_suppressed("kim@example.net", database_url)
    assert senders.is_suppressed("  KIM@example.net", database_url)  # as the store normalises
    assert senders.is_suppressed("lee@example.net", database_url)
    assert not senders.is_suppressed("nobody@example.net", database_url)
    asked = ("kim@example.net", "nobody@example.net", " LEE@example.net")
    with open_database(database_url, create=False) as store:  # one store open at a time
        expected = [store.check_suppression(address) is not None for address in asked]
    assert [senders.is_suppressed(address, database_url) for address in asked] == expected


def test_the_sqlite_lookup_is_one_search_of_the_address_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _seed(url, *(f"u{n}@example.net" for n in range(50)))
    db = sqlite3.connect(tmp_path / "store.db")
    plan = db.execute(f"EXPLAIN QUERY PLAN {senders._QUERY}", ("u7@example.net",)).fetchall()
    db.close()
    assert len(plan) == 1
    assert "SEARCH suppression USING COVERING INDEX" in plan[0][-1]
    assert "(address=?)" in plan[0][-1]


def test_it_names_the_stores_table_column_and_normal_form() -> None:
    assert SuppressionRow._meta.table_name == "suppression"  # type: ignore[attr-defined]
    assert SuppressionRow.address.unique
    assert "FROM suppression WHERE address = ?" in senders._QUERY
    for address in (" Kim@Example.NET ", "x@y", "\tA@B\n"):
        assert senders.normalise(address) == normalise(address)


def test_no_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with pytest.raises(StoreError, match="no database at"):
        senders.is_suppressed("kim@example.net", f"sqlite:///{missing}")
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(StoreError, match="cannot read the suppression list"):
        senders.is_suppressed("kim@example.net", f"sqlite:///{empty}")


def test_the_configuration_is_read_as_the_reconciler_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert senders.CONFIG_ENV == config.CONFIG_ENV
    assert senders.DEFAULT_CONFIG_NAME == config.DEFAULT_CONFIG_NAME
    path = tmp_path / "etc" / "reconciler.toml"
    path.parent.mkdir()
    for text in ('[database]\nurl = "sqlite:///state/r.db"\n', "", "[rules]\n"):
        path.write_text(text, "utf-8")
        loaded = config.load_settings(path, {})
        assert senders.database_url(str(path)) == loaded.database.url
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    assert senders.config_path(None) == str(path)
    assert senders.config_path("other.toml") == "other.toml"
    with pytest.raises(ConfigError, match=r"none\.toml: not found \(copy config\.example"):
        senders.database_url(str(tmp_path / "none.toml"))
    path.write_text("[database]\nurl = 3\n", "utf-8")
    with pytest.raises(ConfigError, match=r"\[database\] url"):
        senders.database_url(str(path))


def test_suppressions_check_imports_no_parser_report_or_orm(tmp_path: Path) -> None:
    """What a sending application pays before each mail: the SQLite path imports neither the
    parser, the rules, the report, the records, the full configuration nor peewee."""
    _seed(f"sqlite:///{tmp_path / 'reconciler.db'}", "kim@example.net")
    probe = (
        "import json, sys\nfrom reconciler.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
    )
    (tmp_path / "reconciler.toml").write_text('[database]\nurl = "sqlite:///reconciler.db"\n')
    for address, code in (("Kim@example.net", 0), ("lee@example.net", 1)):
        argv = ["suppressions", "check", address]
        done = subprocess.run(
            [sys.executable, "-c", probe, *argv], check=False, cwd=tmp_path,
            capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        report = json.loads(done.stderr.strip().splitlines()[-1])
        assert report["code"] == code
        assert done.stdout == ("suppressed\n" if code == 0 else "not suppressed\n")
        heavy = ("peewee", "rich", "yaml", "flufl", "reconciler.parse", "reconciler.classify",
                 "reconciler.report", "reconciler.records", "reconciler.config",
                 "reconciler.store", "reconciler.settings", "email")  # fmt: skip
        loaded = [m for m in report["modules"] if m.startswith(heavy)]
        assert loaded == []


def test_check_that_cannot_tell_never_says_not_suppressed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 is "not suppressed" and a sender sends on it: a database that is not there
    (or cannot be read) is exit 2 with one line, like grep's "trouble", never 1."""
    from reconciler.cli import main

    config = tmp_path / "reconciler.toml"
    config.write_text('[database]\nurl = "sqlite:///nosuch.db"\n')
    assert main(["--config", str(config), "suppressions", "check", "kim@example.net"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("reconciler: no database at ")
    assert len(err.strip().splitlines()) == 1

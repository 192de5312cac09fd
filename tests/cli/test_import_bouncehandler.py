"""`reconciler import bouncehandler` (issue 15) as an operator runs it, on the machine's MariaDB:
BounceHandler's real `bounce_records` table in a shared database, two wikis whose `user` tables
tell whose address a row is, and our store on SQLite.  Preview, count, idempotent rerun, and
the threshold windows going on from the imported rows."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, host_port, unavailable

from reconciler.cli import main
from reconciler.config import load_settings
from reconciler.records import DecisionKind, Reason, Severity, Trigger
from reconciler.service.decisions import DecideContext, run_decisions
from reconciler.store import open_database
from tests.mediawiki_schema import insert_user, user_table

pytestmark = pytest.mark.mariadb

# BounceHandler's schema (sql/mysql/tables-generated.sql)
_BOUNCE_RECORDS = (
    "CREATE TABLE bounce_records (br_id INT UNSIGNED AUTO_INCREMENT NOT NULL, "
    "br_user_email VARCHAR(255) NOT NULL, br_timestamp BINARY(14) NOT NULL, "
    "br_reason VARCHAR(255) NOT NULL, INDEX br_mail_timestamp (br_user_email(50), br_timestamp), "
    "INDEX br_timestamp (br_timestamp), PRIMARY KEY(br_id))"
)


_USER = user_table("user")  # MediaWiki's own (tests/mediawiki_schema.py)


@dataclass
class Shared:
    conn: Any
    base: str  # mysql://root@host:port
    shared: str
    one: str
    two: str

    def sql(self, query: str, *args: object) -> None:
        with self.conn.cursor() as cur:
            cur.execute(query, args)


@pytest.fixture
def shared() -> Iterator[Shared]:
    import pymysql

    host, port = host_port("RECONCILER_TEST_MYSQL", "127.0.0.1:3306")
    try:
        conn = pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)
    except pymysql.Error as err:
        unavailable(f"MariaDB at {host}:{port} unavailable: {err}")
    tag = secrets.token_hex(4)
    names = (f"i{tag}_wikishared", f"i{tag}_enwiki", f"i{tag}_dewiki")
    with conn.cursor() as cur:
        for name, table in zip(names, (_BOUNCE_RECORDS, _USER, _USER), strict=True):
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(table.replace("CREATE TABLE ", f"CREATE TABLE `{name}`.", 1))
    yield Shared(conn, f"mysql://root@{host}:{port}", *names)
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def _mw(moment: datetime) -> bytes:
    return moment.strftime("%Y%m%d%H%M%S").encode()


@pytest.fixture
def farm(shared: Shared, tmp_path: Path) -> Path:
    """Ann on dewiki only; Kim's address on both wikis; rows for them, for nobody, and old."""
    for wiki, user_id, name, email in (
        (shared.one, 7, "Kim", "kim@example.org"),
        (shared.one, 8, "Lee", "lee@example.org"),
        (shared.two, 7, "Kim", "kim@example.org"),
        (shared.two, 9, "Ann", "Ann@Example.org"),
    ):
        shared.sql(insert_user(f"`{wiki}`.user"), user_id, name.encode(), email.encode(), None)
    now = datetime.now(UTC)
    rows = [("Ann@Example.org", now - timedelta(days=day, hours=1)) for day in range(10)]
    rows += [("kim@example.org", now - timedelta(days=2)), ("nobody@example.org", now)]
    rows += [("ann@example.org", now - timedelta(days=90))]  # before --since
    for email, at in rows:
        shared.sql(f"INSERT INTO `{shared.shared}`.bounce_records (br_user_email, br_timestamp, "
                   "br_reason) VALUES (%s, %s, %s)",
                   email, _mw(at), "Undelivered Mail Returned to Sender")  # fmt: skip
    config = tmp_path / "reconciler.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "store.db"}"\n'
        f'[actions.mediawiki.wikis]\n{shared.one} = "{shared.base}/{shared.one}"\n'
        f'{shared.two} = "{shared.base}/{shared.two}"\n',
        encoding="utf-8",
    )
    return config


def _import(config: Path, url: str, *more: str) -> list[str]:
    return ["--config", str(config), "import", "bouncehandler", "--url", url, *more]


def test_import_previews_counts_and_adds_nothing_on_rerun(
    farm: Path, shared: Shared, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{shared.base}/{shared.shared}"
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115 - no terminal to ask on
    assert main(_import(farm, url, "--since", "30d")) == 2
    captured = capsys.readouterr()
    assert "rows read                  12" in captured.out  # the preview comes first
    assert captured.err == "reconciler: confirmation needed and no terminal to ask on: add --yes\n"
    assert main(_import(farm, url, "--since", "30d", "--yes", "--json")) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {
        "source": counts["source"], "since": counts["since"], "rows": 12, "already": 0,
        "new": 12, "attributed": 10, "ambiguous": 1, "unknown": 1, "wikis": 2, "imported": 12,
    }  # fmt: skip
    assert counts["source"].endswith(f"/{shared.shared}")
    section = (ROOT / "docs" / "cli.md").read_text().split("## `import bouncehandler`")[1]
    assert set(re.findall(r"^\| `(\w+)` \|", section, re.M)) == set(counts)  # documented keys
    assert main(_import(farm, url, "--since", "30d", "--yes")) == 0  # a rerun adds nothing
    out = capsys.readouterr().out
    assert "imported before            12  left as they are" in out and "imported: 0" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert main(_import(farm, url, "--since", "100d", "--yes", "--json")) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 1  # only the older row is new


def test_imported_rows_are_evidence_and_the_windows_go_on(
    farm: Path, shared: Shared, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{shared.base}/{shared.shared}"
    assert main(_import(farm, url, "--since", "30d", "--yes", "--json")) == 0
    capsys.readouterr()
    settings = load_settings(farm, {})
    store = open_database(settings.database.url)
    try:
        now = datetime.now(UTC)
        events = store.user_events(shared.two, 9, now - timedelta(days=31))
        assert len(events) == 10
        assert {(e.severity, e.reason, e.rule_id, e.verp_valid) for e in events} == {
            (Severity.SOFT, Reason.UNDEFINED, "import-bouncehandler", True)
        }
        assert events[0].diagnostic == "BounceHandler: Undelivered Mail Returned to Sender"
        assert store.user_events(shared.one, 7, now - timedelta(days=31)) == []  # ambiguous
        # ten soft days within thirty: our soft rule acts on BounceHandler's evidence (log-only)
        report = run_decisions(store, DecideContext(settings.policy, actions=()), "run-1", now)
        assert report.kinds == {DecisionKind.SUPPRESS.value: 1}
        (decision,) = store.decisions(now - timedelta(days=1), now + timedelta(days=1))
        assert (decision.decision.realm, decision.decision.user_id) == (shared.two, 9)
        assert decision.decision.trigger is Trigger.SOFT
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u@h/db", "expected mysql://"),
        ("mysql://u:secret@h/db", "RECONCILER_IMPORT_PASSWORD"),
        ("mysql://u@h", "name the database"),
    ],
)
def test_import_refuses_a_bad_url_in_one_line(
    farm: Path, url: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_import(farm, url, "--yes")) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1 and "secret" not in err

"""Shared fixtures: the sample corpus, a private dovecot, and store databases.

Services: the suite starts its own dovecot on loopback; PostgreSQL and MariaDB are the
machine's (127.0.0.1:5432 user postgres, 127.0.0.1:3306 user root, database `test`; override
with RECONCILER_TEST_PG / RECONCILER_TEST_MYSQL as "host:port").  When a service is missing the
tests that need it are skipped with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dovecot import Account, Dovecot, DovecotError  # tests/dovecot.py (tests/ is on sys.path)
from hypothesis import settings as hypothesis_settings
from smtpsink import Sink, smtp_sink
from support import NOW, TESTS, host_port, unavailable
from tokenservice import TokenService

from reconciler.config import MailboxSettings
from reconciler.store import Store, open_database

_names = itertools.count(1)
# the rules cache of `classify` (reconciler/classify/rulecache.py): a private temporary
# directory, for this process and the commands it starts, not the home of who runs the tests
os.environ.setdefault("RECONCILER_CACHE_DIR", tempfile.mkdtemp(prefix="reconciler-cache-"))

# property tests assert results, never time: Hypothesis' default 200 ms deadline per example
# turned a loaded machine into a failure (DeadlineExceeded) of a pure test
hypothesis_settings.register_profile("reconciler", deadline=None)
hypothesis_settings.load_profile("reconciler")


# -- corpus ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The Sisimai sample bounces (tests/corpus/sisimai/emails/*.eml)."""
    return TESTS / "corpus" / "sisimai" / "emails"


# -- dovecot ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One private dovecot for the session (IMAP, and imaps/STARTTLS with a self-signed cert).

    Tests get a fresh account each (`imap_account`), so they do not see each other's mail.
    A test that stops the server must start it again (or use `own_dovecot`).
    """
    server = _start_dovecot()
    yield server
    server.cleanup()


@pytest.fixture
def own_dovecot() -> Iterator[Dovecot]:
    """A dovecot for one test only: for tests that stop or break the server."""
    server = _start_dovecot(tls=False)
    yield server
    server.cleanup()


def _start_dovecot(tls: bool = True) -> Dovecot:
    root = Path(tempfile.mkdtemp(prefix="reconciler-dovecot-"))
    try:
        server = Dovecot(root, tls=tls)
        server.start()
    except (DovecotError, OSError) as err:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"cannot start a private dovecot: {err}")
        raise  # unreachable: unavailable() skips or fails
    return server


@pytest.fixture(scope="session")
def token_service() -> Iterator[TokenService]:
    """A loopback OAuth2 token endpoint and introspection endpoint (tests/tokenservice.py)."""
    service = TokenService()
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def oauth_dovecot(token_service: TokenService) -> Iterator[Dovecot]:
    """A private dovecot that also takes XOAUTH2 and OAUTHBEARER: its `oauth2` passdb asks
    `token_service` about each token (introspection); PLAIN and LOGIN work as usual."""
    root = Path(tempfile.mkdtemp(prefix="reconciler-dovecot-oauth-"))
    try:
        server = Dovecot(root, oauth2_url=token_service.introspection_url)
        server.start()
    except (DovecotError, OSError) as err:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"cannot start a private dovecot with an oauth2 passdb: {err}")
        raise  # unreachable: unavailable() skips or fails
    yield server
    server.cleanup()


@pytest.fixture
def imap_account(dovecot: Dovecot) -> Account:
    """A fresh, empty account on the session dovecot (restarted if a test stopped it)."""
    dovecot.start()
    return dovecot.add_user()


@pytest.fixture
def mailbox_settings(dovecot: Dovecot, imap_account: Account) -> MailboxSettings:
    """Settings for `imap_account` over plain IMAP on loopback (allowed: loopback)."""
    return MailboxSettings(
        name="test",
        host=dovecot.host,
        port=dovecot.imap_port,
        username=imap_account.name,
        password=imap_account.password,
        security="none",
        timeout_seconds=10.0,
    )


# -- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A uniquely named PostgreSQL database for the session (dropped afterwards): base URL."""
    import psycopg2

    host, port = host_port("RECONCILER_TEST_PG", "127.0.0.1:5432")
    name = f"reconciler_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg2.connect(host=host, port=port, user="postgres", dbname="test")
    except psycopg2.Error as err:
        unavailable(f"PostgreSQL at {host}:{port} unavailable: {err}".strip())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    yield f"postgresql://postgres@{host}:{port}/{name}"
    # a fresh connection: the chaos tests restart the server during the session
    admin = psycopg2.connect(host=host, port=port, user="postgres", dbname="test")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A fresh schema in the session database, selected through search_path."""
    import psycopg2

    schema = f"t{next(_names)}"
    with psycopg2.connect(pg_database) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    conn.close()
    return f"{pg_database}?options=-csearch_path%3D{schema}"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh, uniquely named MariaDB database for one test (dropped afterwards)."""
    import pymysql

    host, port = host_port("RECONCILER_TEST_MYSQL", "127.0.0.1:3306")
    name = f"reconciler_test_{secrets.token_hex(4)}"
    try:
        admin = pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)
    except pymysql.Error as err:
        unavailable(f"MariaDB at {host}:{port} unavailable: {err}")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield f"mariadb://root@{host}:{port}/{name}"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.pg),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a temporary SQLite file, on PostgreSQL and on MariaDB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    fixture = "pg_url" if request.param == "postgresql" else "mariadb_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An open, migrated store in a fresh SQLite file; closed after the test (the one home of
    the fixture the cycle, lease and mailbox tests share)."""
    opened = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    opened.migrate(NOW)
    yield opened
    opened.close()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """An open, migrated store on each backend; closed after the test."""
    opened = open_database(database_url)
    opened.migrate(NOW)
    yield opened
    opened.close()


# -- SMTP ------------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    """A loopback SMTP sink for one test: (what it received, its port)."""
    with smtp_sink() as sink:
        yield sink

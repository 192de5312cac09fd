"""A database password with "@", ":" or "/" in `[database] url`: written percent-encoded, as
RFC 3986 asks of a URL, and decoded before it reaches the server (playhouse passed it on as
written, so such a password never logged in), on the real MariaDB."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
from support import NOW

from reconciler.store import open_database

PASSWORD = "p@ss:w/rd%1"  # each character a URL would otherwise read as a delimiter


@pytest.fixture
def user_url(mariadb_url: str) -> Iterator[str]:
    """A MariaDB user whose password needs percent-encoding, granted the test's database."""
    import pymysql

    parts = urlsplit(mariadb_url)
    database = parts.path.strip("/")
    user = f"rc_{secrets.token_hex(4)}"
    admin = pymysql.connect(
        host=parts.hostname, port=parts.port or 3306, user="root", password="", autocommit=True
    )
    with admin.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, PASSWORD))
        cur.execute(f"GRANT ALL ON `{database}`.* TO %s@'%%'", (user,))
    yield f"mariadb://{user}:{quote(PASSWORD, safe='')}@{parts.hostname}:{parts.port}/{database}"
    with admin.cursor() as cur:
        cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))
    admin.close()


@pytest.mark.mariadb
def test_a_percent_encoded_password_logs_in(user_url: str) -> None:
    assert "%40" in user_url and "%3A" in user_url and "%2F" in user_url and "%25" in user_url
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # PyMySQL's "'passwd' is deprecated"
        store = open_database(user_url)
        try:
            store.migrate(NOW)
            store.set_watermark("w", 7, NOW)
            assert store.watermark("w") == 7
        finally:
            store.close()

"""Binding the store to a database from a URL, time conversion and error wrapping."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import peewee as pw
from playhouse import db_url

from reconciler.errors import StoreError
from reconciler.store.models import database

__all__ = [
    "backend_of",
    "bind",
    "from_db",
    "redact",
    "sqlite_file",
    "to_db",
    "unbind",
    "wrap_errors",
]

P = ParamSpec("P")
R = TypeVar("R")

_SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 5000,
    "synchronous": "normal",
}
# the driver each backend needs, and the extra of the package that installs it
_DRIVERS = {
    "postgresql": ("PostgreSQL", "psycopg2", "postgres"),
    "mysql": ("MariaDB/MySQL", "PyMySQL", "mysql"),
}
_SCHEMES = {
    "sqlite": "sqlite",
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def backend_of(url: str) -> str:
    """ "sqlite" | "postgresql" | "mysql" for a database URL; StoreError for anything else."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise StoreError(f"unsupported database URL scheme {scheme!r} in {redact(url)}")
    return _SCHEMES[scheme]


def sqlite_file(url: str) -> str | None:
    """The file of a sqlite:/// URL (None for another backend or an in-memory database)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite":
        return None
    path = parts.path.removeprefix("/")
    return None if not path or path == ":memory:" else path


def _missing_driver(backend: str, err: pw.ImproperlyConfigured) -> StoreError:
    name, driver, extra = _DRIVERS.get(backend, (backend, "its driver", backend))
    return StoreError(
        f"the {name} driver ({driver}) is not installed: pip install 'reconciler[{extra}]' ({err})"
    )


def _make_database(url: str, backend: str) -> pw.Database:
    rest = url[url.index(":") :]
    db: pw.Database
    if backend == "sqlite":
        # IMMEDIATE: a transaction takes the write lock when it begins, so another process's
        # commit cannot make its first write fail at once ("database is locked": in WAL mode a
        # deferred transaction that has read cannot write after another commit, whatever the
        # busy timeout); other writers wait for it instead, readers never do
        db = db_url.connect(url, pragmas=_SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    elif backend == "mysql":
        db = db_url.connect("mysql" + rest, charset="utf8mb4")  # mariadb:// is an alias
    else:
        db = db_url.connect("postgresql" + rest)
    return db


def bind(url: str) -> tuple[pw.Database, str]:
    """Bind the module's DatabaseProxy to `url` (once) and connect; returns (db, backend)."""
    backend = backend_of(url)
    if database.obj is not None:
        raise StoreError("a store is already open in this process; close it first")
    try:
        db = _make_database(url, backend)
        database.initialize(db)
        db.connect(reuse_if_open=True)
    except pw.ImproperlyConfigured as err:
        database.initialize(None)
        raise _missing_driver(backend, err) from err
    except (pw.PeeweeException, ValueError, RuntimeError) as err:
        database.initialize(None)
        raise StoreError(f"cannot open database {redact(url)}: {err}{hint(err)}") from err
    return db, backend


def unbind() -> None:
    """Close the connection and release the proxy (idempotent)."""
    db = database.obj
    if db is None:
        return
    try:
        db.close()
    except pw.PeeweeException as err:
        raise StoreError(f"closing the database failed: {err}") from err
    finally:
        database.initialize(None)


def to_db(moment: datetime) -> datetime:
    """Aware datetime → naive UTC for storage (a naive one is taken as UTC already)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def from_db(value: Any) -> datetime:
    """A stored time → aware UTC (SQLite may hand back a string)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC)


_HINTS = (
    ("disk i/o error", " (is the disk full, or the database file unwritable?)"),
    ("disk is full", " (free some space; nothing was moved)"),
    ("readonly database", " (the database file or its directory is read-only)"),
    ("read-only", " (the database is read-only)"),
)


def hint(err: BaseException) -> str:
    """A short operator hint for the driver errors whose text says little by itself."""
    text = str(err).lower()
    return next((advice for marker, advice in _HINTS if marker in text), "")


# peewee's errors, and what a driver raises for a value it cannot send before the server sees
# it: a str it cannot encode (UnicodeEncodeError), a NUL (psycopg2: ValueError), an int too
# large for SQLite (OverflowError)
_ERRORS = (pw.PeeweeException, ValueError, OverflowError)


def wrap_errors(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: peewee/driver errors become StoreError("<what>: …") chained to the cause."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except _ERRORS as err:
                raise StoreError(f"{what} failed: {err}{hint(err)}") from err

        return wrapper

    return decorate

"""Binding the store to a database from a URL, time conversion and error wrapping."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlparse, urlsplit, urlunsplit

import peewee as pw

from reconciler.errors import StoreError
from reconciler.store.drivers import load_driver
from reconciler.store.models import database

__all__ = [
    "backend_of",
    "bind",
    "from_db",
    "redact",
    "rerun_aborted",
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


def _plain_sqlite(url: str) -> pw.Database | None:
    """A sqlite:///path URL with nothing else in it (no query, host, parameters or fragment)
    as the database playhouse's `db_url` makes of it, without importing that module: it
    imports every database extension playhouse has (some 10 ms of every command's start).
    Any other URL: None."""
    parts = urlparse(url)
    if parts.query or parts.netloc or parts.params or parts.fragment:
        return None
    path = parts.path[1:] or ":memory:"  # as playhouse reads it
    return pw.SqliteDatabase(path, pragmas=_SQLITE_PRAGMAS, lock_type="IMMEDIATE")


def _make_database(url: str, backend: str) -> pw.Database:
    plain = _plain_sqlite(url) if backend == "sqlite" else None
    if plain is not None:
        return plain
    from playhouse import db_url  # servers and unusual URLs only (see above)

    rest = url[url.index(":") :]
    # the user name and password percent-decoded (RFC 3986 3.2.1: a password holding "@",
    # ":" or "/" is written %40, %3A, %2F in a URL); playhouse passes them on as written
    decoded = {"unquote_password": True, "unquote_user": True}
    db: pw.Database
    if backend == "sqlite":
        # IMMEDIATE: a transaction takes the write lock when it begins, so another process's
        # commit cannot make its first write fail at once ("database is locked": in WAL mode a
        # deferred transaction that has read cannot write after another commit, whatever the
        # busy timeout); other writers wait for it instead, readers never do
        db = db_url.connect(url, pragmas=_SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    elif backend == "mysql":
        db = db_url.connect("mysql" + rest, charset="utf8mb4", **decoded)  # mariadb: an alias
        params = db.connect_params
        if "passwd" in params:  # playhouse's name for it, which PyMySQL deprecates
            params["password"] = params.pop("passwd")
    else:
        db = db_url.connect("postgresql" + rest, **decoded)
    return db


def bind(url: str) -> tuple[pw.Database, str]:
    """Bind the module's DatabaseProxy to `url` (once) and connect; returns (db, backend)."""
    backend = backend_of(url)
    if database.obj is not None:
        raise StoreError("a store is already open in this process; close it first")
    try:
        load_driver(backend)  # peewee was imported without it (store/drivers.py)
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
    """Aware datetime → naive UTC for storage (a naive one is taken as UTC already).

    `combine(date, time)` is `replace(tzinfo=None)` at a fifth of the cost (`replace` parses
    its keywords at every call; a drain converts a few times per message)."""
    if moment.tzinfo is None:
        return moment
    moment = moment.astimezone(UTC)
    return datetime.combine(moment.date(), moment.time())


def from_db(value: Any) -> datetime:
    """A stored time → aware UTC (SQLite may hand back a string); as `to_db`, without
    `replace`."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return datetime.combine(moment.date(), moment.time(), UTC)


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


# The database aborted the transaction to let another one go on: a deadlock it broke (MariaDB
# and MySQL error 1213; PostgreSQL SQLSTATE 40P01) or a serialization failure (40001).  Both
# manuals ask the application to run such a transaction again from its start ("always be
# prepared to re-issue a transaction if it fails due to deadlock", MySQL 8.0 manual 17.7.5;
# PostgreSQL 16 manual 13.6 and appendix A, class 40).
_ABORTED_MYSQL = frozenset({1213})
_ABORTED_PG = frozenset({"40P01", "40001"})
_ATTEMPTS = 4


def aborted_to_let_another_go_on(err: BaseException) -> bool:
    """Whether `err`, or an error it was raised from or while handling, is the driver's
    deadlock or serialization abort (psycopg2 gives the SQLSTATE as `pgcode`, PyMySQL the
    server's error number as the first argument)."""
    seen: BaseException | None = err
    while seen is not None:
        if getattr(seen, "pgcode", None) in _ABORTED_PG:
            return True
        if seen.args and isinstance(seen.args[0], int) and seen.args[0] in _ABORTED_MYSQL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def rerun_aborted(work: Callable[[], R]) -> R:
    """`work()` in one transaction; run again from its start (up to four times in all) when
    the database aborted it to break a deadlock or a serialization conflict.  Inside an outer
    transaction it runs once, as a savepoint: the outer one is what the database aborted, so
    only its owner can run it again."""
    nested = database.in_transaction()
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with database.atomic():
                return work()
        except (pw.PeeweeException, StoreError) as err:
            if nested or attempt == _ATTEMPTS or not aborted_to_let_another_go_on(err):
                raise
    raise AssertionError("unreachable")  # the last attempt returned or raised

"""For senders: "is this address suppressed?", asked before each mail, as fast as one indexed
query allows (docs/senders.md).

    from reconciler.senders import is_suppressed
    if is_suppressed("kim@example.net", "sqlite:////var/lib/reconciler/reconciler.db"):
        ...  # do not send

The answer comes from the suppression list (`reconciler suppressions list`): one lookup of the
normalised address in the unique index of its `address` column.  Nothing of the parser, the
rules, the report or the configuration is imported; for SQLite (the default) not even the ORM:
the standard library's sqlite3 opens the file read-only.  PostgreSQL and MariaDB go through
the store (peewee), which is slower to import but asks the same one query.

`database_url(config)` reads the `[database] url` of a configuration file the way the
reconciler does (a relative SQLite path is beside the file) and nothing else of it:
`reconciler check-config` checks the rest.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

from reconciler.errors import ConfigError, StoreError
from reconciler.tomlfile import CONFIG_ENV, DEFAULT_CONFIG_NAME, chosen_config, read_config_file

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_DATABASE_URL",
    "config_path",
    "database_url",
    "is_suppressed",
    "normalise",
]

# the same as the store's (tests/test_senders.py compares them)
DEFAULT_DATABASE_URL = "sqlite:///reconciler.db"
_QUERY = "SELECT 1 FROM suppression WHERE address = ? LIMIT 1"  # the unique index's column
_NOTHING_YET = (
    ": nothing was recorded there yet (`reconciler poll --once` creates it), or [database] url "
    "names another place"
)


def normalise(address: str) -> str:
    """The form addresses are stored and looked up in: stripped, lower case (as the store)."""
    return address.strip().lower()


def is_suppressed(address: str, url: str) -> bool:
    """True when `address` (any case, surrounding spaces ignored) is on the suppression list of
    the store at `url`; raises `StoreError` when the store cannot be read."""
    path = _sqlite_path(url)
    if path is None:
        return _through_store(address, url)
    if path == ":memory:" or not os.path.exists(path):
        raise StoreError(f"no database at {path}{_NOTHING_YET}")
    import sqlite3

    # read-only: a sender never writes (and a missing table is an error, not a new file)
    db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute(_QUERY, (normalise(address),)).fetchone()
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the suppression list in {path}: {err}") from err
    finally:
        db.close()
    return row is not None


def _through_store(address: str, url: str) -> bool:
    from reconciler.store import open_database

    store = open_database(url, create=False)
    try:
        return store.check_suppression(address) is not None
    finally:
        store.close()


def _sqlite_path(url: str) -> str | None:
    """The file of a sqlite:/// URL (None: another backend)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite":
        return None
    return parts.path.removeprefix("/")


def config_path(cli_path: str | None = None) -> str:
    """`--config`, else `$RECONCILER_CONFIG`, else ./reconciler.toml (as every command)."""
    return chosen_config(cli_path, os.environ)


def database_url(config: str) -> str:
    """The store's URL named by the configuration file `config` (a relative SQLite path made
    absolute against the file's directory); raises `ConfigError` when it cannot be read."""
    data = read_config_file(config)
    section = data.get("database", {})
    url = section.get("url", DEFAULT_DATABASE_URL) if isinstance(section, dict) else None
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{config}: [database] url: expected a database URL (a string)")
    return _beside(url, os.path.dirname(os.path.abspath(config)))


def _beside(url: str, base_dir: str) -> str:
    """A relative SQLite path made absolute against the configuration file's directory."""
    parts = urlsplit(url)
    relative = parts.path.removeprefix("/")
    if parts.scheme.lower() != "sqlite" or relative == ":memory:" or relative.startswith("/"):
        return url
    query = f"?{parts.query}" if parts.query else ""
    return f"sqlite:///{os.path.join(base_dir, relative)}{query}"

"""peewee, imported without the drivers of the database servers until a store needs one.

peewee imports the driver of every server it supports as it is imported (psycopg2, psycopg 3
and PyMySQL where installed: some 90M instructions, 8 % of an idle `poll --once`), though a
process opens one store, most often SQLite.  The store package imports peewee here first, with
those imports refused (peewee takes each for a driver not installed), and `load_driver` gives
peewee the driver of a server when a store is bound to one (`connection.bind`), as peewee's
own import would have: the module, the names it imports from it and the class attributes it
sets from them, and the registration it makes (psycopg2's UUID adapter).

tests/store/test_drivers.py holds the result to peewee as it imports itself, name for name, in
fresh interpreters (a peewee release that imports its drivers otherwise fails it).
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import Any

__all__ = ["load_driver"]

_POSTGRESQL = ("psycopg2cffi", "psycopg2", "psycopg")
_MYSQL = ("pymysql", "MySQLdb")


def _import_peewee() -> None:
    """Import peewee with the servers' drivers refused (`None` in sys.modules: ImportError),
    those already imported aside; sys.modules as it was afterwards."""
    if "peewee" in sys.modules:
        return
    refused = [name for name in (*_POSTGRESQL, *_MYSQL) if name not in sys.modules]
    for name in refused:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import peewee  # noqa: F401
    finally:
        for name in refused:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


_import_peewee()

import peewee as pw  # noqa: E402 (imported above, without the drivers)


def load_driver(backend: str) -> None:
    """Give peewee the driver of `backend` ("postgresql", "mysql"), as its import does when
    the driver is installed; nothing when peewee has it already or it is not installed (peewee
    then says so when the store connects, as before)."""
    if backend == "postgresql" and _PEEWEE["psycopg2"] is None and _PEEWEE["psycopg"] is None:
        _load_psycopg2()
        _load_psycopg()
    elif backend == "mysql" and _PEEWEE["mysql"] is None:
        _PEEWEE["mysql"] = _first("pymysql") or _first("MySQLdb")


_PEEWEE: dict[str, Any] = vars(pw)  # peewee's globals: the names its import binds


def _first(name: str) -> ModuleType | None:
    try:
        return import_module(name)
    except ImportError:
        return None


def _adapter(cls: type, idle: object, inerror: object, unknown: object) -> None:
    """The transaction states an adapter class names when its driver is there."""
    for name, value in (("txn_idle", idle), ("txn_inerror", inerror), ("txn_unknown", unknown)):
        setattr(cls, name, value)


def _load_psycopg2() -> None:
    compat = _first("psycopg2cffi.compat")
    if compat is not None:
        compat.register()
        _PEEWEE["compat"] = compat
    try:
        psycopg2 = import_module("psycopg2")
        extensions = import_module("psycopg2.extensions")
        extras = import_module("psycopg2.extras")
    except ImportError:
        return
    extras.register_uuid()
    _PEEWEE.update(
        psycopg2=psycopg2,
        pg_extensions=extensions,
        pg_register_uuid=extras.register_uuid,
        Json_pg2=extras.Json,
    )
    _adapter(
        pw.Psycopg2Adapter,
        extensions.TRANSACTION_STATUS_IDLE,
        extensions.TRANSACTION_STATUS_INERROR,
        extensions.TRANSACTION_STATUS_UNKNOWN,
    )


def _load_psycopg() -> None:
    try:
        psycopg = import_module("psycopg")
        status = import_module("psycopg.pq").TransactionStatus
        json = import_module("psycopg.types.json")
    except ImportError:
        return
    _PEEWEE.update(psycopg=psycopg, TransactionStatus=status, Json_pg3=json.Json,
                   Jsonb_pg3=json.Jsonb)  # fmt: skip
    _adapter(pw.Psycopg3Adapter, status.IDLE, status.INERROR, status.UNKNOWN)

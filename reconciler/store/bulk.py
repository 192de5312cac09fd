"""Bulk inserts: peewee writes the statement for one row, the rows go in as bound parameters.

peewee's query builder makes a node per value and renders it: about 0.1 ms per row of twenty
columns, which was most of the store's time when a large backlog is drained.  Here peewee
still writes the SQL (dialect, quoting, `OR IGNORE` / `ON CONFLICT DO NOTHING` / `IGNORE`,
`RETURNING`), once per shape, and the values are converted by each field's own `db_value` and
bound as parameters (never formatted into the text).  SQLite runs the one-row statement
through `executemany` (a loop in C, no limit on bound parameters); PostgreSQL and MySQL get
one multi-row statement per chunk (one round trip).

This is also the boundary where the text of a message enters the database (the ledger and
its events go in here): every text value is made valid (`valid_text`: no lone surrogate, no
NUL, which the drivers or PostgreSQL refuse) and cut to its column (a CharField's
`max_length`, `TEXT_LIMIT` for a TextField: MariaDB's TEXT holds 65,535 bytes), so that a
hostile bounce is recorded rather than refused with its whole batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import peewee as pw

from reconciler.validtext import is_valid_text, valid_text

__all__ = ["insert_row", "insert_rows", "update_rows"]

# turns driver exceptions into peewee's, as `execute_sql` does (the store's error handling
# knows peewee's)
_AS_PEEWEE_ERRORS = getattr(pw, "__exception_wrapper__")  # noqa: B009 (a dunder of the module)
_SERVER_PARAMETERS = 30_000  # bound parameters per statement (PostgreSQL and MySQL allow 65,535)
TEXT_LIMIT = 16_000  # characters kept of a TextField value (4 bytes each fit MariaDB's TEXT)


@lru_cache(maxsize=64)
def _statement(
    model: type[pw.Model], names: tuple[str, ...], ignore: bool, rows: int, backend: str
) -> str | None:
    """The INSERT of `rows` rows of columns `names`, or None when peewee would add columns
    (defaults of fields the rows leave out) and the shape is not ours to repeat."""
    fields = [model._meta.fields[name] for name in names]
    query = model.insert_many([tuple([None] * len(fields))], fields=fields)
    if ignore:
        query = query.on_conflict_ignore()
    sql, params = query.sql()
    param = model._meta.database.param
    group = "(" + ", ".join([param] * len(fields)) + ")"
    if len(params) != len(fields) or sql.count(group) != 1:
        return None
    return sql.replace(group, ", ".join([group] * rows)) if rows > 1 else sql


def _storable(field: pw.Field) -> Callable[[Any], Any]:
    """`field.db_value`, after `valid_text` and the column's length for a text field."""
    convert: Callable[[Any], Any] = field.db_value
    if isinstance(field, pw.CharField):
        limit = int(field.max_length)
    elif isinstance(field, pw.TextField):
        limit = TEXT_LIMIT
    else:
        return convert

    def text(value: Any) -> Any:
        if isinstance(value, str):
            value = valid_text(value[:limit])
        return convert(value)

    return text


# fields whose `db_value` gives back a value of these types as it is (exact classes: a
# subclass may convert); a text field's value still has to be valid text within its length
_AS_IS: dict[type[pw.Field], tuple[type, ...]] = {
    pw.IntegerField: (int,),
    pw.BigIntegerField: (int,),
    pw.AutoField: (int,),
    pw.BigAutoField: (int,),
    pw.BooleanField: (bool,),
    pw.CharField: (str,),
    pw.TextField: (str,),
    pw.DateTimeField: (datetime,),  # `adapt` converts strings only
}


def _as_is(field: pw.Field) -> tuple[type, ...]:
    """The value types `field.db_value` gives back unchanged (a foreign key: its target's)."""
    if type(field) is pw.ForeignKeyField:
        field = field.rel_field
    return _AS_IS.get(type(field), ())


def _column(field: pw.Field, values: list[Any]) -> list[Any]:
    """A column's values as the database takes them: as they are when the field would give
    each of them back unchanged (checked for the whole column at once), else one by one."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds <= set(_as_is(field)):
        if not isinstance(field, pw.CharField | pw.TextField):
            return values
        texts = [value for value in values if value is not None]
        limit = int(field.max_length) if isinstance(field, pw.CharField) else TEXT_LIMIT
        if max(map(len, texts), default=0) <= limit and is_valid_text("".join(texts)):
            return values
    return [*map(_storable(field), values)]


def _sqlite_times(column: list[Any]) -> list[Any]:
    """A column of datetimes as the text sqlite3's default adapter makes of each
    (`isoformat(" ")`), made here in one pass instead of one Python call per value, and
    once per distinct value: a batch's rows share their times of recording (`isoformat`
    costs some twenty times a look-up)."""
    kinds = set(map(type, column))
    kinds.discard(type(None))
    if kinds != {datetime}:
        return column
    if any(value is not None and value.tzinfo is not None for value in column):
        # equal instants in different zones have different texts: one by one
        return [None if value is None else value.isoformat(" ") for value in column]
    texts: dict[Any, Any] = {None: None}
    for value in column:
        if value not in texts:
            texts[value] = value.isoformat(" ")
    return [*map(texts.__getitem__, column)]


# None → None: a C call of one argument, as `sqlite3` calls an adapter
_NULL: Callable[[object], None] = dict[object, None]().get


@lru_cache(maxsize=1)
def _plain_binding() -> None:
    """Let `sqlite3` bind None and bools as they are, without looking for an adapter.

    The module binds an exact str, int or float directly; any other value (None, True) it
    first adapts: a look-up of `__adapt__` on its protocol class that fails with a formatted
    AttributeError, some 2,000 instructions a value, a dozen times a ledger row and its
    event.  Registered adapters are found first: None stays None (bound as NULL) and a bool
    becomes the int it is (bound as 1 or 0), what the module binds them as all the same.
    Registered once per process (the first time rows are bound to SQLite here)."""
    sqlite3.register_adapter(type(None), _NULL)
    sqlite3.register_adapter(bool, int)


def insert_rows(
    model: type[pw.Model], rows: Sequence[Mapping[str, Any]], *, ignore: bool = False
) -> None:
    """INSERT `rows` (dicts with the same keys: field names) into `model`'s table.

    `ignore` skips rows that break a unique constraint, as peewee's `on_conflict_ignore`.
    Runs in the caller's transaction.
    """
    if not rows:
        return
    names = tuple(rows[0])
    database = model._meta.database
    bound = database.obj if isinstance(database, pw.DatabaseProxy) else database
    backend, sqlite = type(bound).__name__, isinstance(bound, pw.SqliteDatabase)
    per_statement = 1 if sqlite else max(1, _SERVER_PARAMETERS // len(names))
    if _statement(model, names, ignore, 1, backend) is None:
        raise ValueError(f"insert_rows: rows of {model.__name__} must give every column")
    fields = model._meta.fields
    columns = [_column(fields[name], [row[name] for row in rows]) for name in names]
    if sqlite:
        _plain_binding()
        columns = [_sqlite_times(column) for column in columns]
        values = list(zip(*columns, strict=True))
        sql = _statement(model, names, ignore, 1, backend)
        with _AS_PEEWEE_ERRORS:
            bound.cursor().executemany(sql, values)
        return
    values = list(zip(*columns, strict=True))
    for start in range(0, len(values), per_statement):
        part = values[start : start + per_statement]
        sql = _statement(model, names, ignore, len(part), backend)
        database.execute_sql(sql, [value for row in part for value in row])


@lru_cache(maxsize=16)
def _returns_key(model: type[pw.Model], backend: str) -> bool:
    """Whether peewee's INSERT of `model` on `backend` ends with RETURNING the primary key
    (PostgreSQL's way to give the new id; elsewhere the cursor's last row id gives it)."""
    query = model.insert_many([()], fields=[])
    return bool(getattr(query, "_returning", None))  # peewee's, untyped: set at construction


def insert_row(model: type[pw.Model], row: Mapping[str, Any]) -> int:
    """INSERT one row (a dict giving every column but the auto primary key) and return its
    id, as `model.create(**row)` stores it: each value converted by its field's `db_value`
    only (not cut, unlike `insert_rows`), the statement written by peewee once per shape.
    Runs in the caller's transaction."""
    names = tuple(row)
    database = model._meta.database
    bound = database.obj if isinstance(database, pw.DatabaseProxy) else database
    backend = type(bound).__name__
    sql = _statement(model, names, False, 1, backend)
    if sql is None:
        raise ValueError(f"insert_row: a row of {model.__name__} must give every column")
    fields = model._meta.fields
    cursor = database.execute_sql(sql, [fields[name].db_value(row[name]) for name in names])
    if _returns_key(model, backend):
        return int(cursor.fetchone()[0])
    return int(cursor.lastrowid)


def update_rows(model: type[pw.Model], rows: Sequence[Mapping[str, Any]], key: str = "id") -> None:
    """UPDATE each row of `model` whose `key` is the row's `key` value with the row's other
    values (dicts with the same keys: field names), as `insert_rows` inserts: peewee writes
    the statement once, for the first row, and every row is bound to it (SQLite:
    `executemany`; elsewhere one statement each, not rendered again).  When the statement is
    not of that shape (its parameters are not the first row's values, in order), peewee
    writes each row's.  Runs in the caller's transaction."""
    if not rows:
        return
    fields = model._meta.fields
    names = tuple(name for name in rows[0] if name != key)
    columns = [_column(fields[name], [row[name] for row in rows]) for name in names]
    keys = _column(fields[key], [row[key] for row in rows])
    values = [(*row, at) for row, at in zip(zip(*columns, strict=True), keys, strict=True)]

    def statement(row: Sequence[Any]) -> Any:
        changes = {fields[name]: value for name, value in zip(names, row, strict=False)}
        return model.update(changes).where(fields[key] == row[-1])

    sql, params = statement(values[0]).sql()  # converted already: converted again alike
    if list(params) != list(values[0]):
        for row_values in values:
            statement(row_values).execute()
        return
    database = model._meta.database
    bound = database.obj if isinstance(database, pw.DatabaseProxy) else database
    sqlite = isinstance(bound, pw.SqliteDatabase)
    if sqlite:
        _plain_binding()
        with _AS_PEEWEE_ERRORS:
            bound.cursor().executemany(sql, values)
        return
    for row_values in values:
        database.execute_sql(sql, row_values)

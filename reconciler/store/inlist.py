"""Statements with a long `IN (...)` list: peewee writes them for one value, the rest are bound.

peewee renders each value of an `IN` list as a node of its own (about 10 µs a value): for the
few hundred UIDs or digests of a drained batch, several times a batch, that was a large part
of the store's time.  Here the query is built by peewee with the list's first value only (the
dialect, quoting and the other conditions are peewee's), its one `IN (?)` widened to as many
markers as there are values, and the values, converted by the field as peewee would, bound as
parameters (never formatted into the text).  When the statement is not of that shape (the `IN`
is not its last parameter), peewee runs it as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import peewee as pw

__all__ = ["execute_in"]


def execute_in(build: Callable[[list[Any]], Any], field: pw.Field, values: Sequence[Any]) -> Any:
    """Run `build(values)` (a peewee query whose LAST parameter is the `IN` list of `field`);
    returns the driver's cursor (rows as tuples, in the query's column order; `rowcount`)."""
    if not values:
        raise ValueError("execute_in: no values")
    database = field.model._meta.database
    convert: Callable[[Any], Any] = field.db_value
    sql, params = build([values[0]]).sql()
    marker = database.param
    head, found, tail = sql.rpartition(f"IN ({marker})")
    if not found or marker in tail or params[-1:] != [convert(values[0])]:
        sql, params = build(list(values)).sql()  # not of our shape: as peewee writes it
        return database.execute_sql(sql, params)
    wide = f"{head}IN ({', '.join([marker] * len(values))}){tail}"
    return database.execute_sql(wide, [*params[:-1], *(convert(value) for value in values)])

"""`@frozen_record`: a frozen, slotted record class, as `@dataclass(frozen=True, slots=True)`
makes one, without writing code for each class (issue 16).

Python 3.11's dataclass decorator writes the source of about six methods for every class
(`__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__`, `__delattr__`) and compiles
each with `exec`; for the 22 records of `reconciler.settings` that is some 14 ms of every
command that reads a configuration, `classify` of one file among them.  Here the methods are
written once, below, and read the fields of the instance's class: defining a record costs one
new class (for `__slots__`) and no compiling.  Records are built once per run, so a generic
`__init__` costs nothing that matters.

To the rest of the program (and to mypy, through `typing.dataclass_transform`) a record is a
frozen dataclass: keyword or positional construction, `field(default=..., default_factory=...,
repr=False, metadata=...)`, equality and hashing by value, a repr without the `repr=False`
fields, assignment raising `dataclasses.FrozenInstanceError`, pickling, and
`dataclasses.fields`, `replace`, `asdict` and `is_dataclass` work on it.  For those,
`__dataclass_fields__` holds the stdlib's own `Field` objects, marked as fields the way the
dataclass decorator marks them (`Field._field_type`: the one private name relied on;
tests/test_frozenrecord.py checks that the stdlib functions still see the fields).

Not supported (refused when a class asks for it): `__post_init__`, `InitVar`, `ClassVar`
and keyword-only fields; no record of ours uses them.  A method the class defines itself
(`DatabaseSettings.__repr__`) is kept, as the dataclass decorator keeps it.
"""

from __future__ import annotations

import dataclasses
import inspect  # imported by dataclasses already
from dataclasses import MISSING, Field, FrozenInstanceError, field
from typing import Any, TypeVar, cast, dataclass_transform

__all__ = ["field", "frozen_record"]

T = TypeVar("T")
_set = object.__setattr__


def _fields(record: object) -> tuple[Field[Any], ...]:
    fields: tuple[Field[Any], ...] = type(record).__record_fields__  # type: ignore[attr-defined]
    return fields


def _init(self: object, /, *args: object, **kwargs: object) -> None:
    fields = _fields(self)
    name = type(self).__name__
    if len(args) > len(fields):
        raise TypeError(f"{name}() takes {len(fields)} arguments but {len(args)} were given")
    for index, item in enumerate(fields):
        if index < len(args):
            if item.name in kwargs:
                raise TypeError(f"{name}() got multiple values for argument {item.name!r}")
            value = args[index]
        elif item.name in kwargs:
            value = kwargs.pop(item.name)
        elif item.default is not MISSING:
            value = item.default
        elif item.default_factory is not MISSING:
            value = item.default_factory()
        else:
            raise TypeError(f"{name}() missing required argument: {item.name!r}")
        _set(self, item.name, value)
    if kwargs:
        raise TypeError(f"{name}() got an unexpected keyword argument {next(iter(kwargs))!r}")


def _values(self: object) -> tuple[object, ...]:
    return tuple(getattr(self, item.name) for item in _fields(self))


def _repr(self: object) -> str:
    shown = (f"{f.name}={getattr(self, f.name)!r}" for f in _fields(self) if f.repr)
    return f"{type(self).__qualname__}({', '.join(shown)})"


def _eq(self: object, other: object) -> object:  # NotImplemented: ask `other`
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: object) -> int:
    return hash(_values(self))


def _setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _setstate(self: object, state: tuple[object, ...]) -> None:
    for item, value in zip(_fields(self), state, strict=True):
        _set(self, item.name, value)


_METHODS = {
    "__init__": _init,
    "__repr__": _repr,
    "__eq__": _eq,
    "__hash__": _hash,
    "__setattr__": _setattr,
    "__delattr__": _delattr,
    "__getstate__": _values,
    "__setstate__": _setstate,
}


def _field(cls: type, name: str, annotation: object) -> Field[Any]:
    """The stdlib `Field` of one annotated name, as the dataclass decorator makes it."""
    given = cls.__dict__.get(name, MISSING)
    item: Field[Any] = given if isinstance(given, Field) else field(default=given)
    if item.kw_only is True or not (item.init and item.compare and item.hash is None):
        raise TypeError(f"{cls.__name__}.{name}: field options beyond default, repr, metadata")
    default = item.default
    if default is not MISSING and type(default).__hash__ is None:
        raise ValueError(f"{cls.__name__}.{name}: mutable default: use default_factory")
    item.name, item.type, item.kw_only = name, annotation, False
    item._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
    return item


def _check(cls: type, fields: tuple[Field[Any], ...]) -> None:
    if "__post_init__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: __post_init__ is not supported")
    optional = False
    for item in fields:
        if "ClassVar" in str(item.type) or "InitVar" in str(item.type):
            raise TypeError(f"{cls.__name__}.{item.name}: ClassVar and InitVar not supported")
        required = item.default is MISSING and item.default_factory is MISSING
        if required and optional:
            raise TypeError(
                f"{cls.__name__}.{item.name}: a field without a default follows one with"
            )
        optional = optional or not required


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def frozen_record(cls: type[T]) -> type[T]:
    """The class rebuilt with `__slots__` and the methods of a frozen dataclass."""
    if cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__}: a record derives from no other class")
    annotations = inspect.get_annotations(cls)  # the strings as written (not evaluated)
    fields = tuple(_field(cls, name, kind) for name, kind in annotations.items())
    _check(cls, fields)
    names = tuple(item.name for item in fields)
    namespace = {k: v for k, v in cls.__dict__.items() if k not in names}
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    for method, function in _METHODS.items():
        namespace.setdefault(method, function)
    namespace["__slots__"] = names
    namespace["__match_args__"] = names
    namespace["__record_fields__"] = fields
    namespace["__dataclass_fields__"] = {item.name: item for item in fields}
    return cast("type[T]", type(cls.__name__, cls.__bases__, namespace))

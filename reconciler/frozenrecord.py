"""`@frozen_record`: a frozen, slotted record class, as `@dataclass(frozen=True, slots=True)`
makes one, without compiling code for each class when it is defined (issue 16).

Python 3.11's dataclass decorator writes the source of six methods for every class
(`__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__`, `__delattr__`) and compiles
each with `exec` when the class is defined: some 5M instructions a class, 14 ms of every
command that reads the configuration (22 settings records) and as much again of every
`classify` (the records of the classify path).  Most of those methods never run in a
one-file command, and most records are built a few times a run.

Here the methods are written once, below, and read the fields of the instance's class:
defining a record costs one class (built with its `__slots__`) and no compiling.  A class
that is used often (`_HOT` constructions, comparisons or hashes: the per-message records of a
backlog) then gets the `__init__`, `__eq__` and `__hash__` the dataclass decorator would have
written, compiled at that moment, its `__init__` setting each slot through the slot's own
descriptor (faster than the dataclass's `object.__setattr__`: a 14-field `ParsedBounce` costs
some 15,000 instructions to build instead of 24,500) or, from `_SWAP` fields on, storing the
fields while the instance is one of a twin class without a `__setattr__` (`_filling`).

To the rest of the program (and to mypy, through `typing.dataclass_transform`) a record is a
frozen dataclass: keyword or positional construction, `field(default=..., default_factory=...,
repr=False, metadata=...)`, equality and hashing by value, a repr without the `repr=False`
fields, assignment raising `dataclasses.FrozenInstanceError`, pickling, and
`dataclasses.fields`, `replace`, `asdict` and `is_dataclass` work on it.  For those,
`__dataclass_fields__` holds the stdlib's own `Field` objects, made when first asked for and
marked as fields the way the dataclass decorator marks them (`Field._field_type` set to
`dataclasses._FIELD`: the private names relied on; tests/test_frozenrecord.py checks that the
stdlib still sees the fields).
Defining and using records imports neither `dataclasses` nor `inspect` (with the modules they
import, some 35M instructions of a one-file `classify`); `replace` here is
`dataclasses.replace` without them (and is that function to mypy).

Not supported (refused when a class asks for it): `__post_init__`, `InitVar`, `ClassVar`,
keyword-only fields, base classes and field options beyond default, repr and metadata; no
record of ours uses them.  A method the class defines itself (`DatabaseSettings.__repr__`) is
kept, as the dataclass decorator keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast, dataclass_transform, overload

__all__ = ["field", "fields", "frozen_record", "replace"]

T = TypeVar("T")
_set = object.__setattr__
_HOT = 64  # uses of a class's methods after which they are compiled for it
_SWAP = 5  # fields from which a compiled `__init__` fills a twin class's instance (`_filling`)
_uses: dict[type, int] = {}


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # no default (the stdlib's own sentinel stands in its Fields)


class Field:
    """One field of a record: what `field()` says of it, and its name and annotation."""

    __slots__ = ("default", "default_factory", "metadata", "name", "repr", "type")

    def __init__(
        self,
        default: Any,
        default_factory: Any,
        repr: bool,
        metadata: Mapping[str, Any] | None,
    ) -> None:
        self.default = default
        self.default_factory: Any = default_factory  # Callable[[], Any] or MISSING
        self.repr = repr
        self.metadata: Mapping[str, Any] = metadata or {}
        self.name = ""
        self.type: object = None


@overload
def field(*, default: T, repr: bool = True, metadata: Mapping[str, Any] | None = None) -> T: ...
@overload
def field(
    *,
    default_factory: Callable[[], T],
    repr: bool = True,
    metadata: Mapping[str, Any] | None = None,
) -> T: ...
@overload
def field(*, repr: bool = True, metadata: Mapping[str, Any] | None = None) -> Any: ...
def field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    repr: bool = True,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """As `dataclasses.field`, with the options records use."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, repr, metadata)


def fields(record: object) -> tuple[Field, ...]:
    """The fields of a record or record class, in order (as `dataclasses.fields`)."""
    return _fields_of(record if isinstance(record, type) else type(record))


def _fields_of(cls: type) -> tuple[Field, ...]:
    found: tuple[Field, ...] = cls.__record_fields__  # type: ignore[attr-defined]
    return found


def _fields(record: object) -> tuple[Field, ...]:
    return _fields_of(type(record))


if TYPE_CHECKING:  # mypy checks the changes against the fields, as for any dataclass
    from dataclasses import replace
else:

    def replace(record, /, **changes):
        """A copy of a record with some fields changed (as `dataclasses.replace`)."""
        for item in _fields(record):
            if item.name not in changes:
                changes[item.name] = getattr(record, item.name)
        return type(record)(**changes)


def _used(cls: type) -> None:
    """Count a use of the generic methods; compile the class's own at the `_HOT`th."""
    count = _uses.get(cls, 0) + 1
    _uses[cls] = count
    if count == _HOT:
        _compile(cls)


def _init(self: object, /, *args: object, **kwargs: object) -> None:
    cls = type(self)
    _used(cls)
    fields = _fields_of(cls)
    if len(args) > len(fields):
        _refuse(self, args, kwargs)
    for index, item in enumerate(fields):
        if index < len(args):
            if item.name in kwargs:
                _refuse(self, args, kwargs)
            value = args[index]
        elif item.name in kwargs:
            value = kwargs.pop(item.name)
        elif item.default is not MISSING:
            value = item.default
        elif item.default_factory is not MISSING:
            value = item.default_factory()
        else:
            _refuse(self, args, kwargs)
        _set(self, item.name, value)
    if kwargs:
        _refuse(self, args, kwargs)


def _refuse(self: object, args: tuple[object, ...], kwargs: dict[str, object]) -> NoReturn:
    """A call that binds no field list: compile the class's `__init__` and let Python word
    the `TypeError` (the very one a dataclass raises)."""
    cls = type(self)
    _compile(cls)
    cls.__init__(self, *args, **kwargs)
    raise TypeError(f"{cls.__qualname__}(): a call that binds no field list")  # not reached


def _values(self: object) -> tuple[object, ...]:
    return tuple([getattr(self, item.name) for item in _fields(self)])


def _repr(self: object) -> str:
    shown = (f"{f.name}={getattr(self, f.name)!r}" for f in _fields(self) if f.repr)
    return f"{type(self).__qualname__}({', '.join(shown)})"


def _eq(self: object, other: object) -> object:  # NotImplemented: ask `other`
    if other.__class__ is not self.__class__:
        return NotImplemented
    _used(type(self))
    return _values(self) == _values(other)


def _hash(self: object) -> int:
    _used(type(self))
    return hash(_values(self))


def _setattr(self: object, name: str, value: object) -> None:
    from dataclasses import FrozenInstanceError  # a mistake only: not at every start

    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: object, name: str) -> None:
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot delete field {name!r}")


class _StdlibFields:
    """`__dataclass_fields__`, made when first asked for (by `dataclasses.fields`, `replace`,
    `asdict`, `is_dataclass`): the stdlib's `Field` objects of the record's fields."""

    def __get__(self, record: object, cls: type) -> dict[str, Any]:
        import dataclasses

        made: dict[str, Any] = {}
        for item in _fields_of(cls):
            options: dict[str, Any] = {"repr": item.repr, "metadata": item.metadata or None}
            if item.default is not MISSING:
                options["default"] = item.default
            if item.default_factory is not MISSING:
                options["default_factory"] = item.default_factory
            stdlib: Any = dataclasses.field(**options)
            stdlib.name, stdlib.type, stdlib.kw_only = item.name, item.type, False
            stdlib._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
            made[item.name] = stdlib
        setattr(cls, "__dataclass_fields__", made)  # asked once per class  # noqa: B010
        return made


def _setstate(self: object, state: tuple[object, ...]) -> None:
    for item, value in zip(_fields(self), state, strict=True):
        _set(self, item.name, value)


_METHODS: dict[str, Callable[..., Any]] = {
    "__init__": _init,
    "__repr__": _repr,
    "__eq__": _eq,
    "__hash__": _hash,
    "__setattr__": _setattr,
    "__delattr__": _delattr,
    "__getstate__": _values,
    "__setstate__": _setstate,
}


def _compile(cls: type) -> None:
    """Give a class used often the `__init__`, `__eq__` and `__hash__` the dataclass decorator
    writes, the `__init__` setting the slots through their descriptors (where the class has
    ours: not where it defines its own)."""
    env: dict[str, Any] = {"__missing": MISSING, "__cls": cls}
    params, body, sets = ["__self"], [], []
    for index, item in enumerate(_fields_of(cls)):
        name = item.name
        # the slot's own descriptor: what object.__setattr__ ends up calling, some 45 % fewer
        # instructions than it (a frozen class's __setattr__ refuses, so dataclasses calls
        # object.__setattr__)
        env[f"__set_{index}"] = cls.__dict__[name].__set__
        sets.append(f"__set_{index}(__self, {name})")
        if item.default is not MISSING:
            env[f"__default_{index}"] = item.default
            params.append(f"{name}=__default_{index}")
        elif item.default_factory is not MISSING:
            env[f"__factory_{index}"] = item.default_factory
            params.append(f"{name}=__missing")
            body.append(f" if {name} is __missing: {name} = __factory_{index}()")
        else:
            params.append(name)
    body.extend(_filling(cls, env, sets))
    mine = "".join(f"__self.{f.name}," for f in _fields_of(cls))
    theirs = "".join(f"other.{f.name}," for f in _fields_of(cls))
    source = (
        f"def __init__({', '.join(params)}):\n{chr(10).join(body) or ' pass'}\n"
        f"def __eq__(__self, other):\n if other.__class__ is __self.__class__:\n"
        f"  return ({mine}) == ({theirs})\n return NotImplemented\n"
        f"def __hash__(__self):\n return hash(({mine}))\n"
    )
    exec(source, env)  # the same code `dataclasses` compiles, for a class that earns it
    for method in ("__init__", "__eq__", "__hash__"):
        if cls.__dict__.get(method) is _METHODS[method]:
            env[method].__qualname__ = f"{cls.__qualname__}.{method}"
            setattr(cls, method, env[method])


def _filling(cls: type, env: dict[str, Any], sets: list[str]) -> list[str]:
    """The lines of a compiled `__init__` that set the fields (after the defaults).

    Each slot set through its descriptor costs a call of a method wrapper.  From `_SWAP`
    fields on it is cheaper to turn the instance, for the time of the `__init__`, into one
    of a twin class (same slots, no `__setattr__` of its own: `__class__` assignment checks
    that the layouts match), store the fields as plain attributes (the interpreter's own slot
    store) and turn it back: a 14-field record some 35 % fewer instructions to build.  An
    instance of another class (a subclass) is filled as before."""
    if len(sets) < _SWAP:
        return [f" {line}" for line in sets]
    twin = type(cls.__name__, (), {"__slots__": cls.__dict__["__slots__"]})
    env["__twin"] = twin
    env["__to"] = object.__dict__["__class__"].__set__
    names = [f.name for f in _fields_of(cls)]
    return [
        " if __self.__class__ is __cls:",
        "  __to(__self, __twin)",
        *(f"  __self.{name} = {name}" for name in names),
        "  __self.__class__ = __cls",
        " else:",
        *(f"  {line}" for line in sets),
    ]


def _field(cls: type, name: str, annotation: object) -> Field:
    """The field of one annotated name."""
    given = cls.__dict__.get(name, MISSING)
    if type(given).__module__ == "dataclasses":
        raise TypeError(f"{cls.__name__}.{name}: use reconciler.frozenrecord.field")
    item = given if isinstance(given, Field) else field(default=given)
    default = item.default
    if default is not MISSING and type(default).__hash__ is None:
        raise ValueError(f"{cls.__name__}.{name}: mutable default: use default_factory")
    item.name, item.type = name, annotation
    return item


def _check(cls: type, fields: tuple[Field, ...]) -> None:
    if "__post_init__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: __post_init__ is not supported")
    optional = False
    for item in fields:
        if "ClassVar" in str(item.type) or "InitVar" in str(item.type):
            raise TypeError(f"{cls.__name__}.{item.name}: ClassVar and InitVar not supported")
        if item.name.startswith("__"):
            raise TypeError(f"{cls.__name__}.{item.name}: a field's name starts with one _")
        required = item.default is MISSING and item.default_factory is MISSING
        if required and optional:
            raise TypeError(
                f"{cls.__name__}.{item.name}: a field without a default follows one with"
            )
        optional = optional or not required


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen_record(cls: type[T]) -> type[T]:
    """The class rebuilt with `__slots__` and the methods of a frozen dataclass."""
    if cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__}: a record derives from no other class")
    # the strings as written (inspect.get_annotations would import inspect: see above)
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    found = tuple(_field(cls, name, kind) for name, kind in annotations.items())
    _check(cls, found)
    names = tuple(item.name for item in found)
    namespace = {k: v for k, v in cls.__dict__.items() if k not in names}
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    for method, function in _METHODS.items():
        namespace.setdefault(method, function)
    namespace["__qualname__"] = cls.__qualname__  # not in __dict__: the repr shows it
    namespace["__slots__"] = names
    namespace["__match_args__"] = names
    namespace["__record_fields__"] = found
    namespace["__dataclass_fields__"] = _StdlibFields()
    return cast("type[T]", type(cls.__name__, cls.__bases__, namespace))

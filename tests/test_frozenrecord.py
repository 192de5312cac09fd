"""`@frozen_record` behaves as `@dataclass(frozen=True, slots=True)` wherever the program
and its tests use a settings record (reconciler/frozenrecord.py)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.frozenrecord import _HOT, _SWAP, field, frozen_record
from reconciler.settings import (
    DatabaseSettings,
    DayThreshold,
    MailboxSettings,
    PolicySettings,
    Settings,
    VerpKey,
)


@frozen_record
class _Record:
    name: str
    secret: bytes = field(repr=False)
    size: int = 3
    tags: tuple[str, ...] = ()
    path: Path | None = field(default=None, metadata={"inline": True})
    made: list[int] = field(default_factory=list)  # each record its own list


@dataclasses.dataclass(frozen=True, slots=True)
class _Reference:  # the stdlib's record of the same fields
    name: str
    secret: bytes = dataclasses.field(repr=False)
    size: int = 3
    tags: tuple[str, ...] = ()
    path: Path | None = dataclasses.field(default=None, metadata={"inline": True})
    made: list[int] = dataclasses.field(default_factory=list)


def _both(*args: object, **kwargs: object) -> tuple[object, object]:
    return _Record(*args, **kwargs), _Reference(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("a", b"s"), {}),
        (("a",), {"secret": b"s", "size": 5}),
        ((), {"name": "a", "secret": b"s", "tags": ("x",), "path": Path("/p")}),
        (("a", b"s", 7, ("y", "z")), {}),
    ],
)
def test_constructs_and_shows_as_the_stdlib_dataclass(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    ours, theirs = _both(*args, **kwargs)
    assert repr(ours).replace("_Record", "_Reference") == repr(theirs)
    assert "secret" not in repr(ours)
    assert dataclasses.astuple(ours) == dataclasses.astuple(theirs)  # type: ignore[call-overload]


_WRONG_CALLS = [
    ((), {}),
    (("a",), {}),
    (("a", b"s"), {"name": "b"}),
    (("a", b"s"), {"colour": 1}),
    (("a", b"s", 1, (), None, [], 9), {}),
]


def _error(cls: type, args: tuple[object, ...], kwargs: dict[str, object]) -> str:
    with pytest.raises(TypeError) as caught:
        cls(*args, **kwargs)
    return str(caught.value).replace(cls.__qualname__, "Record")


@pytest.mark.parametrize(("args", "kwargs"), _WRONG_CALLS)
def test_refuses_a_wrong_call_as_a_dataclass_does(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    assert _error(_Record, args, kwargs) == _error(_Reference, args, kwargs)


def test_a_class_used_often_gets_compiled_methods_that_behave_the_same() -> None:
    @frozen_record
    class _Busy:
        name: str
        size: int = 3
        made: list[int] = field(default_factory=list)

    first, twin = _Busy("a", made=[1]), _Busy("a", made=[1])
    generic = _Busy.__init__
    assert "_Busy" not in generic.__qualname__  # the records' shared, generic one
    for number in range(_HOT):
        _Busy(f"n{number}")
    assert _Busy.__init__ is not generic  # its own now, compiled
    assert _Busy.__init__.__qualname__ == f"{_Busy.__qualname__}.__init__"
    assert _Busy.__qualname__.endswith("<locals>._Busy")
    later = _Busy("b", 4)
    assert (later.name, later.size, later.made) == ("b", 4, [])
    assert later.made is not _Busy("c").made
    assert first == twin and first != later and first != _Reference("a", b"")
    frozen_busy = _Busy("a", made=None)  # type: ignore[arg-type]
    assert hash(frozen_busy) == hash(("a", 3, None))  # as before: a dict keeps its keys
    wrong: list[tuple[tuple[object, ...], dict[str, object]]] = [
        ((), {}),
        (("a",), {"name": "b"}),
        (("a",), {"colour": 1}),
        (("a", 1, [], 9), {}),
    ]
    for args, kwargs in wrong:
        assert _error(_Busy, args, kwargs).startswith("Record.__init__()")
    with pytest.raises(dataclasses.FrozenInstanceError):
        later.size = 5  # type: ignore[misc]


def test_a_compiled_init_of_many_fields_fills_the_record_as_the_generic_one() -> None:
    @frozen_record
    class _Wide:
        a: int
        b: str
        c: bytes
        d: tuple[int, ...]
        e: object = None
        f: list[int] = field(default_factory=list)

    class _Sub(_Wide):  # a plain subclass: filled slot by slot
        __slots__ = ()

    assert len(dataclasses.fields(_Wide)) >= _SWAP  # the twin-class path below
    early = _Wide(1, "b", b"c", (4,))
    for number in range(_HOT):
        _Wide(number, "x", b"", ())
    assert "_Wide" in _Wide.__init__.__qualname__  # compiled now
    later = _Wide(1, "b", b"c", (4,))
    assert type(later) is _Wide and later == early and later != _Wide(1, "b", b"c", (5,))
    assert (later.a, later.b, later.c, later.d, later.e, later.f) == (1, "b", b"c", (4,), None, [])
    assert later.f is not _Wide(1, "b", b"c", (4,)).f
    assert repr(later) == repr(early) and copy.deepcopy(later) == later
    with pytest.raises(dataclasses.FrozenInstanceError):
        later.a = 2  # type: ignore[misc]
    sub = _Sub(2, "s", b"", (), e="e")
    assert type(sub) is _Sub and (sub.a, sub.b, sub.e, sub.f) == (2, "s", "e", [])
    assert _error(_Wide, (1,), {}).startswith("Record.__init__()")


def test_frozen_slotted_and_compared_by_value() -> None:
    record = _Record("a", b"s")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'size'"):
        record.size = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del record.size  # type: ignore[misc]
    assert not hasattr(record, "__dict__")
    assert _Record.__slots__ == ("name", "secret", "size", "tags", "path", "made")
    assert _Record.__match_args__ == _Reference.__match_args__
    assert record == _Record("a", b"s")
    assert record != _Record("a", b"t")  # a field hidden from repr still counts
    assert record != _Reference("a", b"s")  # another class: never equal
    assert record.made is not _Record("a", b"s").made  # default_factory: a fresh list each
    hashable = _Record("a", b"s", made=None)  # type: ignore[arg-type]
    assert hash(hashable) == hash(_Record("a", b"s", made=None))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hash(record)  # holds a list: unhashable, as the stdlib's record


def test_the_stdlib_functions_see_the_fields() -> None:
    record = _Record("a", b"s", path=Path("/p"))
    assert dataclasses.is_dataclass(record) and dataclasses.is_dataclass(_Record)
    names = [f.name for f in dataclasses.fields(record)]
    assert names == [f.name for f in dataclasses.fields(_Reference)]
    secret = next(f for f in dataclasses.fields(_Record) if f.name == "secret")
    assert secret.repr is False and secret.default is dataclasses.MISSING
    path = next(f for f in dataclasses.fields(_Record) if f.name == "path")
    assert path.metadata["inline"] is True and path.type == "Path | None"
    changed = dataclasses.replace(record, size=9)
    assert (changed.size, changed.name, changed.path) == (9, "a", Path("/p"))
    assert dataclasses.asdict(record)["secret"] == b"s"


def test_copies_and_pickles() -> None:
    settings = Settings(
        mailboxes=(MailboxSettings(name="m", host="h", username="u", password="pw"),),
        database=DatabaseSettings(url="postgresql://u:pw@db/x"),
        policy=PolicySettings(hard=DayThreshold(2, 7)),
    )
    for copied in (pickle.loads(pickle.dumps(settings)), copy.deepcopy(settings)):
        assert copied == settings and copied is not settings
        assert copied.mailboxes[0].password == "pw"
    assert copy.copy(settings) == settings


def test_a_method_of_the_class_is_kept() -> None:
    assert repr(DatabaseSettings(url="postgresql://u:pw@db/x")) == (
        "DatabaseSettings(url='postgresql://u:***@db/x', retention_days=400)"
    )
    shown = "VerpKey(id='a', secret_env=None, secret_file=None)"
    assert repr(VerpKey(id="a", secret=b"k")) == shown


def test_refuses_what_it_does_not_build() -> None:
    with pytest.raises(TypeError, match="without a default follows"):

        @frozen_record
        class _Order:
            first: int = 1
            second: int

    with pytest.raises(ValueError, match="mutable default"):

        @frozen_record
        class _Mutable:
            items: list[int] = []  # noqa: RUF012 - the mistake under test

    with pytest.raises(TypeError, match="__post_init__"):

        @frozen_record
        class _Post:
            value: int

            def __post_init__(self) -> None: ...

    with pytest.raises(TypeError, match=r"use reconciler\.frozenrecord\.field"):

        @frozen_record
        class _StdlibField:
            value: int = dataclasses.field(default=1)


def test_defining_and_using_records_imports_no_dataclasses() -> None:
    """The point of it (issue 16): `dataclasses` imports `inspect`, and with it ast, dis and
    tokenize; a command that classifies needs none of them."""
    code = (
        "import sys\n"
        "from reconciler.frozenrecord import field, frozen_record, replace\n"
        "@frozen_record\n"
        "class R:\n"
        "    a: int\n"
        "    b: tuple[int, ...] = field(default=(), repr=False)\n"
        "r = replace(R(1), b=(2,))\n"
        "assert (r.a, r.b, r == R(1, (2,)), repr(r)) == (1, (2,), True, 'R(a=1)')\n"
        "print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

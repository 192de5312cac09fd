"""records.frozen.quick_init: the same record as the dataclass's own __init__ builds."""

from __future__ import annotations

import copy
import inspect
import pickle
from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields, replace

import pytest

from reconciler.records import (
    Classification,
    Fault,
    MessageKind,
    OriginalMessage,
    ParsedBounce,
    ParsedMessage,
    Reason,
    RuleFacts,
    Severity,
    Stage,
    VerpMatch,
)
from reconciler.records.frozen import quick_init

QUICK = (OriginalMessage, ParsedBounce, ParsedMessage, RuleFacts, Classification, VerpMatch)


@dataclass(frozen=True, slots=True)
class _Plain:
    """The dataclass's own __init__, to compare with."""

    a: int
    b: str = "b"
    c: tuple[int, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class _Quick:
    a: int
    b: str = "b"
    c: tuple[int, ...] = ()


def test_quick_records_have_the_generated_signature() -> None:
    for cls in QUICK:
        assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
        params = list(inspect.signature(cls).parameters.values())
        assert [p.name for p in params] == [f.name for f in fields(cls)]
        for p, f in zip(params, fields(cls), strict=True):
            assert p.default == (inspect.Parameter.empty if f.default is MISSING else f.default)


def test_quick_init_builds_what_the_dataclass_init_builds() -> None:
    for args, kwargs in [((1,), {}), ((1, "x"), {}), ((1,), {"c": (2,)}), ((), {"a": 3})]:
        plain, quick = _Plain(*args, **kwargs), _Quick(*args, **kwargs)  # type: ignore[arg-type]
        assert (quick.a, quick.b, quick.c) == (plain.a, plain.b, plain.c)
        assert repr(quick).replace("_Quick", "_Plain") == repr(plain)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'a'"):
        _Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'd'"):
        _Quick(1, d=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'a'"):
        _Quick(1, a=2)  # type: ignore[misc]


def test_a_quick_record_stays_frozen_hashable_and_picklable() -> None:
    bounce = ParsedBounce(
        kind=MessageKind.BOUNCE,
        recipient="a@example.org",
        detector="rfc3464",
        status="5.1.1",
        stage=Stage.RCPT,
        extensions=(("x-a", "b"),),
    )
    with pytest.raises(FrozenInstanceError):
        bounce.status = "5.0.0"  # type: ignore[misc]
    assert bounce == copy.deepcopy(bounce) == pickle.loads(pickle.dumps(bounce))
    assert hash(bounce) == hash(pickle.loads(pickle.dumps(bounce)))
    assert replace(bounce, status="5.2.2").status == "5.2.2"
    assert bounce.original_recipient is None and bounce.diagnostic == ""
    message = ParsedMessage(kind=MessageKind.BOUNCE, bounces=(bounce,))
    assert message.notes == () and message.bounces == (bounce,)
    verdict = Classification(Reason.USERUNKNOWN, Severity.HARD, Fault.RECIPIENT, "r")
    assert verdict.matched_on == () and pickle.loads(pickle.dumps(verdict)) == verdict


def test_quick_init_refuses_what_it_cannot_rebuild() -> None:
    @dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (Unslotted, Mutable, Factory, KeywordOnly, PostInit):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)

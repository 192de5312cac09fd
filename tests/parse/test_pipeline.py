"""`parse.pipeline` (the per-message body of `parse`, compiled) against the form it replaced.

The replaced form, kept below, was the body of `reconciler/parse/__init__.py`: keyword
construction of the record and an emptiness test that copied the message (`data.strip()`).
Both give the same `ParsedMessage` for every message of the corpora and the samples, and for
the inputs that are errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.parse import DETECTORS, parse
from reconciler.parse.context import Context, addressing, build_context
from reconciler.parse.detectors import Found
from reconciler.parse.mime import Limits, decoded, load
from reconciler.parse.pipeline import MAX_RECIPIENTS, blank
from reconciler.records import MessageKind, ParsedBounce, ParsedMessage
from tests.support import CORPUS, SAMPLES, TESTS

# -- the replaced form -------------------------------------------------------------------------

_DEFAULTS = Limits()
_PRIORITY = (
    MessageKind.BOUNCE,
    MessageKind.DELAY,
    MessageKind.FEEDBACK,
    MessageKind.VACATION,
    MessageKind.DELIVERED,
)


def _old_message_kind(bounces: tuple[ParsedBounce, ...], ctx: Context) -> MessageKind:
    kinds = {b.kind for b in bounces}
    for kind in _PRIORITY:
        if kind in kinds:
            return kind
    return MessageKind.BOUNCE if ctx.strong_signal else MessageKind.OTHER


def _old_detect(ctx: Context) -> Found:
    for detector in DETECTORS:
        found = detector.run(ctx)
        if found is not None and found.bounces:
            return found
    return Found(())


def _old_parse_body(data: bytes, limits: Limits) -> ParsedMessage:
    root, notes, split = load(data, limits)
    ctx = build_context(root, split, limits, notes)
    found = _old_detect(ctx)
    kind = _old_message_kind(found.bounces, ctx)
    if kind is MessageKind.BOUNCE and not found.bounces:
        notes.append("bounce without a recognisable recipient")
    bounces = found.bounces
    if len(bounces) > MAX_RECIPIENTS:
        notes.append(f"limit: {len(bounces)} recipient results, kept the first {MAX_RECIPIENTS}")
        bounces = bounces[:MAX_RECIPIENTS]
    return ParsedMessage(
        kind=kind,
        bounces=bounces,
        addressing=addressing(root),
        message_id=decoded(ctx.headers.get("message-id")),
        subject=ctx.subject,
        from_=ctx.sender,
        reporting_mta=found.reporting_mta,
        arrival_date=found.arrival_date,
        original=ctx.original,
        notes=tuple(dict.fromkeys(notes)),
    )


def _old_parse(data: object, max_parts: int = _DEFAULTS.max_parts) -> ParsedMessage:
    if not isinstance(data, bytes | bytearray | memoryview):
        return ParsedMessage(kind=MessageKind.ERROR, error=f"not bytes: {type(data).__name__}")
    data = bytes(data)
    if not data.strip():
        return ParsedMessage(kind=MessageKind.ERROR, error="empty message")
    limits = Limits(_DEFAULTS.max_bytes, max_parts, _DEFAULTS.max_depth, _DEFAULTS.max_headers)
    try:
        return _old_parse_body(data, limits)
    except Exception as err:
        return ParsedMessage(kind=MessageKind.ERROR, error=f"{type(err).__name__}: {err}")


# -- the equivalence -----------------------------------------------------------------------------


def _messages() -> list[Path]:
    others = TESTS / "corpus" / "others" / "emails"
    files = [*CORPUS.glob("*.eml"), *others.rglob("*.eml"), *SAMPLES.rglob("*.eml")]
    return sorted(files)


def test_every_message_parses_as_with_the_replaced_form() -> None:
    files = _messages()
    assert len(files) > 500  # the corpora and the samples are there
    for path in files:
        data = path.read_bytes()
        assert parse(data) == _old_parse(data), path.name
        assert parse(data, max_parts=3) == _old_parse(data, max_parts=3), path.name


@pytest.mark.parametrize(
    "data",
    [b"", b" \r\n\t\x0b\x0c", "text", None, 7, bytearray(b"Subject: x\n\nhi"), memoryview(b"\n")],
)
def test_inputs_that_are_errors_or_odd_types_agree(data: object) -> None:
    assert parse(data) == _old_parse(data)


@given(st.binary(max_size=12) | st.lists(st.sampled_from(b" \t\n\r\x0b\x0c\x00\x85a")).map(bytes))
def test_blank_is_an_empty_strip(data: bytes) -> None:
    assert blank(data) == (not data.strip())

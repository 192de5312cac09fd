"""The per-message body of the parsing stage: load, context, detectors in order, the record.

`reconciler.parse` re-exports `parse` from here.  It lives in a module of its own because
package `__init__` files are not compiled: here it is (see `reconciler._native`), and the
work around the detectors (some 10 calls, a set, the record) no longer runs interpreted for
every message of a backlog.  Pure (no I/O, no clock) and never raises.
"""

from __future__ import annotations

from reconciler.parse.context import Context, addressing, build_context
from reconciler.parse.detectors import DETECTORS, Found
from reconciler.parse.mime import Limits, decoded, load
from reconciler.records import MessageKind, ParsedBounce, ParsedMessage

__all__ = ["MAX_RECIPIENTS", "blank", "parse"]

MAX_RECIPIENTS = 1000  # recipient results kept per message (real bounces have a handful)

_DEFAULTS = Limits()
_DEFAULT_GIVEN = (
    _DEFAULTS.max_bytes,
    _DEFAULTS.max_parts,
    _DEFAULTS.max_depth,
    _DEFAULTS.max_headers,
)
_BINARY = (bytes, bytearray, memoryview)  # what parse() reads (a tuple: no union built per call)
_PRIORITY = (
    MessageKind.BOUNCE,
    MessageKind.DELAY,
    MessageKind.FEEDBACK,
    MessageKind.VACATION,
    MessageKind.DELIVERED,
)


def _message_kind(bounces: tuple[ParsedBounce, ...], ctx: Context) -> MessageKind:
    kinds = {b.kind for b in bounces}
    for kind in _PRIORITY:
        if kind in kinds:
            return kind
    return MessageKind.BOUNCE if ctx.strong_signal else MessageKind.OTHER


def _detect(ctx: Context) -> Found:
    for detector in DETECTORS:
        found = detector.run(ctx)
        if found is not None and found.bounces:
            return found
    return Found(())


def _parse(data: bytes, limits: Limits) -> ParsedMessage:
    root, notes, split = load(data, limits)
    ctx = build_context(root, split, limits, notes)
    found = _detect(ctx)
    kind = _message_kind(found.bounces, ctx)
    if kind is MessageKind.BOUNCE and not found.bounces:
        notes.append("bounce without a recognisable recipient")
    bounces = found.bounces
    if len(bounces) > MAX_RECIPIENTS:  # one message must not become an unbounded number of rows
        notes.append(f"limit: {len(bounces)} recipient results, kept the first {MAX_RECIPIENTS}")
        bounces = bounces[:MAX_RECIPIENTS]
    # positional, in the record's field order (error None): binding ten keywords to the
    # record's compiled __init__ cost some 6,000 instructions a message more
    return ParsedMessage(
        kind,
        bounces,
        addressing(root),
        decoded(ctx.headers.get("message-id")),
        ctx.subject,
        ctx.sender,
        found.reporting_mta,
        found.arrival_date,
        ctx.original,
        None,
        tuple(dict.fromkeys(notes)),
    )


def blank(data: bytes) -> bool:
    """True when `data` holds nothing but ASCII whitespace: `not data.strip()` without
    copying the message (`isspace` stops at the first other byte)."""
    return not data or data.isspace()


def parse(
    data: object,
    *,
    max_bytes: int = _DEFAULTS.max_bytes,
    max_parts: int = _DEFAULTS.max_parts,
    max_depth: int = _DEFAULTS.max_depth,
    max_headers: int = _DEFAULTS.max_headers,
) -> ParsedMessage:
    """Parse one message (bytes; anything else is an error value, as the compiled build must
    accept it to say so).  Never raises; failures come back as kind ERROR with `error` set."""
    if not isinstance(data, _BINARY):
        return ParsedMessage(kind=MessageKind.ERROR, error=f"not bytes: {type(data).__name__}")
    raw = bytes(data)
    if blank(raw):
        return ParsedMessage(kind=MessageKind.ERROR, error="empty message")
    given = (max_bytes, max_parts, max_depth, max_headers)
    # the defaults' record is shared (building a frozen record is some 10,000 instructions)
    limits = _DEFAULTS if given == _DEFAULT_GIVEN else Limits(*given)
    try:
        return _parse(raw, limits)
    # The contract of parse() is "never raises": one malformed message must not stop a cycle,
    # so any failure of the stdlib parser or ours becomes a value here (STYLE 2.8 exception).
    except Exception as err:
        return ParsedMessage(kind=MessageKind.ERROR, error=f"{type(err).__name__}: {err}")

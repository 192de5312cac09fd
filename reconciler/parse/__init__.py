"""The parsing stage: raw bytes → ParsedMessage with one ParsedBounce per recipient.

`parse()` is pure (no I/O, no clock) and never raises: a message it cannot understand comes
back as `ParsedMessage(kind=MessageKind.ERROR, error=...)`.  The work per message is bounded by
`Limits` (size, MIME parts, nesting depth, header lines); every limit hit is listed in `notes`.

Detectors run in a fixed order, most authoritative first, and the first that finds recipients
answers (see `detectors.DETECTORS`):  ARF complaints, RFC 3464 status blocks, a Sieve reject's
MDN (RFC 5429), Amazon SES JSON,
DSN fields in plain text, auto-replies, the generic plain-text scanner, and flufl.bounce.
"""

from __future__ import annotations

from reconciler.parse.context import Context, addressing, build_context
from reconciler.parse.detectors import DETECTORS, Detector, Found
from reconciler.parse.mime import Limits, decoded, load
from reconciler.records import MessageKind, ParsedBounce, ParsedMessage

__all__ = ["DETECTORS", "MAX_RECIPIENTS", "Detector", "Limits", "parse"]

_DEFAULTS = Limits()
_DEFAULT_GIVEN = (
    _DEFAULTS.max_bytes,
    _DEFAULTS.max_parts,
    _DEFAULTS.max_depth,
    _DEFAULTS.max_headers,
)
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


MAX_RECIPIENTS = 1000  # recipient results kept per message (real bounces have a handful)


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


def parse(
    data: bytes,
    *,
    max_bytes: int = _DEFAULTS.max_bytes,
    max_parts: int = _DEFAULTS.max_parts,
    max_depth: int = _DEFAULTS.max_depth,
    max_headers: int = _DEFAULTS.max_headers,
) -> ParsedMessage:
    """Parse one message.  Never raises; failures come back as kind ERROR with `error` set."""
    if not isinstance(data, bytes | bytearray | memoryview):
        return ParsedMessage(kind=MessageKind.ERROR, error=f"not bytes: {type(data).__name__}")
    data = bytes(data)
    if not data.strip():
        return ParsedMessage(kind=MessageKind.ERROR, error="empty message")
    given = (max_bytes, max_parts, max_depth, max_headers)
    # the defaults' record is shared (building a frozen record is some 10,000 instructions)
    limits = _DEFAULTS if given == _DEFAULT_GIVEN else Limits(*given)
    try:
        return _parse(data, limits)
    # The contract of parse() is "never raises": one malformed message must not stop a cycle,
    # so any failure of the stdlib parser or ours becomes a value here (STYLE 2.8 exception).
    except Exception as err:
        return ParsedMessage(kind=MessageKind.ERROR, error=f"{type(err).__name__}: {err}")

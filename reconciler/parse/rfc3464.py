"""RFC 3464 delivery status notifications: every per-recipient block of message/delivery-status.

The fields are read from the parsed blocks when the MIME parser produced them, and from the
text otherwise (a base64-encoded status part, or DSN fields written into a text/plain part by
an MTA that does not build a proper report).
"""

from __future__ import annotations

import re
from typing import Final

from reconciler.parse.entity import Entity
from reconciler.parse.fields import (
    bare_address,
    pick_status,
    reply_code,
    split_typed,
)
from reconciler.parse.mime import MAX_VALUE
from reconciler.parse.stages import smtp_stage
from reconciler.records import MessageKind, ParsedBounce, Stage

__all__ = ["Draft", "StatusReport", "fields_from_part", "fields_from_text", "read_report"]

Field = tuple[str, str]
_SOURCE_ROUTE_RE: Final = re.compile(r"@[\w.-]+(?:,@[\w.-]+)*:")
# Domains no other system can route to: a name that is not fully qualified (RFC 5321 2.3.5;
# Sun Messaging Server's "user@sims-ms-daemon") or a special-use one (RFC 6761, 6762, 8375,
# ICANN's .internal) is an MTA's internal rewrite of the address we sent to.
_UNROUTABLE_RE: Final = re.compile(r"^[^.]+$|\.(?:local|localhost|invalid|internal|home\.arpa)$")
_RECIPIENT_FIELDS: Final = ("final-recipient", "original-recipient")
_PER_MESSAGE_FIELDS: Final = frozenset(
    {"reporting-mta", "arrival-date", "received-from-mta", "original-envelope-id", "dsn-gateway"}
)
_ACTION_KINDS: Final = {
    "failed": MessageKind.BOUNCE,
    "failure": MessageKind.BOUNCE,
    "delayed": MessageKind.DELAY,
    "delivered": MessageKind.DELIVERED,
    "relayed": MessageKind.DELIVERED,
    "expanded": MessageKind.DELIVERED,
}
_STATUS_KINDS: Final = {
    "5": MessageKind.BOUNCE,
    "4": MessageKind.BOUNCE,
    "2": MessageKind.DELIVERED,
}


class Draft:
    """One recipient's result as its status block gives it, which the detectors then fill in
    from the notice, changed in place: the ParsedBounce is built once, at the end (`built`),
    not once here and again for each change (a ParsedBounce costs some 10,000 instructions
    to build).  A plain class: the compiled build constructs it natively."""

    __slots__ = (
        "action",
        "detector",
        "diagnostic",
        "diagnostic_type",
        "extensions",
        "kind",
        "last_attempt",
        "original_recipient",
        "recipient",
        "remote_mta",
        "reply_code",
        "stage",
        "status",
    )

    def __init__(  # every field by keyword, as _bounce gives them
        self,
        *,
        kind: MessageKind,
        recipient: str | None,
        detector: str,
        original_recipient: str | None,
        action: str | None,
        status: str | None,
        reply_code: str | None,
        diagnostic: str,
        diagnostic_type: str | None,
        remote_mta: str | None,
        stage: Stage,
        last_attempt: str | None,
        extensions: tuple[tuple[str, str], ...],
    ) -> None:
        self.kind: Final = kind
        self.recipient = recipient
        self.detector: Final = detector
        self.original_recipient: Final = original_recipient
        self.action: Final = action
        self.status = status
        self.reply_code = reply_code
        self.diagnostic = diagnostic
        self.diagnostic_type: Final = diagnostic_type
        self.remote_mta = remote_mta
        self.stage = stage
        self.last_attempt: Final = last_attempt
        self.extensions = extensions

    def built(self) -> ParsedBounce:
        """The result as it stands (positional: in ParsedBounce's field order, the cheaper
        call; a status block gives no Feedback-Type)."""
        return ParsedBounce(
            self.kind,
            self.recipient,
            self.detector,
            self.original_recipient,
            self.action,
            self.status,
            self.reply_code,
            self.diagnostic,
            self.diagnostic_type,
            self.remote_mta,
            self.stage,
            self.last_attempt,
            None,
            self.extensions,
        )


class StatusReport:
    """What the status blocks said: per-message fields and one result per recipient.

    A plain class with read-only fields: the compiled build constructs it natively (mypyc runs
    a dataclass's __init__ as Python)."""

    __slots__ = ("arrival_date", "drafts", "reporting_mta")

    def __init__(
        self,
        *,
        reporting_mta: str | None,
        arrival_date: str | None,
        drafts: tuple[Draft, ...],
    ) -> None:
        self.reporting_mta: Final = reporting_mta
        self.arrival_date: Final = arrival_date
        self.drafts: Final = drafts


def fields_from_part(part: Entity) -> list[list[Field]]:
    """The blocks of a message/delivery-status part as lists of (lower-case name, value)."""
    return fields_from_text(part.payload().decode("utf-8", "replace"))


def fields_from_text(text: str) -> list[list[Field]]:
    """Split DSN-style text into blocks of fields; continuation lines are folded in."""
    blocks: list[list[Field]] = []
    block: list[Field] = []  # the block being read (appended once it has a field)
    for line in text.splitlines():
        if not line or line.isspace():  # (a blank line: no strip() copy to test it)
            if block:
                blocks.append(block)
                block = []
            continue
        if line[0] in " \t" and block:
            name, value = block[-1]
            block[-1] = (name, f"{value} {line.strip()}"[:MAX_VALUE])
            continue
        field = _field(line if len(line) <= MAX_VALUE else line[:MAX_VALUE])
        if field is not None:
            block.append(field)
    if block:
        blocks.append(block)
    return blocks


def _field(line: str) -> Field | None:
    """(lower-case name, value) of a field line, or None: what the regex
    `^([A-Za-z][A-Za-z0-9-]{1,40})[ \t]*:[ \t]*(.*)$` reads, with string methods."""
    colon = line.find(":")
    if colon < 2:
        return None
    written = line[:colon]
    name = _NAMES.get(written)
    if name is None:
        name = _name(written)
        # bounded: hostile input has endless distinct names (a field name is at most 41)
        if len(_NAMES) < _MAX_NAMES and len(written) <= 64:
            _NAMES[written] = name
    return (name, line[colon + 1 :].strip()) if name else None


# The text before the colon of the lines seen → the field name it makes, lower-cased, or ""
# (a report repeats a few names: one lookup instead of the checks and lower() each line).
_NAMES: Final[dict[str, str]] = {}
_MAX_NAMES: Final = 1000


def _name(written: str) -> str:
    """The field name of the text before a colon, lower-cased, or "" when it is none."""
    name = written.rstrip(" \t")
    if not 2 <= len(name) <= 41 or not name.isascii() or not name[0].isalpha():
        return ""
    if not name.replace("-", "").isalnum():
        return ""
    return name.lower()


def _records(blocks: list[list[Field]]) -> tuple[dict[str, str], list[list[Field]]]:
    """Per-message fields and per-recipient records (a block may hold several recipients,
    and some MTAs write Status or Diagnostic-Code before Final-Recipient)."""
    per_message: dict[str, str] = {}
    records: list[list[Field]] = []
    for block in blocks:
        if not any(name in _RECIPIENT_FIELDS for name, _ in block):
            for name, value in block:
                per_message.setdefault(name, value)
            continue
        current: list[Field] = []
        records.append(current)
        for name, value in block:
            if name in _PER_MESSAGE_FIELDS:
                per_message.setdefault(name, value)
                continue
            if name in _RECIPIENT_FIELDS and any(n == name for n, _ in current):
                current = []
                records.append(current)
            current.append((name, value))
    return per_message, records


def _source_routed(value: str) -> bool:
    """`_SOURCE_ROUTE_RE.search(value)`, searched only where an "@" has a ":" after it (every
    match has: most values have none)."""
    at = value.find("@")
    return at >= 0 and value.find(":", at) >= 0 and _SOURCE_ROUTE_RE.search(value) is not None


def _routable(field: str, address: str | None) -> bool:
    """An Internet address (type rfc822, or untyped) in a domain other systems can route to."""
    kind, sep, _ = field.partition(";")
    if sep and kind.strip().lower() not in ("rfc822", ""):
        return False  # x400, unknown, ...
    domain = (address or "").rpartition("@")[2]
    if domain.startswith("["):
        return True  # an address literal
    return bool(domain) and _UNROUTABLE_RE.search(domain) is None


def _kind(action: str | None, status: str | None) -> MessageKind:
    if action:
        kind = _ACTION_KINDS.get(action.split()[0].lower())
        if kind is not None:
            return kind
    return _STATUS_KINDS.get((status or "5")[0], MessageKind.BOUNCE)


def _bounce(record: list[Field], detector: str, stages: dict[str, Stage]) -> Draft | None:
    """The Draft of one recipient record (`stages`: the SMTP stage of each diagnostic read
    so far in the report; recipients of one report often share their diagnostic)."""
    values: dict[str, str] = {}
    for name, value in record:
        values.setdefault(name, value)
    final = bare_address(values.get("final-recipient"))
    original = bare_address(values.get("original-recipient"))
    if original and _source_routed(values.get("final-recipient", "")):
        final = original  # "@relay:user@host": the original address is the real one
    if final is None and original is None:
        return None
    rewritten = None
    if original and final != original and not _routable(values.get("final-recipient", ""), final):
        rewritten, final = final, original  # an internal name: the original is what we mailed
    diag_type, diagnostic = split_typed(values.get("diagnostic-code"))
    status, raw_status = pick_status(values.get("status"), diagnostic)
    extensions = [(n, v) for n, v in record if n.startswith("x-")]
    if raw_status is not None:
        extensions.append(("status-field", raw_status))
    if rewritten is not None:
        extensions.append(("final-recipient-field", rewritten))
    action = values.get("action", "").strip().lower() or None
    return Draft(
        kind=_kind(action, status),
        recipient=final or original,
        detector=detector,
        original_recipient=original,
        action=action,
        status=status,
        reply_code=reply_code(diagnostic),
        diagnostic=diagnostic,
        diagnostic_type=diag_type,
        remote_mta=split_typed(values.get("remote-mta"))[1] or None,
        stage=_stage(diagnostic, stages),
        last_attempt=values.get("last-attempt-date"),
        extensions=tuple(extensions),
    )


def _stage(diagnostic: str, stages: dict[str, Stage]) -> Stage:
    """`smtp_stage(diagnostic) or Stage.UNKNOWN` ("" names none), read once per text of
    `stages` (a pure function of the text)."""
    if not diagnostic:
        return Stage.UNKNOWN
    stage = stages.get(diagnostic)
    if stage is None:
        stage = stages[diagnostic] = smtp_stage(diagnostic) or Stage.UNKNOWN
    return stage


def read_report(blocks: list[list[Field]], detector: str = "rfc3464") -> StatusReport:
    """One result (a Draft) per recipient record of the status blocks."""
    per_message, records = _records(blocks)
    stages: dict[str, Stage] = {}
    drafts = [_bounce(record, detector, stages) for record in records]
    return StatusReport(
        reporting_mta=split_typed(per_message.get("reporting-mta"))[1] or None,
        arrival_date=per_message.get("arrival-date"),
        drafts=tuple(d for d in drafts if d is not None),
    )

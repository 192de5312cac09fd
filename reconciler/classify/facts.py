"""What the rules read of a recipient result (`RuleFacts`), from a parsed message or from a
stored event: one normalisation for both, so that a replay of the stored evidence classifies
exactly as the message was classified when it arrived.

Every text is cut to its `FACT_LIMITS` length and made valid text (no lone surrogate, no NUL:
what the store keeps of it), the fields the rules compare without case are lower-cased, and
the provider evidence is reduced to what the rules look at: the reporting MTA and the domain
of the notice's sender.  Pure.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from reconciler.records import (
    FACT_LIMITS,
    MessageKind,
    ParsedBounce,
    ParsedMessage,
    RuleFacts,
    Stage,
)
from reconciler.validtext import valid_text

if TYPE_CHECKING:  # the ledger records are not imported by a run that only classifies
    from reconciler.records import BounceEvent

__all__ = ["has_code", "message_facts", "provider_hosts", "rule_facts", "stored_facts"]

# The statuses that say no more than the class (what r"^[245]\.0\.0$" matches: "$" also
# before a final newline), and no status: not a specific code.
_NOT_SPECIFIC = frozenset(["", *(f"{c}.0.0{end}" for c in "245" for end in ("", "\n"))])
_HOST_RE = re.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+")
_SENDER_DOMAIN_RE = re.compile(r"@([a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+)")


# FACT_LIMITS in the order of `_facts`'s values (read once: a dict lookup by name per field
# and result cost more than the cut)
_FIELDS = (
    "status",
    "reply_code",
    "diagnostic",
    "remote_mta",
    "domain",
    "action",
    "diagnostic_type",
    "reporting_mta",
    "sender_domain",
)
_LIMITS: tuple[int, ...] = tuple(FACT_LIMITS[name] for name in _FIELDS)


def _cut(text: str | None, limit: int) -> str:
    if not text:  # most fields of most results are absent: no slice, no tests
        return ""
    cut = text[:limit] if len(text) > limit else text
    # ASCII without NUL is valid text as it is (the common case: no call into validtext)
    return cut if cut.isascii() and "\x00" not in cut else valid_text(cut)


def _lower(text: str | None) -> str:
    return text.lower() if text else ""


def _domain(address: str) -> str:
    """The part after the last "@" (the whole text when there is none), lower case."""
    return address.rpartition("@")[2].lower()


def _facts(kind: MessageKind, stage: Stage, values: tuple[str | None, ...]) -> RuleFacts:
    """The facts of the `_FIELDS` `values` (domain, action, diagnostic type and sender domain
    lower-cased here), built positionally (in RuleFacts' field order: the cheaper call)."""
    limits = _LIMITS
    return RuleFacts(
        kind,
        _cut(values[0], limits[0]),
        _cut(values[1], limits[1]),
        _cut(values[2], limits[2]),
        _cut(values[3], limits[3]),
        _cut(_lower(values[4]), limits[4]),
        stage,
        _cut(_lower(values[5]), limits[5]),
        _cut(_lower(values[6]), limits[6]),
        _cut(values[7], limits[7]),
        _cut(_lower(values[8]), limits[8]),
    )


def rule_facts(bounce: ParsedBounce, report: ParsedMessage | None = None) -> RuleFacts:
    """The facts of one recipient result (`report`, the parsed message it came from, gives
    the provider evidence: the reporting MTA and the domain the notice came from)."""
    if report is None:
        return _bounce_facts(bounce, None, None)
    return _bounce_facts(bounce, report.reporting_mta, _sender_domain(report.from_))


def message_facts(report: ParsedMessage) -> tuple[RuleFacts, ...]:
    """`rule_facts` of each recipient result of a parsed message, in order: the provider
    evidence, the same for all, read once."""
    reporting, sender = report.reporting_mta, _sender_domain(report.from_)
    return tuple([_bounce_facts(bounce, reporting, sender) for bounce in report.bounces])


def _sender_domain(sender: str | None) -> str | None:
    """The domain of the last address in a notice's From (None when there is none)."""
    found = _SENDER_DOMAIN_RE.findall(sender.lower()) if sender else []
    return found[-1] if found else None


def _bounce_facts(
    bounce: ParsedBounce, reporting_mta: str | None, sender_domain: str | None
) -> RuleFacts:
    """The facts of a result, given its message's provider evidence."""
    return _facts(
        bounce.kind,
        bounce.stage,
        (
            bounce.status,
            bounce.reply_code,
            bounce.diagnostic,
            bounce.remote_mta,
            _domain(bounce.recipient or ""),
            bounce.action,
            bounce.diagnostic_type,
            reporting_mta,
            sender_domain,
        ),
    )


def stored_facts(event: BounceEvent) -> RuleFacts:
    """The facts of a stored event.  An event recorded before the store kept them all
    (`final_domain` None) gives what it has: its recipient's domain, no DSN action, no
    diagnostic type and no provider evidence beyond the remote MTA."""
    domain = event.final_domain
    if domain is None:
        domain = _domain(event.recipient) if "@" in event.recipient else ""
    return _facts(
        event.kind,
        event.stage,
        (
            event.status,
            event.reply_code,
            event.diagnostic,
            event.remote_mta,
            domain,
            event.action,
            event.diagnostic_type,
            event.reporting_mta,
            event.sender_domain,
        ),
    )


def provider_hosts(facts: RuleFacts) -> list[str]:
    """Provider evidence: the remote and reporting MTAs' host names, the domain the notice
    came from, and the recipient's domain."""
    mtas = f"{facts.remote_mta} {facts.reporting_mta}".lower()
    sender = [facts.sender_domain] if facts.sender_domain else []
    return [*_HOST_RE.findall(mtas), *sender, facts.domain]


def has_code(facts: RuleFacts) -> bool:
    """A specific status (not X.0.0) or a reply code is known."""
    return facts.status not in _NOT_SPECIFIC or bool(facts.reply_code)

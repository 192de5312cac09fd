"""One message, end to end through the pure stages: bytes → parse → VERP → classify → the
ledger entry (with its events) to record.

This is what `classify`, `explain`, `dry-run` and the poll cycle all run for each message, so
that the command line and the daemon can never disagree about what a message is.  Pure (no
I/O, no clock): the same message, rules, keys and time give the same entry.  The cycle runs it
in the polling process or in helper processes (`service.helper_pool`), which import this
module and what it needs only, not the store, IMAP or the command line.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Protocol, TypeAlias

from reconciler.classify.facts import message_facts
from reconciler.classify.match import Classifier
from reconciler.frozenrecord import frozen_record
from reconciler.parse import parse
from reconciler.records import (
    Classification,
    MessageKind,
    ParsedBounce,
    ParsedMessage,
    RuleFacts,
)

# `classify` imports this module for `analyse` alone: what only the ledger entry of a fetched
# message needs (the ledger records, hashlib, traceback), and the VERP stage when no VERP
# settings are given, is imported by the functions that use it (issue 16: some 20 ms of a
# one-file `classify --json`, the settings and email.utils among them).
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from reconciler.records import (
        BounceEvent,
        LedgerEntry,
        MessageOutcome,
        RawMessage,
        VerpFailure,
        VerpMatch,
    )
    from reconciler.settings import VerpSettings

__all__ = [
    "Analysed",
    "Analysis",
    "Destinations",
    "Failed",
    "Folders",
    "RecipientVerdict",
    "Stages",
    "analyse",
    "analyse_batch",
    "analyse_parsed",
    "ledger_entry",
    "quarantined",
]


@frozen_record
class RecipientVerdict:
    """One recipient result with its classification, and what the rules read of it."""

    bounce: ParsedBounce
    classification: Classification
    facts: RuleFacts


@frozen_record
class Analysis:
    """Everything the pure stages say about one message."""

    message: ParsedMessage
    verdicts: tuple[RecipientVerdict, ...]
    verp: VerpMatch | None  # None when no VERP settings were given

    @property
    def kind(self) -> MessageKind:
        return self.message.kind


def analyse_parsed(
    message: ParsedMessage,
    classifier: Classifier,
    verp: VerpSettings | None,
    now: int,
) -> Analysis:
    """Classify every recipient result of a parsed message and look for its VERP token."""
    # one facts record per result (`message_facts`), paired by index: a loop, not a zip
    # with strict=True or a comprehension (each built anew per message: some 3,000
    # instructions of a message that the loop does not cost)
    classify, facts = classifier.classify_facts, message_facts(message)
    verdicts = []
    for index, bounce in enumerate(message.bounces):
        fact = facts[index]
        verdicts.append(RecipientVerdict(bounce, classify(fact), fact))
    match = None if verp is None else _find_token()(message, verp, now)
    return Analysis(message, tuple(verdicts), match)


def analyse(data: bytes, classifier: Classifier, verp: VerpSettings | None, now: int) -> Analysis:
    """Parse raw bytes and analyse them; never raises for bad input (the parser does not)."""
    return analyse_parsed(parse(data), classifier, verp, now)


# -- the ledger entry of a fetched message ----------------------------------------------------


class Folders(Protocol):
    """Where messages go (a mailbox's settings, or `Destinations`)."""

    @property
    def processed_folder(self) -> str: ...
    @property
    def unmatched_folder(self) -> str: ...
    @property
    def quarantine_folder(self) -> str: ...


@frozen_record
class Destinations:
    """A mailbox's destination folders alone (what a helper process is given; no secrets)."""

    processed_folder: str
    unmatched_folder: str
    quarantine_folder: str

    @classmethod
    def of(cls, folders: Folders) -> Destinations:
        return cls(folders.processed_folder, folders.unmatched_folder, folders.quarantine_folder)


@frozen_record
class Stages:
    """The pure stages' inputs: the compiled rules and the VERP keys (picklable)."""

    classifier: Classifier
    verp: VerpSettings | None


@frozen_record
class Failed:
    """A message whose analysis raised: retried on later cycles, then quarantined."""

    error: str  # repr of the exception
    trace: str  # its traceback, for the log


Analysed: TypeAlias = "LedgerEntry | Failed"


class _Inputs(Protocol):
    """What the analysis reads: `Stages`, or the cycle's context."""

    @property
    def classifier(self) -> Classifier: ...
    @property
    def verp(self) -> VerpSettings | None: ...


class _Late:
    """What only the ledger entry of a fetched message needs (see the imports above): imported
    at the first entry a process makes, then read as attributes (``import`` statements in the
    functions ran for every message: some 5 µs of each; issue 16)."""

    __slots__ = (
        "binds",
        "bounce_event",
        "diagnostic_limit",
        "ledger_entry",
        "outcomes",
        "sha256",
        "utc",
        "verp_failure",
    )

    def __init__(self) -> None:
        from datetime import UTC
        from hashlib import sha256

        from reconciler.records.ledger import BounceEvent, LedgerEntry, MessageOutcome
        from reconciler.records.mail import FACT_LIMITS, VerpFailure
        from reconciler.verp import binds

        self.utc, self.sha256, self.binds = UTC, sha256, binds
        self.bounce_event, self.ledger_entry, self.outcomes = (
            BounceEvent,
            LedgerEntry,
            MessageOutcome,
        )
        self.diagnostic_limit, self.verp_failure = FACT_LIMITS["diagnostic"], VerpFailure


_late = functools.cache(_Late)


@functools.cache
def _find_token() -> Callable[[ParsedMessage, VerpSettings, int], VerpMatch]:
    """The VERP search, imported when first given VERP settings (see the imports above)."""
    from reconciler.verp import find_token

    return find_token


def _event_time(raw: RawMessage, now: datetime) -> datetime:
    """The server's INTERNALDATE (not forgeable by the bounce's author), never in the future."""
    if raw.received_at is None:
        return now
    return min(raw.received_at.astimezone(_late().utc), now)


def _recipient(
    verp: VerpSettings | None, match: VerpMatch | None, bounce: ParsedBounce
) -> tuple[str, bool | None]:
    """The address a result is recorded for, and whether the token binds it (None: it cannot
    tell: the token binds nothing, did not verify, or the result names no address).

    The final recipient, else the original recipient (the address as we sent it, before a
    forward): the one the token binds is recorded, since the evidence is about that address.
    """
    final = (bounce.recipient or "").lower()
    if verp is None or match is None or not match.valid:
        return final, None
    binds = _late().binds
    named = (final, (bounce.original_recipient or "").strip().strip("<>").lower())
    verdicts = [(address, binds(verp, match, address)) for address in named if address]
    for address, bound in verdicts:
        if bound:
            return address, True
    if verdicts and verdicts[0][1] is False:
        return verdicts[0][0], False
    return final, None


def _events(
    analysis: Analysis, verp: VerpSettings | None, when: datetime
) -> tuple[BounceEvent, ...]:
    late = _late()
    event, limit = late.bounce_event, late.diagnostic_limit
    mismatch = late.verp_failure.ADDRESS_MISMATCH
    match = analysis.verp
    # what the token says is the same for every result of the message
    valid = match is not None and match.valid
    realm = user_id = send = None
    if valid and match:
        realm, user_id, send = match.realm or "", match.user_id, match.send_ref
    failure = _failure(match)
    original = analysis.message.original
    message_id = original.message_id if original else None
    events = []
    for v in analysis.verdicts:
        recipient, bound = _recipient(verp, match, v.bounce)
        bounce, classification, facts = v.bounce, v.classification, v.facts
        events.append(
            event(
                recipient=recipient,
                kind=bounce.kind,
                reason=classification.reason,
                severity=classification.severity,
                fault=classification.fault,
                rule_id=classification.rule_id,
                event_time=when,
                status=bounce.status,
                reply_code=bounce.reply_code,
                # as much as the rules read; the store makes it valid text, as the rules did
                diagnostic=bounce.diagnostic[:limit],
                remote_mta=bounce.remote_mta,
                original_message_id=message_id,
                realm=realm,
                user_id=user_id,
                verp_valid=valid and bound is not False,  # a mismatch is never verified evidence
                verp_failure=mismatch if bound is False else failure,
                send_ref=send,
                address_bound=bound is True,
                original_recipient=(bounce.original_recipient or "").lower() or None,
                stage=bounce.stage,
                action=facts.action,
                diagnostic_type=facts.diagnostic_type,
                reporting_mta=facts.reporting_mta,
                sender_domain=facts.sender_domain,
                final_domain=facts.domain,
                detector=bounce.detector,
            )
        )
    return tuple(events)


def _failure(match: VerpMatch | None) -> VerpFailure | None:
    return match.failure if match is not None else None


def _outcome(
    analysis: Analysis, events: tuple[BounceEvent, ...], folders: Folders
) -> tuple[MessageOutcome, str]:
    """Where a message goes: quarantine if not understood, processed if its token verified
    (for at least one of its results: every one an address mismatch is unmatched)."""
    outcomes = _late().outcomes
    if analysis.kind is MessageKind.ERROR:
        return outcomes.QUARANTINED, folders.quarantine_folder
    valid = analysis.verp is not None and analysis.verp.valid
    if events:
        valid = any(e.verp_valid for e in events)
    folder = folders.processed_folder if valid else folders.unmatched_folder
    if not analysis.verdicts:
        return outcomes.SKIPPED, folder
    return (outcomes.PROCESSED if valid else outcomes.UNMATCHED), folder


def ledger_entry(
    raw: RawMessage, ctx: _Inputs, folders: Folders, now: datetime
) -> tuple[LedgerEntry, Analysis]:
    """Analyse one fetched message into the ledger entry (with events) to record."""
    late = _late()
    analysis = analyse(raw.data, ctx.classifier, ctx.verp, int(now.timestamp()))
    understood = analysis.kind is not MessageKind.ERROR
    received = _event_time(raw, now)
    events = _events(analysis, ctx.verp, received) if understood else ()
    outcome, destination = _outcome(analysis, events, folders)
    entry = late.ledger_entry(
        mailbox=raw.mailbox,
        uidvalidity=raw.uidvalidity,
        uid=raw.uid,
        sha256=late.sha256(raw.data).hexdigest(),
        size=raw.size or len(raw.data),
        outcome=outcome,
        received_at=received,
        processed_at=now,
        message_id=analysis.message.message_id,
        destination=destination,
        events=events,
        error=None if understood else f"not understood: {analysis.message.error or '-'}",
    )
    return entry, analysis


def quarantined(
    raw: RawMessage, folders: Folders, now: datetime, error: str | None = None
) -> LedgerEntry:
    """The entry of a message given up on: recorded without events, moved to quarantine,
    with the `error` its analysis last failed with."""
    late = _late()
    return late.ledger_entry(
        mailbox=raw.mailbox,
        uidvalidity=raw.uidvalidity,
        uid=raw.uid,
        sha256=late.sha256(raw.data).hexdigest(),
        size=raw.size or len(raw.data),
        outcome=late.outcomes.QUARANTINED,
        received_at=_event_time(raw, now),
        processed_at=now,
        destination=folders.quarantine_folder,
        error=error,
    )


def analyse_batch(
    stages: Stages, batch: Sequence[RawMessage], folders: Folders, now: datetime
) -> list[Analysed]:
    """The ledger entry of each message, or why its analysis failed (in this process or in a
    helper process: see `service.helper_pool`)."""
    out: list[Analysed] = []
    for raw in batch:
        try:
            out.append(ledger_entry(raw, stages, folders, now)[0])
        except Exception as err:  # the cycle boundary: one bad message never stops the cycle
            import traceback

            out.append(Failed(repr(err)[:500], traceback.format_exc(limit=20)))
    return out

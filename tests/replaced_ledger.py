"""The ledger entry of a fetched message as `reconciler.analysis` made it before issue 16 cut
its per-message imports and its second `_event_time`: kept, as it was, for the test that holds
the rewrite to it (tests/test_ledger_equivalence.py)."""

from __future__ import annotations

from datetime import datetime

from reconciler.analysis import Analysis, Folders, _Inputs, analyse
from reconciler.records import (
    BounceEvent,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    ParsedBounce,
    RawMessage,
    VerpFailure,
    VerpMatch,
)
from reconciler.settings import VerpSettings

__all__ = ["old_ledger_entry", "old_quarantined"]


def _event_time(raw: RawMessage, now: datetime) -> datetime:
    """The server's INTERNALDATE (not forgeable by the bounce's author), never in the future."""
    from datetime import UTC

    if raw.received_at is None:
        return now
    return min(raw.received_at.astimezone(UTC), now)


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
    from reconciler.verp import binds

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
    from reconciler.records.ledger import BounceEvent
    from reconciler.records.mail import FACT_LIMITS, VerpFailure

    match = analysis.verp
    valid = match is not None and match.valid
    original = analysis.message.original
    events = []
    for v in analysis.verdicts:
        recipient, bound = _recipient(verp, match, v.bounce)
        verified = valid and bound is not False  # a mismatch is never verified evidence
        events.append(
            BounceEvent(
                recipient=recipient,
                kind=v.bounce.kind,
                reason=v.classification.reason,
                severity=v.classification.severity,
                fault=v.classification.fault,
                rule_id=v.classification.rule_id,
                event_time=when,
                status=v.bounce.status,
                reply_code=v.bounce.reply_code,
                # as much as the rules read; the store makes it valid text, as the rules did
                diagnostic=v.bounce.diagnostic[: FACT_LIMITS["diagnostic"]],
                remote_mta=v.bounce.remote_mta,
                original_message_id=original.message_id if original else None,
                realm=(match.realm or "") if valid and match else None,
                user_id=match.user_id if valid and match else None,
                verp_valid=verified,
                verp_failure=VerpFailure.ADDRESS_MISMATCH if bound is False else _failure(match),
                send_ref=match.send_ref if valid and match else None,
                address_bound=bound is True,
                original_recipient=(v.bounce.original_recipient or "").lower() or None,
                stage=v.bounce.stage,
                action=v.facts.action,
                diagnostic_type=v.facts.diagnostic_type,
                reporting_mta=v.facts.reporting_mta,
                sender_domain=v.facts.sender_domain,
                final_domain=v.facts.domain,
                detector=v.bounce.detector,
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
    from reconciler.records.ledger import MessageOutcome

    if analysis.kind is MessageKind.ERROR:
        return MessageOutcome.QUARANTINED, folders.quarantine_folder
    valid = analysis.verp is not None and analysis.verp.valid
    if events:
        valid = any(e.verp_valid for e in events)
    folder = folders.processed_folder if valid else folders.unmatched_folder
    if not analysis.verdicts:
        return MessageOutcome.SKIPPED, folder
    return (MessageOutcome.PROCESSED if valid else MessageOutcome.UNMATCHED), folder


def old_ledger_entry(
    raw: RawMessage, ctx: _Inputs, folders: Folders, now: datetime
) -> tuple[LedgerEntry, Analysis]:
    """Analyse one fetched message into the ledger entry (with events) to record."""
    import hashlib

    from reconciler.records.ledger import LedgerEntry

    analysis = analyse(raw.data, ctx.classifier, ctx.verp, int(now.timestamp()))
    understood = analysis.kind is not MessageKind.ERROR
    events = _events(analysis, ctx.verp, _event_time(raw, now)) if understood else ()
    outcome, destination = _outcome(analysis, events, folders)
    entry = LedgerEntry(
        mailbox=raw.mailbox,
        uidvalidity=raw.uidvalidity,
        uid=raw.uid,
        sha256=hashlib.sha256(raw.data).hexdigest(),
        size=raw.size or len(raw.data),
        outcome=outcome,
        received_at=_event_time(raw, now),
        processed_at=now,
        message_id=analysis.message.message_id,
        destination=destination,
        events=events,
        error=None if understood else f"not understood: {analysis.message.error or '-'}",
    )
    return entry, analysis


def old_quarantined(
    raw: RawMessage, folders: Folders, now: datetime, error: str | None = None
) -> LedgerEntry:
    """The entry of a message given up on: recorded without events, moved to quarantine,
    with the `error` its analysis last failed with."""
    import hashlib

    from reconciler.records.ledger import LedgerEntry, MessageOutcome

    return LedgerEntry(
        mailbox=raw.mailbox,
        uidvalidity=raw.uidvalidity,
        uid=raw.uid,
        sha256=hashlib.sha256(raw.data).hexdigest(),
        size=raw.size or len(raw.data),
        outcome=MessageOutcome.QUARANTINED,
        received_at=_event_time(raw, now),
        processed_at=now,
        destination=folders.quarantine_folder,
        error=error,
    )

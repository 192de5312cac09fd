"""What the cycle records and the store keeps: the message ledger, bounce events, checkpoints
and the messages a stage failed on (STYLE 2.6, 2.11).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.frozenrecord import frozen_record
from reconciler.records.mail import Fault, MessageKind, Reason, Severity, Stage, VerpFailure

__all__ = [
    "BatchResult",
    "BounceEvent",
    "BounceRecord",
    "Checkpoint",
    "HeldMessage",
    "LeaseScope",
    "LeaseTerms",
    "LedgerEntry",
    "MessageOutcome",
    "Unprocessed",
]


class MessageOutcome(StrEnum):
    """What the cycle did with one fetched message (stored in the message ledger)."""

    PROCESSED = "processed"  # understood; its events were recorded against a VERP user
    UNMATCHED = "unmatched"  # understood, but no valid VERP token: events recorded without user
    SKIPPED = "skipped"  # nothing to record (not a bounce, or nothing usable in it)
    QUARANTINED = "quarantined"  # failed too often; moved aside for a human
    DUPLICATE = "duplicate"  # same bytes as a message already in the ledger (replay, re-UID)
    REQUEUED = "requeued"  # moved back to be analysed again: a later row holds its verdict


@frozen_record
class BounceEvent:
    """One recipient result of one message, as recorded in the store (STYLE 2.6).

    Unique per (message, recipient): recording it twice is a no-op.  `recipient` is "" when the
    report named nobody.  `realm`/`user_id` are set only when the VERP token verified (also
    when `verp_failure` is ADDRESS_MISMATCH, then with `verp_valid` false: whose token it was).
    `address_bound`: the token binds `recipient` (it proves we sent to that address).
    """

    recipient: str
    kind: MessageKind
    reason: Reason
    severity: Severity
    fault: Fault
    rule_id: str
    event_time: datetime  # when the failure happened (Arrival-Date / Date), else fetch time
    status: str | None = None
    reply_code: str | None = None
    diagnostic: str = ""
    remote_mta: str | None = None
    original_message_id: str | None = None
    realm: str | None = None
    user_id: int | None = None
    verp_valid: bool = False
    verp_failure: VerpFailure | None = None
    send_ref: str | None = None  # our reference of the send, from the VERP token
    address_bound: bool = False
    # the address the report says was mailed (RFC 3464 Original-Recipient), when it names one;
    # `recipient` is the final one when routable, else this one
    original_recipient: str | None = None
    stage: Stage = Stage.UNKNOWN  # where in the SMTP dialogue it failed
    # the rest of what the rules read (`RuleFacts`; migration 11), so that a replay classifies
    # the stored event exactly as the message was classified: `final_domain` None marks an
    # event recorded before (replayed from the fields it has)
    action: str = ""
    diagnostic_type: str = ""
    reporting_mta: str = ""
    sender_domain: str = ""
    final_domain: str | None = None
    detector: str = ""  # which parser read it (shown by `review show`)

    def names(self, address: str) -> bool:
        """The result is about `address`: its recipient or its original recipient (matching a
        bounce to what we sent accepts either; case-insensitive)."""
        wanted = address.strip().casefold()
        return wanted in (self.recipient.casefold(), (self.original_recipient or "").casefold())


@frozen_record
class LedgerEntry:
    """One message of the ledger: where it was, its fingerprint, and what became of it.

    `destination` is the folder the message is to be moved to (None: leave it where it is);
    `moved_at` is set once the MOVE was done.  `events` are the recipient results to record
    with it; entries read back from the store carry no events.
    """

    mailbox: str
    uidvalidity: int
    uid: int
    sha256: str  # hex digest of the raw bytes as fetched
    size: int
    outcome: MessageOutcome
    received_at: datetime  # when the message was fetched
    processed_at: datetime
    message_id: str | None = None
    destination: str | None = None
    moved_at: datetime | None = None
    events: tuple[BounceEvent, ...] = ()
    error: str | None = None  # why it was quarantined (not understood, failed, refused)


@frozen_record
class BatchResult:
    """What `record_batch` did, by UID (all UIDs of the batch appear exactly once)."""

    recorded: tuple[int, ...] = ()  # new ledger rows with their events
    duplicates: tuple[int, ...] = ()  # new ledger rows, but known bytes: events not counted
    already: tuple[int, ...] = ()  # (mailbox, uidvalidity, uid) was in the ledger: no change
    requeued: tuple[int, ...] = ()  # of `recorded`: known bytes let through once (`requeue`)


@frozen_record
class HeldMessage:
    """A message in a quarantine or unmatched folder, as `requeue` finds and previews it."""

    mailbox: str  # the configured mailbox name
    folder: str  # the folder it is in
    uidvalidity: int
    uid: int
    sha256: str  # of the bytes as the cycle fetches them: what the ledger knows it by
    size: int
    received_at: datetime | None  # its INTERNALDATE (kept by a move)
    subject: str = ""
    outcome: MessageOutcome | None = None  # what the ledger recorded for it (None: unknown)
    recorded_at: datetime | None = None  # when the ledger recorded it

    @property
    def since(self) -> datetime | None:
        """When it was set aside: recorded by the ledger, else its arrival."""
        return self.recorded_at or self.received_at


@frozen_record
class Checkpoint:
    """How far a mailbox has been read: the highest UID handled under one UIDVALIDITY."""

    mailbox: str
    uidvalidity: int
    last_uid: int
    last_success: datetime | None = None  # end of the last cycle that completed


@frozen_record
class Unprocessed:
    """A message some stage failed on; it stays in place and is retried, then quarantined."""

    mailbox: str
    uidvalidity: int
    uid: int
    stage: str  # "fetch" | "parse" | "verp" | "classify" | "store" | "move"
    error: str


class LeaseScope(StrEnum):
    """What a worker lease is held on (the store's `lease` table: one holder per name)."""

    MAILBOX = "mailbox"  # who drains a mailbox
    STAGE = "stage"  # who runs a shared stage, such as the decide stage
    WORKER = "worker"  # a worker's own presence, renewed while it runs


@frozen_record
class LeaseTerms:
    """Who this worker is and how long a lease lasts without renewal."""

    worker: str
    ttl: timedelta


@frozen_record
class BounceRecord:
    """One row of MediaWiki BounceHandler's `bounce_records` table (the import, issue 15)."""

    id: int  # br_id
    address: str  # br_user_email: the user's address at the time
    at: datetime  # br_timestamp: when the bounced mail was sent (UTC)
    subject: str  # br_reason: only the bounce's Subject

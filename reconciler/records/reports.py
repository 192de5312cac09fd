"""Reports (`report`, `user show`, `status`): what the store's report queries return."""

from __future__ import annotations

from datetime import date, datetime

from reconciler.frozenrecord import frozen_record
from reconciler.records.actions import (
    ActionRecord,
    ActionStatus,
    AuditEntry,
    ModeState,
    StoredDecision,
    Suppression,
)
from reconciler.records.ledger import BounceEvent, Checkpoint, MessageOutcome
from reconciler.records.mail import Fault, MessageKind, Reason, Severity
from reconciler.records.policy import Disposition, Incident, Mode, Trigger
from reconciler.records.probes import Probe, ProbeState
from reconciler.settings import PolicySettings

__all__ = [
    "ActionCount",
    "DayCount",
    "DecisionSummary",
    "EventSummary",
    "Health",
    "MailboxHealth",
    "MailboxState",
    "Overview",
    "Standing",
    "StoredEvent",
    "Trail",
    "UserSelector",
]


@frozen_record
class DayCount:
    """Bounce events of one UTC day, by severity."""

    day: date
    hard: int = 0
    soft: int = 0
    none: int = 0

    @property
    def total(self) -> int:
        return self.hard + self.soft + self.none


@frozen_record
class EventSummary:
    """Bounce events with event time in a period, counted by field.

    `kinds`, `severities`, `reasons` and `faults` hold every member of their enum (0 when
    none was seen), in enum order; `domains` and `remote_mtas` the most frequent, descending.
    """

    total: int
    kinds: tuple[tuple[MessageKind, int], ...]
    severities: tuple[tuple[Severity, int], ...]
    reasons: tuple[tuple[Reason, int], ...]
    faults: tuple[tuple[Fault, int], ...]
    domains: tuple[tuple[str, int], ...]  # recipient domain ("" when no recipient was named)
    remote_mtas: tuple[tuple[str, int], ...]  # "" when unknown
    days: tuple[DayCount, ...]  # ascending, only days with events


@frozen_record
class ActionCount:
    """How often one action ended with one status (action log rows of a period)."""

    action: str
    status: ActionStatus
    count: int


@frozen_record
class DecisionSummary:
    """Decisions made in a period: by disposition and trigger (every member), and their fate."""

    total: int
    dispositions: tuple[tuple[Disposition, int], ...]
    triggers: tuple[tuple[Trigger, int], ...]
    applied: int  # of these decisions, how many had their actions run (applied_at set)
    undone: int
    actions: tuple[ActionCount, ...]  # action log rows written in the period


@frozen_record
class StoredEvent:
    """A recorded bounce event with its id and where its message was read."""

    id: int
    mailbox: str
    uidvalidity: int
    uid: int
    recorded_at: datetime
    event: BounceEvent


@frozen_record
class UserSelector:
    """Whose evidence trail: a user (realm None: any realm) or an address (normalised)."""

    realm: str | None = None
    user_id: int | None = None
    address: str | None = None


@frozen_record
class MailboxState:
    """What the store knows of one mailbox: its checkpoint and the work left in the ledger."""

    mailbox: str
    checkpoint: Checkpoint | None
    unmoved: int  # committed under the current UIDVALIDITY, not yet moved (crash or failure)
    retrying: int  # messages with failed attempts, waiting to be retried or quarantined


@frozen_record
class Standing:
    """A verified user's counted bounce days as the policy sees them now, vs the thresholds."""

    realm: str
    user_id: int
    address: str | None
    hard_days: int
    soft_days: int
    closeness: float  # the larger of hard_days/hard.days and soft_days/soft.days (1.0: acts)
    trigger: Trigger | None  # the rule that fires now (None: below every threshold)


@frozen_record
class Overview:
    """Everything `reconciler report` shows for one period (and optionally one mailbox)."""

    since: datetime
    until: datetime
    mailbox: str | None
    policy: PolicySettings
    mode: ModeState
    last_trip: AuditEntry | None  # the latest breaker audit row (any time)
    events: EventSummary
    outcomes: tuple[tuple[MessageOutcome, int], ...]  # ledger messages processed in the period
    standings: tuple[Standing, ...]  # closest to a threshold first
    decisions: DecisionSummary
    incidents: tuple[Incident, ...]
    checkpoints: tuple[Checkpoint, ...]
    probes: tuple[Probe, ...] = ()  # open probes (any time): decisions waiting for them
    probe_counts: tuple[tuple[ProbeState, int], ...] = ()  # probes recorded in the period


@frozen_record
class Trail:
    """The whole evidence trail of one user or address, each item with the mode in force."""

    selector: UserSelector
    events: tuple[tuple[StoredEvent, Mode], ...]
    decisions: tuple[StoredDecision, ...]  # each carries the mode it was made in
    actions: tuple[tuple[ActionRecord, Mode], ...]
    audit: tuple[tuple[AuditEntry, Mode], ...]  # undo / reinstate / apply-pending rows
    suppressions: tuple[Suppression, ...]
    probes: tuple[tuple[Probe, Mode], ...] = ()  # probes to the user or address (any state)


@frozen_record
class MailboxHealth:
    """One configured mailbox as `status` judges it."""

    mailbox: str
    last_success: datetime | None
    age_seconds: int | None  # since the last successful cycle (None: never)
    stale: bool  # never polled, or not for `stale_after` seconds
    unmoved: int
    retrying: int
    imap_backlog: int | None  # messages waiting on the server (None: not asked or unreachable)
    imap_error: str | None = None


@frozen_record
class Health:
    """`reconciler status`: fine when no mailbox is stale."""

    now: datetime
    stale_after: int  # seconds: three daemon intervals
    mode: ModeState
    last_trip: AuditEntry | None
    mailboxes: tuple[MailboxHealth, ...]

    @property
    def ok(self) -> bool:
        return not any(m.stale for m in self.mailboxes)

"""The operator's loop (issue 17): the review queue of what the reconciler could not use, and
the replay of a rule set over the stored evidence (what `rules replay`, `rules suggest` and
`reclassify` show before anything is written).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from reconciler.frozenrecord import frozen_record
from reconciler.records.actions import StoredDecision
from reconciler.records.mail import Fault, Reason, Severity
from reconciler.records.policy import DecisionKind, Trigger

__all__ = [
    "DecisionShift",
    "Reclassified",
    "Replay",
    "Review",
    "ReviewExample",
    "ReviewGroup",
    "ReviewKind",
    "UserShift",
    "Verdict",
    "VerdictChange",
]


class ReviewKind(StrEnum):
    """Why the reconciler could not use a bounce."""

    UNDETERMINED = "undetermined"  # no rule knew it: reason `onhold` or `undefined`
    UNMATCHED = "unmatched"  # no verified VERP token: it names no user
    QUARANTINED = "quarantined"  # not understood, or its analysis failed: no events at all


@frozen_record
class ReviewExample:
    """One item of a review group: an event, or (quarantined) a ledger entry alone."""

    event_id: int | None  # None: a quarantined message (it has no events)
    mailbox: str  # where it was read: the mailbox, UIDVALIDITY and UID
    uidvalidity: int
    uid: int
    message_id: str | None
    folder: str | None  # where the message went (its destination folder)
    text: str  # the diagnostic, or the error of a quarantined message
    rule_id: str | None = None  # the rule that decided it
    reason: Reason | None = None
    status: str | None = None
    domain: str = ""  # the recipient's domain


@frozen_record
class ReviewGroup:
    """Items of one kind whose text has one shape (numbers, addresses, ids and hosts masked)."""

    group: str  # a short stable id of (kind, shape): `review show GROUP`
    kind: ReviewKind
    shape: str
    count: int
    first_seen: datetime
    last_seen: datetime
    rules: tuple[tuple[str, int], ...]  # the deciding rules and their counts, most first
    example: ReviewExample  # the latest item


@frozen_record
class Review:
    """The review queue of a period: the groups, largest first, and the counts by kind."""

    since: datetime
    until: datetime
    kinds: tuple[ReviewKind, ...]  # the kinds asked for
    groups: tuple[ReviewGroup, ...]
    totals: tuple[tuple[ReviewKind, int], ...]


@frozen_record
class Verdict:
    """What the rules concluded about one event."""

    reason: Reason
    severity: Severity
    fault: Fault
    rule_id: str

    def same_outcome(self, other: Verdict) -> bool:
        """Reason, severity and fault agree (the rule may differ)."""
        return (self.reason, self.severity, self.fault) == (
            other.reason,
            other.severity,
            other.fault,
        )


@frozen_record
class VerdictChange:
    """One stored event that the rules replayed decide otherwise."""

    event_id: int
    realm: str | None  # the verified user's, else None
    user_id: int | None
    old: Verdict
    new: Verdict


@frozen_record
class Reclassified:
    """An audit row of `reclassify --apply`: one event's verdict before and after."""

    event_id: int
    audit_id: int  # the audit log row of the run (who, when, why)
    at: datetime
    old: Verdict
    new: Verdict


@frozen_record
class UserShift:
    """A verified user whose decision today changes with the replayed verdicts."""

    realm: str
    user_id: int
    address: str | None
    old_kind: DecisionKind
    new_kind: DecisionKind
    old_trigger: Trigger | None
    new_trigger: Trigger | None
    old_days: tuple[int, int]  # (hard days, soft days) as the policy counts them
    new_days: tuple[int, int]

    @property
    def crosses(self) -> bool:
        """Under every threshold before, over one after."""
        return self.old_kind is DecisionKind.NONE and self.new_kind is not DecisionKind.NONE

    @property
    def falls_back(self) -> bool:
        """Over a threshold before, under every one after."""
        return self.old_kind is not DecisionKind.NONE and self.new_kind is DecisionKind.NONE


@frozen_record
class DecisionShift:
    """A recorded decision whose evidence the replayed verdicts decide otherwise."""

    stored: StoredDecision
    new_kind: DecisionKind  # what the policy decides at the decision's time with them
    new_trigger: Trigger | None
    undo: str | None  # an applied decision no longer supported: the command that undoes it


@frozen_record
class Replay:
    """The stored evidence of a window classified again with a rule set: nothing written."""

    since: datetime
    until: datetime
    files: tuple[str, ...]  # the rule files replayed
    events: int  # events replayed
    legacy: int  # of them, recorded before the store kept every fact the rules read
    changes: tuple[VerdictChange, ...]  # every event whose verdict or rule changes
    users: tuple[UserShift, ...]
    decisions: tuple[DecisionShift, ...]

    @property
    def verdict_changes(self) -> tuple[VerdictChange, ...]:
        """The changes of reason, severity or fault (not those of the rule alone)."""
        return tuple(c for c in self.changes if not c.old.same_outcome(c.new))

"""What the pure decision core reads and returns (STYLE 2.6, 2.7): modes, evidence, user
histories, incidents, decisions and the breaker's trips.
"""

from __future__ import annotations

from enum import StrEnum

from reconciler.frozenrecord import frozen_record
from reconciler.records.mail import Fault, MessageKind, Reason, Severity

__all__ = [
    "BreakerCause",
    "BreakerTrip",
    "Decision",
    "DecisionKind",
    "Disposition",
    "EventTally",
    "EvidenceEvent",
    "Ignored",
    "Incident",
    "IncidentScope",
    "Mode",
    "Trigger",
    "UserHistory",
]


class Mode(StrEnum):
    """How decisions are carried out.  A fresh install is LOG_ONLY; only the breaker pauses."""

    LOG_ONLY = "log-only"  # decide and describe, never apply
    ENFORCE = "enforce"  # decide, describe and apply
    PAUSED = "paused"  # set by the circuit breaker: decide and describe, withhold every action


class DecisionKind(StrEnum):
    NONE = "none"  # nothing to do
    SUPPRESS = "suppress"  # stop sending to the address


class Trigger(StrEnum):
    """Which policy rule made a decision act."""

    COMPLAINT = "complaint"  # a complaint report (ARF): acts at once
    HARD = "hard"  # hard bounces on enough different days within the hard window
    SOFT = "soft"  # soft bounces on enough different days within the soft window


class Disposition(StrEnum):
    """What happens to the action of a decision, given the mode at the time."""

    APPLIED = "applied"  # ENFORCE: the action is to be applied
    WOULD = "would"  # LOG_ONLY: the action would be applied
    WITHHELD = "withheld"  # PAUSED (the breaker), or `Decision.withheld` says why
    NONE = "none"  # the decision has no action
    PROBING = "probing"  # ENFORCE with probes: the action waits for the probe's verdict
    PROBE_DELIVERED = "probe-delivered"  # the probe did not bounce: nothing applied, cleared


class Ignored(StrEnum):
    """Why an event of a user's history did not count (for the explanation of a decision)."""

    OTHER_USER = "other_user"  # the event names another user than the history's
    UNVERIFIED = "unverified"  # no verified VERP token: kept as evidence, never counted
    NOT_A_BOUNCE = "not_a_bounce"  # delay, auto-reply, success, other, error, severity NONE
    SENDER_FAULT = "sender_fault"  # our side (reputation, policy, content): never the address
    OTHER_ADDRESS = "other_address"  # the address is no longer the user's
    INCIDENT = "incident"  # covered by a domain or remote-MTA incident
    FUTURE = "future"  # recorded after `now`: not yet known at the time of the decision
    EXPIRED = "expired"  # older than the window of its rule
    BEFORE_QUIET = "before_quiet"  # before the last quiet period, which reset the count
    PROBED = "probed"  # before a probe to the address that did not bounce (it reset the count)


class IncidentScope(StrEnum):
    DOMAIN = "domain"  # one recipient domain
    REMOTE_MTA = "remote_mta"  # one remote MTA (may serve many domains)


class BreakerCause(StrEnum):
    ACTION_COUNT = "action_count"  # too many actions in the window
    ACTION_SHARE = "action_share"  # actions on too large a share of the users seen
    SENDER_SHARE = "sender_share"  # too large a share of sender-side bounces


@frozen_record
class EvidenceEvent:
    """One stored bounce event as the policy sees it."""

    event_id: int
    realm: str | None  # from the VERP token; None when there was no token
    user_id: int | None
    address: str  # the recipient the result is about ("" when unknown)
    domain: str  # recipient domain, lower case
    remote_mta: str  # "" when unknown
    kind: MessageKind
    reason: Reason
    severity: Severity
    fault: Fault
    verp_valid: bool
    at: int  # unix seconds (UTC) of the event
    message_id: str | None = None  # Message-ID of the original message we sent
    send_ref: str | None = None  # our reference of the send, from the VERP token
    bound: bool = False  # the token binds `address`: only then may a decision act on it
    original_address: str | None = None  # the address the report says was mailed, if named

    @property
    def verified(self) -> bool:
        """A valid VERP token names the event's user: the only evidence that steers policy."""
        return self.verp_valid and self.realm is not None and self.user_id is not None


@frozen_record
class UserHistory:
    """The stored events of one user (realm + user id), as read for one decision."""

    realm: str
    user_id: int
    events: tuple[EvidenceEvent, ...]
    current_address: str | None = None  # the user's address now, when an adapter can tell
    # why no action may be carried out for this user whatever the mode (e.g. the realm has no
    # wiki database): a decision that acts is then WITHHELD with this reason; None: none
    withhold: str | None = None
    # (address, unix seconds): a probe sent to the address then did not bounce, so the
    # evidence about it up to that time no longer counts (see `reconciler.policy.probes`)
    cleared: tuple[tuple[str, int], ...] = ()


@frozen_record
class Incident:
    """A spike of one reason at one domain or remote MTA: its events count against no user."""

    scope: IncidentScope
    key: str  # the domain or the remote MTA, lower case
    reason: Reason
    users: int  # the most distinct users seen within one window
    start: int  # unix seconds of the first and the last event covered
    end: int
    active: bool  # the spike is still within the window at `now`
    event_ids: tuple[int, ...] = ()


@frozen_record
class Decision:
    """What the policy decided for one user, with everything needed to explain it."""

    kind: DecisionKind
    realm: str
    user_id: int
    address: str | None  # the address the decision is about (None: unknown)
    at: int  # unix seconds of the decision (`now`)
    mode: Mode
    disposition: Disposition
    trigger: Trigger | None = None
    rule: str = ""  # the rule with its thresholds, e.g. "hard:3d/14d"
    hard_days: int = 0  # different days with a counted hard bounce in the hard window
    soft_days: int = 0
    event_ids: tuple[int, ...] = ()  # the evidence: counted events of the firing rule
    message_ids: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    ignored: tuple[tuple[Ignored, int], ...] = ()  # events not counted, by cause
    withheld: str = ""  # why the action is withheld other than by the mode ("" : not so)


@frozen_record
class EventTally:
    """What the circuit breaker counts of the events in its window (see `check_breaker`)."""

    users_seen: int  # distinct verified (realm, user id)
    bounces: int  # events of kind BOUNCE
    sender_bounces: int  # ... of which the fault is the sender's


@frozen_record
class BreakerTrip:
    """Why the circuit breaker stops enforcement."""

    cause: BreakerCause
    at: int
    observed: float
    limit: float
    sample: int  # users or bounces the share was judged on (actions for ACTION_COUNT)
    detail: str  # one human-readable line

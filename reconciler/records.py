"""Typed records and closed sets that pass between the pipeline stages (STYLE 2.1).

Every stage takes and returns these frozen dataclasses; none of them carries behaviour beyond
small derived properties.  Enum values are the strings used in JSON output and in the database,
so they are part of the public, stable surface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "ADDRESS_REASONS",
    "ADDRESS_STAGES",
    "SENDER_REASONS",
    "SENDER_STAGES",
    "UNDISCLOSED_RECIPIENT",
    "ActionCount",
    "ActionOutcome",
    "ActionRecord",
    "ActionStatus",
    "AuditEntry",
    "BatchResult",
    "BounceEvent",
    "BreakerCause",
    "BreakerSettings",
    "BreakerTrip",
    "Checkpoint",
    "Classification",
    "DayCount",
    "DayThreshold",
    "Decision",
    "DecisionKind",
    "DecisionSummary",
    "Disposition",
    "EventSummary",
    "EventTally",
    "EvidenceEvent",
    "Fault",
    "Health",
    "Ignored",
    "Incident",
    "IncidentScope",
    "IncidentSettings",
    "LedgerEntry",
    "MailboxHealth",
    "MailboxState",
    "MessageKind",
    "MessageOutcome",
    "Mode",
    "ModeState",
    "OriginalMessage",
    "OutboxItem",
    "Overview",
    "ParsedBounce",
    "ParsedMessage",
    "PolicySettings",
    "RawMessage",
    "Reason",
    "Rule",
    "RuleMatch",
    "Severity",
    "Stage",
    "Standing",
    "StoredDecision",
    "StoredEvent",
    "Suppression",
    "Trail",
    "Trigger",
    "UndoFilter",
    "Unprocessed",
    "UserHistory",
    "UserSelector",
    "VerpFailure",
    "VerpMatch",
    "known_address",
]


class MessageKind(StrEnum):
    """What a message (or one recipient result of it) is."""

    BOUNCE = "bounce"  # a failed delivery
    DELAY = "delay"  # a delay warning (Action: delayed): not a bounce
    VACATION = "vacation"  # an auto-reply (RFC 3834, vacation programs)
    FEEDBACK = "feedback"  # a complaint report (RFC 5965 ARF)
    DELIVERED = "delivered"  # a success notice (delivered / relayed / expanded)
    OTHER = "other"  # a readable message that is none of the above
    ERROR = "error"  # a message that could not be understood; `error` says why


class Stage(StrEnum):
    """Where in the SMTP dialogue (RFC 5321) a failure happened, as the report states it.

    Only the RCPT stage (or an unknown one) can say that an address does not work: a refusal at
    the greeting, at HELO/EHLO (or STARTTLS, AUTH) or at MAIL FROM concerns the sending side, a
    refusal of the DATA command or of the message after it (end of data) concerns the content.
    """

    CONNECT = "connect"  # the greeting (the server's reply to the connection)
    HELO = "helo"  # HELO, EHLO, LHLO, and STARTTLS or AUTH before the mail transaction
    MAIL = "mail"  # MAIL FROM
    RCPT = "rcpt"  # RCPT TO
    DATA = "data"  # the DATA command itself
    END_OF_DATA = "end-of-data"  # the message, after the final "." (or BDAT LAST)
    UNKNOWN = "unknown"  # the report does not say


# Stages at which a refusal concerns the sending side, never the recipient's address.
SENDER_STAGES = frozenset({Stage.CONNECT, Stage.HELO, Stage.MAIL})
# Stages at which a refusal can concern the recipient's address.
ADDRESS_STAGES = frozenset({Stage.RCPT, Stage.UNKNOWN})


class Severity(StrEnum):
    """What a result says about the recipient's address."""

    HARD = "hard"  # the address does not work and will not: counts towards suppression
    SOFT = "soft"  # a failure that may pass or that says nothing final about the address
    NONE = "none"  # not a bounce at all (auto-reply, complaint, delay, success)


class Fault(StrEnum):
    """Whose problem a failure is."""

    RECIPIENT = "recipient"  # the address or mailbox itself (unknown user, full mailbox)
    SENDER = "sender"  # our side: reputation, policy, content, authentication
    TRANSIENT = "transient"  # the path in between: network, remote system, rate limits
    UNKNOWN = "unknown"


class Reason(StrEnum):
    """Failure reasons in Sisimai's vocabulary, plus the non-bounce kinds."""

    USERUNKNOWN = "userunknown"
    HOSTUNKNOWN = "hostunknown"
    HASMOVED = "hasmoved"
    NOTACCEPT = "notaccept"
    MAILBOXFULL = "mailboxfull"
    EXCEEDLIMIT = "exceedlimit"
    MESGTOOBIG = "mesgtoobig"
    SUSPEND = "suspend"
    EXPIRED = "expired"
    FILTERED = "filtered"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    SPAMDETECTED = "spamdetected"
    VIRUSDETECTED = "virusdetected"
    POLICYVIOLATION = "policyviolation"
    SECURITYERROR = "securityerror"
    NORELAYING = "norelaying"
    SYSTEMERROR = "systemerror"
    SYSTEMFULL = "systemfull"
    NETWORKERROR = "networkerror"
    CONTENTERROR = "contenterror"
    TOOMANYCONN = "toomanyconn"
    RATELIMITED = "ratelimited"
    SPEEDING = "speeding"
    SYNTAXERROR = "syntaxerror"
    ONHOLD = "onhold"
    BADREPUTATION = "badreputation"
    AUTHFAILURE = "authfailure"
    REQUIREPTR = "requireptr"
    NOTCOMPLIANTRFC = "notcompliantrfc"
    FAILEDSTARTTLS = "failedstarttls"
    SUPPRESSED = "suppressed"
    MAILERERROR = "mailererror"
    UNDEFINED = "undefined"
    # not bounces
    VACATION = "vacation"
    FEEDBACK = "feedback"
    DELIVERED = "delivered"
    DELAYED = "delayed"  # no longer given (a delay warning is `expired`): read from old events


# Reasons that concern our side (the sender), never the recipient's address: never HARD.
SENDER_REASONS = frozenset(
    {
        Reason.BLOCKED,
        Reason.SPAMDETECTED,
        Reason.VIRUSDETECTED,
        Reason.POLICYVIOLATION,
        Reason.SECURITYERROR,
        Reason.NORELAYING,
        Reason.CONTENTERROR,
        Reason.BADREPUTATION,
        Reason.AUTHFAILURE,
        Reason.REQUIREPTR,
        Reason.NOTCOMPLIANTRFC,
        Reason.MESGTOOBIG,
        Reason.REJECTED,
        Reason.SYNTAXERROR,
        Reason.FAILEDSTARTTLS,
        Reason.SPEEDING,
        Reason.RATELIMITED,
        Reason.TOOMANYCONN,
    }
)


# Reasons about the address itself (hard under a permanent code): a rule concludes them only
# at ADDRESS_STAGES, unless its own `stage` condition names the stage (a provider that checks
# recipients after DATA), and never at SENDER_STAGES.
ADDRESS_REASONS = frozenset(
    {Reason.USERUNKNOWN, Reason.HOSTUNKNOWN, Reason.HASMOVED, Reason.NOTACCEPT}
)

# The recipient of a report that redacts it (an ARF complaint without Original-Rcpt-To and
# with undisclosed To): Sisimai's placeholder, so results compare.  `.invalid` (RFC 2606) can
# never be delivered to, and policy treats it as an unknown address.
UNDISCLOSED_RECIPIENT = "undisclosed-recipient-in-headers@libsisimai.org.invalid"


def known_address(address: str | None) -> str | None:
    """The address with blanks stripped, or None when it is blank or a placeholder."""
    if address is None:
        return None
    address = address.strip()
    if not address or address.casefold().endswith(".invalid"):
        return None
    return address


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message as fetched from a source, before any parsing."""

    mailbox: str
    uidvalidity: int
    uid: int
    data: bytes
    size: int = 0  # RFC822.SIZE as the server reported it (data may be only the head)
    received_at: datetime | None = None  # IMAP INTERNALDATE: when the server got it (unforgeable)


@dataclass(frozen=True, slots=True)
class OriginalMessage:
    """Headers of the returned original message (message/rfc822 or text/rfc822-headers)."""

    message_id: str | None = None
    return_path: str | None = None
    sender: str | None = None
    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    date: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedBounce:
    """One recipient result of a message: what the reporting system said about one address."""

    kind: MessageKind
    recipient: str | None
    detector: str  # which parser produced it: "rfc3464", "qmail", "exim", "flufl", ...
    original_recipient: str | None = None
    action: str | None = None  # failed | delayed | delivered | relayed | expanded
    status: str | None = None  # enhanced status code, e.g. "5.1.1"
    reply_code: str | None = None  # SMTP reply code, e.g. "550"
    diagnostic: str = ""  # the diagnostic text, folded to one line
    diagnostic_type: str | None = None  # "smtp", "x-postfix", "x-unix", ...
    remote_mta: str | None = None
    stage: Stage = Stage.UNKNOWN  # where in the SMTP dialogue it failed, when the report says
    last_attempt: str | None = None
    feedback_type: str | None = None  # ARF Feedback-Type for complaints
    extensions: tuple[tuple[str, str], ...] = ()  # X-* fields of the per-recipient block


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything the parser learned from one message."""

    kind: MessageKind
    bounces: tuple[ParsedBounce, ...] = ()
    # Addressing headers of the bounce itself, in message order, names lower-cased:
    # delivered-to, x-original-to, envelope-to, x-envelope-to, to, cc.
    addressing: tuple[tuple[str, str], ...] = ()
    message_id: str | None = None
    subject: str | None = None
    from_: str | None = None
    reporting_mta: str | None = None
    arrival_date: str | None = None
    original: OriginalMessage | None = None
    error: str | None = None  # why the message could not be understood (kind ERROR)
    notes: tuple[str, ...] = field(default=())  # limits hit, fallbacks used


@dataclass(frozen=True, slots=True)
class Classification:
    """The decision of the rules about one ParsedBounce."""

    reason: Reason
    severity: Severity
    fault: Fault
    rule_id: str
    matched_on: tuple[str, ...] = ()  # human-readable: which conditions matched, on what


class VerpFailure(StrEnum):
    """Why a candidate VERP address did not verify."""

    NOT_FOUND = "not_found"  # no candidate address looked like a token
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    FROM_THE_FUTURE = "from_the_future"
    # the token verified, but the result is about another address than the one it binds:
    # recorded (with the token's user, for the record), never counted (docs/verp.md)
    ADDRESS_MISMATCH = "address-mismatch"


@dataclass(frozen=True, slots=True)
class VerpMatch:
    """The result of looking for a VERP token in a message."""

    valid: bool
    realm: str | None = None
    user_id: int | None = None
    issued: int | None = None  # unix time the token was made
    key_id: str | None = None
    send_ref: str | None = None
    format: str | None = None  # "native" | "bouncehandler"
    address: str | None = None  # the address the token was read from
    found_in: str | None = None  # the header it was found in, e.g. "delivered-to"
    failure: VerpFailure | None = None
    tried: tuple[tuple[str, str], ...] = ()  # (address, failure) of candidates that failed
    recipient_digest: str | None = None  # the recipient the token binds (native; see verp.binds)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """The conditions of one rule; every given condition must hold (lists are any-of).

    Patterns are compiled at load time.  `None` means "not constrained".
    """

    kinds: frozenset[MessageKind] | None = None
    statuses: re.Pattern[str] | None = None  # enhanced status patterns such as 5.1.*
    not_statuses: re.Pattern[str] | None = None  # the status must not match any of these
    reply_codes: re.Pattern[str] | None = None  # SMTP reply code patterns such as 55x
    diagnostic: tuple[str, ...] | None = None  # any of these RE2 regexes (case-insensitive)
    not_diagnostic: tuple[str, ...] | None = None  # none of these may match
    remote_mta: tuple[str, ...] | None = None
    domains: re.Pattern[str] | None = None  # recipient domain globs such as *.yahoo.com
    stages: frozenset[Stage] | None = None  # where in the SMTP dialogue it failed
    providers: re.Pattern[str] | None = None  # provider host globs (remote/reporting MTA, ...)
    actions: frozenset[str] | None = None  # DSN Action: failed, delayed, ...
    diagnostic_types: frozenset[str] | None = None  # smtp, x-postfix, x-unix, ...
    no_code: bool | None = None  # true: neither a specific status nor a reply code is known
    sources: tuple[tuple[str, str], ...] = ()  # (condition, source text) for explain


@dataclass(frozen=True, slots=True)
class Rule:
    """One classification rule, loaded and validated from a YAML file (STYLE 2.4)."""

    id: str
    description: str
    match: RuleMatch
    reason: Reason
    severity: Severity | None  # None: derived from the reason and the status class
    fault: Fault | None  # None: derived from the reason
    examples: tuple[str, ...]  # paths of sample messages, relative to the rule file
    file: str
    line: int
    table: bool = False  # a row of a code table (status_codes, reply_codes), not a rule


class MessageOutcome(StrEnum):
    """What the cycle did with one fetched message (stored in the message ledger)."""

    PROCESSED = "processed"  # understood; its events were recorded against a VERP user
    UNMATCHED = "unmatched"  # understood, but no valid VERP token: events recorded without user
    SKIPPED = "skipped"  # nothing to record (not a bounce, or nothing usable in it)
    QUARANTINED = "quarantined"  # failed too often; moved aside for a human
    DUPLICATE = "duplicate"  # same bytes as a message already in the ledger (replay, re-UID)


@dataclass(frozen=True, slots=True)
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

    def names(self, address: str) -> bool:
        """The result is about `address`: its recipient or its original recipient (matching a
        bounce to what we sent accepts either; case-insensitive)."""
        wanted = address.strip().casefold()
        return wanted in (self.recipient.casefold(), (self.original_recipient or "").casefold())


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What `record_batch` did, by UID (all UIDs of the batch appear exactly once)."""

    recorded: tuple[int, ...] = ()  # new ledger rows with their events
    duplicates: tuple[int, ...] = ()  # new ledger rows, but known bytes: events not counted
    already: tuple[int, ...] = ()  # (mailbox, uidvalidity, uid) was in the ledger: no change


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a mailbox has been read: the highest UID handled under one UIDVALIDITY."""

    mailbox: str
    uidvalidity: int
    last_uid: int
    last_success: datetime | None = None  # end of the last cycle that completed


@dataclass(frozen=True, slots=True)
class Unprocessed:
    """A message some stage failed on; it stays in place and is retried, then quarantined."""

    mailbox: str
    uidvalidity: int
    uid: int
    stage: str  # "fetch" | "parse" | "verp" | "classify" | "store" | "move"
    error: str


# --- policy (STYLE 2.6, 2.7): what the pure decision core reads and returns -------------------


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
    WITHHELD = "withheld"  # PAUSED: the breaker withholds the action
    NONE = "none"  # the decision has no action


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


class IncidentScope(StrEnum):
    DOMAIN = "domain"  # one recipient domain
    REMOTE_MTA = "remote_mta"  # one remote MTA (may serve many domains)


class BreakerCause(StrEnum):
    ACTION_COUNT = "action_count"  # too many actions in the window
    ACTION_SHARE = "action_share"  # actions on too large a share of the users seen
    SENDER_SHARE = "sender_share"  # too large a share of sender-side bounces


@dataclass(frozen=True, slots=True)
class DayThreshold:
    """Act when bounces fall on at least `days` different UTC days within `window_days`."""

    days: int
    window_days: int


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    """A domain (or remote MTA) incident: one reason for `min_users` distinct users in a window."""

    window_seconds: int = 3600
    min_users: int = 5


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """The circuit breaker's limits over a sliding window (shares are fractions 0..1)."""

    window_seconds: int = 3600
    max_actions: int = 50  # trips when the actions in the window exceed this
    max_action_share: float = 0.25  # ... or exceed this share of the users seen
    max_sender_share: float = 0.5  # ... or sender-side bounces exceed this share of bounces
    min_sample: int = 20  # shares are judged only on at least this many users / bounces


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """Every threshold of the policy; built by the config loader (validation happens there)."""

    hard: DayThreshold = field(default_factory=lambda: DayThreshold(3, 14))
    soft: DayThreshold = field(default_factory=lambda: DayThreshold(10, 30))
    complaint_window_days: int = 30  # a complaint older than this no longer acts
    quiet_days: int = 30  # this long without a counted bounce resets the count
    incident: IncidentSettings = field(default_factory=IncidentSettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class UserHistory:
    """The stored events of one user (realm + user id), as read for one decision."""

    realm: str
    user_id: int
    events: tuple[EvidenceEvent, ...]
    current_address: str | None = None  # the user's address now, when an adapter can tell


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class EventTally:
    """What the circuit breaker counts of the events in its window (see `check_breaker`)."""

    users_seen: int  # distinct verified (realm, user id)
    bounces: int  # events of kind BOUNCE
    sender_bounces: int  # ... of which the fault is the sender's


@dataclass(frozen=True, slots=True)
class BreakerTrip:
    """Why the circuit breaker stops enforcement."""

    cause: BreakerCause
    at: int
    observed: float
    limit: float
    sample: int  # users or bounces the share was judged on (actions for ACTION_COUNT)
    detail: str  # one human-readable line


# --- decisions, actions and their undo (STYLE 2.7): what the store and the actions exchange ---


@dataclass(frozen=True, slots=True)
class ModeState:
    """The mode in force: since when, set by whom, and why (the latest audited change)."""

    mode: Mode
    since: datetime
    by: str  # "operator:<name>", "breaker", or "install" for the default of a fresh database
    reason: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited change: a mode change, a breaker trip, a reinstatement, an undo, ..."""

    id: int
    at: datetime
    actor: str
    action: str  # "mode" | "breaker" | "reinstate" | "undo" | "apply-pending" | ...
    detail: str
    old_mode: Mode | None = None
    new_mode: Mode | None = None
    decision_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision as recorded, with its id, the run that made it and what became of it."""

    id: int
    run_id: str
    decision: Decision
    recorded_at: datetime
    applied_at: datetime | None = None  # when its actions ran (None: not applied)
    undone_at: datetime | None = None  # when its actions were undone


@dataclass(frozen=True, slots=True)
class Suppression:
    """An address we no longer send to, with the user and the decision that put it there."""

    address: str  # normalised: stripped, lower case
    realm: str
    user_id: int
    reason: str  # e.g. "hard:3d/14d userunknown"
    since: datetime
    decision_id: int | None = None  # the evidence; None when added by hand


class ActionStatus(StrEnum):
    """What one action did with one decision (or with one undo)."""

    DONE = "done"  # carried out
    QUEUED = "queued"  # handed to the outbox; delivered later, at least once
    SKIPPED = "skipped"  # nothing to do (already done, not the user's address, no undo)
    FAILED = "failed"  # tried and failed; `detail` says why (retried by `retry_failed`)
    PENDING = "pending"  # logged before an outside action runs: a crash leaves it for retry


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """The result of `apply` or `undo` of one action.  `undo_data` is JSON text."""

    action: str
    status: ActionStatus
    detail: str = ""
    undo_data: str | None = None  # what `undo` needs (e.g. the previous value), JSON text


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One row of the action log: what an action did for a decision, and how to undo it."""

    id: int
    decision_id: int
    action: str
    status: ActionStatus
    detail: str
    at: datetime
    realm: str
    user_id: int
    address: str | None
    undo_data: str | None = None
    undone_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One event waiting in (or delivered from) the webhook outbox."""

    id: int
    event_id: str  # idempotency key, also in the payload
    kind: str  # "suppress" | "reinstated"
    payload: str  # the JSON body, exactly as it is sent
    attempts: int
    next_at: datetime  # when it is due (again)
    created_at: datetime
    decision_id: int | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None  # gave up after max_attempts (kept; can be retried)
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class UndoFilter:
    """Which applied decisions an undo covers; every given condition must hold."""

    since: datetime | None = None  # applied at or after
    rule: str | None = None  # policy rule label or trigger, or a classification rule id
    reason: Reason | None = None  # one of the decision's reasons
    run_id: str | None = None
    realm: str | None = None
    user_id: int | None = None
    address: str | None = None


# --- reports (`report`, `user show`, `status`): what the store's report queries return ---------


@dataclass(frozen=True, slots=True)
class DayCount:
    """Bounce events of one UTC day, by severity."""

    day: date
    hard: int = 0
    soft: int = 0
    none: int = 0

    @property
    def total(self) -> int:
        return self.hard + self.soft + self.none


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class ActionCount:
    """How often one action ended with one status (action log rows of a period)."""

    action: str
    status: ActionStatus
    count: int


@dataclass(frozen=True, slots=True)
class DecisionSummary:
    """Decisions made in a period: by disposition and trigger (every member), and their fate."""

    total: int
    dispositions: tuple[tuple[Disposition, int], ...]
    triggers: tuple[tuple[Trigger, int], ...]
    applied: int  # of these decisions, how many had their actions run (applied_at set)
    undone: int
    actions: tuple[ActionCount, ...]  # action log rows written in the period


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A recorded bounce event with its id and where its message was read."""

    id: int
    mailbox: str
    uidvalidity: int
    uid: int
    recorded_at: datetime
    event: BounceEvent


@dataclass(frozen=True, slots=True)
class UserSelector:
    """Whose evidence trail: a user (realm None: any realm) or an address (normalised)."""

    realm: str | None = None
    user_id: int | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class MailboxState:
    """What the store knows of one mailbox: its checkpoint and the work left in the ledger."""

    mailbox: str
    checkpoint: Checkpoint | None
    unmoved: int  # committed under the current UIDVALIDITY, not yet moved (crash or failure)
    retrying: int  # messages with failed attempts, waiting to be retried or quarantined


@dataclass(frozen=True, slots=True)
class Standing:
    """A verified user's counted bounce days as the policy sees them now, vs the thresholds."""

    realm: str
    user_id: int
    address: str | None
    hard_days: int
    soft_days: int
    closeness: float  # the larger of hard_days/hard.days and soft_days/soft.days (1.0: acts)
    trigger: Trigger | None  # the rule that fires now (None: below every threshold)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Trail:
    """The whole evidence trail of one user or address, each item with the mode in force."""

    selector: UserSelector
    events: tuple[tuple[StoredEvent, Mode], ...]
    decisions: tuple[StoredDecision, ...]  # each carries the mode it was made in
    actions: tuple[tuple[ActionRecord, Mode], ...]
    audit: tuple[tuple[AuditEntry, Mode], ...]  # undo / reinstate / apply-pending rows
    suppressions: tuple[Suppression, ...]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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

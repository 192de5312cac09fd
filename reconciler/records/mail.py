"""What the pure stages pass on: messages, parsed results, classifications, VERP matches
and rules, with the closed sets they are described in (STYLE 2.1).

Enum values are the strings used in JSON output and in the database: part of the public,
stable surface.
"""

from __future__ import annotations

import re
from enum import StrEnum

from reconciler.frozenrecord import field, frozen_record
from reconciler.verpformat import VerpFormat

TYPE_CHECKING = False  # not typing's: an annotation only (datetime is not imported to classify)
if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "ADDRESS_REASONS",
    "ADDRESS_STAGES",
    "FACT_LIMITS",
    "SENDER_REASONS",
    "SENDER_STAGES",
    "UNDISCLOSED_RECIPIENT",
    "Classification",
    "Fault",
    "MessageKind",
    "OriginalMessage",
    "ParsedBounce",
    "ParsedMessage",
    "RawMessage",
    "Reason",
    "Rule",
    "RuleFacts",
    "RuleMatch",
    "Severity",
    "Stage",
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


@frozen_record
class RawMessage:
    """One message as fetched from a source, before any parsing."""

    mailbox: str
    uidvalidity: int
    uid: int
    data: bytes
    size: int = 0  # RFC822.SIZE as the server reported it (data may be only the head)
    received_at: datetime | None = None  # IMAP INTERNALDATE: when the server got it (unforgeable)


@frozen_record
class OriginalMessage:
    """Headers of the returned original message (message/rfc822 or text/rfc822-headers)."""

    message_id: str | None = None
    return_path: str | None = None
    sender: str | None = None
    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    date: str | None = None


@frozen_record
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


@frozen_record
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


@frozen_record
class RuleFacts:
    """Everything the rules read of one recipient result, normalised once (lower case where
    the rules compare without case, cut to `FACT_LIMITS`, valid text).

    The classifier matches these, and the store keeps every one of them with the event, so
    that classifying the stored event again (`rules replay`, `reclassify`) gives exactly what
    classifying the message afresh gives.
    """

    kind: MessageKind
    status: str = ""  # enhanced status code, "" when none
    reply_code: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    domain: str = ""  # the (final) recipient's domain, lower case: what `domain` rules read
    stage: Stage = Stage.UNKNOWN
    action: str = ""  # the DSN Action field, lower case
    diagnostic_type: str = ""  # lower case
    reporting_mta: str = ""  # provider evidence: the host that wrote the report
    sender_domain: str = ""  # provider evidence: the domain of the notice's From, lower case


# How much of each field the rules read (and the store keeps: at least as much): a longer
# diagnostic or host name is cut to this many characters before any rule sees it.
FACT_LIMITS = {
    "status": 32,
    "reply_code": 16,
    "diagnostic": 4000,
    "remote_mta": 4000,
    "domain": 255,
    "action": 32,
    "diagnostic_type": 64,
    "reporting_mta": 4000,
    "sender_domain": 255,
}


@frozen_record
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
    # a realm reference that is not (or no longer) one of the listed realms: the name, which
    # the MAC covers, is unknown, so the token cannot be checked
    UNKNOWN_REALM = "unknown_realm"
    # the token verified, but the result is about another address than the one it binds:
    # recorded (with the token's user, for the record), never counted (docs/verp.md)
    ADDRESS_MISMATCH = "address-mismatch"


@frozen_record
class VerpMatch:
    """The result of looking for a VERP token in a message."""

    valid: bool
    realm: str | None = None
    user_id: int | None = None
    issued: int | None = None  # unix time the token was made
    key_id: str | None = None
    send_ref: str | None = None
    format: VerpFormat | None = None  # None: no token was found
    address: str | None = None  # the address the token was read from
    found_in: str | None = None  # the header it was found in, e.g. "delivered-to"
    failure: VerpFailure | None = None
    tried: tuple[tuple[str, str], ...] = ()  # (address, failure) of candidates that failed
    recipient_digest: str | None = None  # the recipient the token binds (native; see verp.binds)
    realm_ref: str | None = None  # how a listed realm was carried (native; `realm` is its name)


@frozen_record
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


@frozen_record
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

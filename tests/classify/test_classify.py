"""The classifier on hand-made recipient results (pure: no parsing, no I/O).

Each row states the promise it checks: text beats a misleading code, sender-side failures are
never hard, only a final failure can be hard, and delay warnings never are.
"""

from __future__ import annotations

import pytest

from reconciler.classify import Classifier, classify, derive_fault, derive_severity, explain
from reconciler.classify.rules import load_rules
from reconciler.records import (
    SENDER_REASONS,
    Fault,
    MessageKind,
    ParsedBounce,
    ParsedMessage,
    Reason,
    Severity,
    Stage,
)

RULES = Classifier(load_rules().rules)


def _bounce(
    diagnostic: str = "",
    status: str | None = None,
    reply_code: str | None = None,
    stage: Stage = Stage.UNKNOWN,
    kind: MessageKind = MessageKind.BOUNCE,
    recipient: str = "user@example.net",
    diagnostic_type: str | None = None,
) -> ParsedBounce:
    return ParsedBounce(
        kind=kind,
        recipient=recipient,
        detector="test",
        action="failed",
        status=status,
        reply_code=reply_code,
        diagnostic=diagnostic,
        diagnostic_type=diagnostic_type,
        stage=stage,
    )


@pytest.mark.parametrize(
    ("bounce", "reason", "severity"),
    [
        # text beats a misleading code
        (
            _bounce("550 5.1.1 mailbox is over quota temporarily (#5.1.1)", "5.1.1", "550"),
            Reason.MAILBOXFULL,
            Severity.SOFT,
        ),
        (_bounce("552 Mailbox full", "5.0.0", "552"), Reason.MAILBOXFULL, Severity.SOFT),
        (
            _bounce("connect to mx.example.net[192.0.2.1]:25: Connection timed out", "4.4.1"),
            Reason.EXPIRED,
            Severity.SOFT,
        ),
        (
            _bounce("554 4.4.7 Message expired: unable to deliver in 840 minutes", "4.4.7", "554"),
            Reason.EXPIRED,
            Severity.SOFT,
        ),
        # the address itself: hard
        (
            _bounce(
                "550 5.1.1 <user@example.net>: Recipient address rejected: User unknown in "
                "virtual mailbox table",
                "5.1.1",
                "550",
                Stage.RCPT,
            ),
            Reason.USERUNKNOWN,
            Severity.HARD,
        ),
        (
            _bounce("Sorry, I couldn't find any host named example.invalid. (#5.1.2)", "5.1.2"),
            Reason.HOSTUNKNOWN,
            Severity.HARD,
        ),
        (
            _bounce("550 5.1.6 recipient no longer on server", "5.1.6", "550"),
            Reason.HASMOVED,
            Severity.HARD,
        ),
        (
            _bounce("553 sorry, no mx record found for domain", None, "553"),
            Reason.NOTACCEPT,
            Severity.HARD,
        ),
        # "user unknown" after DATA with no address status: a filter, soft
        (_bounce("550 : User unknown", "5.0.0", "550", Stage.DATA), Reason.FILTERED, Severity.SOFT),
        # the same text with a temporary status is not final
        (
            _bounce("DNS Error: domain name not found: example.jp", "4.0.0"),
            Reason.NETWORKERROR,
            Severity.SOFT,
        ),
        # sender side: never hard, even under a 5.1.x status
        (
            _bounce(
                "550 5.1.0 192.0.2.1 is not allowed to send from <example.org> per its SPF Record",
                "5.1.0",
                "550",
                Stage.RCPT,
            ),
            Reason.AUTHFAILURE,
            Severity.SOFT,
        ),
        (
            _bounce(
                "554 5.7.1 Client host rejected: blocked using zen.spamhaus.org",
                "5.7.1",
                "554",
                Stage.RCPT,
            ),
            Reason.BLOCKED,
            Severity.SOFT,
        ),
        (
            _bounce("550 5.7.1 Message content rejected, UBE", "5.7.1", "550", Stage.DATA),
            Reason.SPAMDETECTED,
            Severity.SOFT,
        ),
        (
            _bounce(
                "501 5.1.8 Sender address rejected: Domain not found", "5.1.8", "501", Stage.MAIL
            ),
            Reason.REJECTED,
            Severity.SOFT,
        ),
        (
            _bounce(
                "550 5.7.26 Unauthenticated email from example.org is not accepted due to "
                "domain's DMARC policy",
                "5.7.26",
                "550",
                Stage.DATA,
            ),
            Reason.AUTHFAILURE,
            Severity.SOFT,
        ),
        # no text at all: the status decides
        (_bounce("", "5.2.2"), Reason.MAILBOXFULL, Severity.SOFT),
        (_bounce("", "5.1.1"), Reason.USERUNKNOWN, Severity.HARD),
        (_bounce("", "5.7.1"), Reason.BLOCKED, Severity.SOFT),
        (_bounce(""), Reason.ONHOLD, Severity.SOFT),
        # a delivery program's sysexits(3) code: the system's (74: I/O error) or the program's
        (_bounce("74", "5.3.0", diagnostic_type="x-unix"), Reason.SYSTEMERROR, Severity.SOFT),
        (_bounce("70", "5.3.0", diagnostic_type="x-unix"), Reason.MAILERERROR, Severity.SOFT),
        # our host is blocked for spamming (a block of the sender, not a content verdict)
        (
            _bounce("554 Client host blocked for spamming issues", "5.7.1", "554"),
            Reason.BLOCKED,
            Severity.SOFT,
        ),
        (
            _bounce("550 Your message was rejected as spam", "5.7.1", "550", Stage.DATA),
            Reason.SPAMDETECTED,
            Severity.SOFT,
        ),
        # our server listed as an open relay: blocked, not a relaying refusal
        (
            _bounce(
                "501 no access from mail server [192.0.2.5] which is an open relay", None, "501"
            ),
            Reason.BLOCKED,
            Severity.SOFT,
        ),
        (
            _bounce("554 5.7.1 Relay access denied", "5.7.1", "554"),
            Reason.NORELAYING,
            Severity.SOFT,
        ),
    ],
)
def test_reason_and_severity(bounce: ParsedBounce, reason: Reason, severity: Severity) -> None:
    result = classify(bounce, RULES)
    assert (result.reason, result.severity) == (reason, severity), result


# Common MTA phrasings (Sisimai's reason phrase lists were read to find the ones the rules
# missed), each under a neutral "550 5.0.0" so that the text alone decides.
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("user account is exceeding their quota", Reason.MAILBOXFULL),
        ("mailbox exceeded the local limit", Reason.MAILBOXFULL),
        ("exceeded maximum inbound message size", Reason.MESGTOOBIG),
        ("host is unreachable", Reason.NETWORKERROR),
        ("host name lookup failure", Reason.NETWORKERROR),
        ("unrouteable mail domain", Reason.NETWORKERROR),
        ("malformed name server reply", Reason.NETWORKERROR),
        ("mail forwarding loop for user@example.net", Reason.NETWORKERROR),
        ("this system is not configured to relay mail", Reason.NORELAYING),
        ("we don't handle mail for example.net", Reason.NORELAYING),
        ("that domain isn't in my list of allowed rcpthost", Reason.NORELAYING),
        ("posting by non-member to a members-only list", Reason.POLICYVIOLATION),
        ("message bounced due to organizational settings", Reason.POLICYVIOLATION),
        ("header size exceeds maximum permitted", Reason.CONTENTERROR),
        ("sender email address rejected", Reason.REJECTED),
        ("fully qualified email address required", Reason.REJECTED),
        ("too many smtp sessions for this host", Reason.TOOMANYCONN),
        ("mailbox currently suspended", Reason.SUSPEND),
        ("is a deactivated mailbox", Reason.SUSPEND),
        ("message rejected due to user rules", Reason.FILTERED),
        ("queue file write error", Reason.SYSTEMERROR),
        ("can't create user output file", Reason.SYSTEMERROR),
        ("all hosts have been failing for a long time and were last tried", Reason.EXPIRED),
        ("unable to deliver message after multiple retries, giving up", Reason.EXPIRED),
        ("message considered as spam or virus", Reason.SPAMDETECTED),
        ("you're using a mass mailer", Reason.SPAMDETECTED),
        ("mail server at 192.0.2.1 is blocked", Reason.BLOCKED),
        ("rejecting open proxy", Reason.BLOCKED),
        ("authentication failed; server mx.example.net said: 535", Reason.SECURITYERROR),
        ("|/usr/bin/maildrop: command output: quota", Reason.MAILERERROR),
        # Exchange Online's documented NDR texts
        ("recipient's per hour message receive limit exceeded", Reason.TOOMANYCONN),
        ("STOREDRV.Submission.Exception:SubmissionQuotaExceededException", Reason.TOOMANYCONN),
        ("client was not authenticated to send anonymous mail", Reason.SECURITYERROR),
        ("starttls-not-supported: destination mail server must support tls", Reason.SECURITYERROR),
        ("sender not in allowed-senders list", Reason.REJECTED),
        ("invalid message content", Reason.CONTENTERROR),
        ("mailbox cannot be accessed", Reason.SUSPEND),
    ],
)
def test_common_phrasings_name_their_reason_and_are_soft(text: str, reason: Reason) -> None:
    result = classify(_bounce(f"550 5.0.0 {text}", "5.0.0", "550"), RULES)
    assert (result.reason, result.severity) == (reason, Severity.SOFT)


@pytest.mark.parametrize(
    "text",
    [
        # "does not accept mail" said of a sender or an attachment, not of the domain
        "this server does not accept mail from 192.0.2.1",
        "the recipient is not accepting mail with attachments",
        "user is not accepting any mail from you",
        # a refusal of the connecting host for what it is or sent before
        "Client host rejected: domain example.net does not exist",
        "Error: no valid recipients from 192.0.2.1",
        "This IP has been temporarily blocked for attempting to mail too many invalid recipients",
        "Too many invalid recipients",
    ],
)
def test_a_refusal_of_this_message_or_of_us_is_never_hard(text: str) -> None:
    """Once false hards: each phrase says nothing of the recipient's address."""
    result = classify(_bounce(f"550 5.7.1 {text}", "5.7.1", "550"), RULES)
    assert result.reason is not Reason.NOTACCEPT and result.severity is Severity.SOFT, result


def test_gmail_address_not_found_is_hard_only_with_an_address_status() -> None:
    text = (
        "Your message wasn't delivered to user@example.net because the address couldn't be "
        "found. Check for typos or unnecessary spaces and try again."
    )
    confirmed = classify(_bounce(f"550 5.1.1 {text}", "5.1.1", "550", Stage.RCPT), RULES)
    unconfirmed = classify(_bounce(text), RULES)
    assert (confirmed.reason, confirmed.severity) == (Reason.USERUNKNOWN, Severity.HARD)
    assert unconfirmed.severity is Severity.SOFT


@pytest.mark.parametrize(
    "text", ["domain example.net does not accept mail (nullMX)", "host/domain does not accept mail"]
)
def test_a_domain_that_accepts_no_mail_is_notaccept(text: str) -> None:
    result = classify(_bounce(f"556 5.1.10 {text}", "5.1.10", "556"), RULES)
    assert (result.reason, result.severity) == (Reason.NOTACCEPT, Severity.HARD)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (MessageKind.VACATION, Reason.VACATION),
        (MessageKind.FEEDBACK, Reason.FEEDBACK),
        (MessageKind.DELIVERED, Reason.DELIVERED),
    ],
)
def test_not_bounces_are_never_hard_or_soft(kind: MessageKind, reason: Reason) -> None:
    # even with a text that would make a bounce hard
    result = classify(_bounce("550 5.1.1 user unknown", "5.1.1", "550", Stage.RCPT, kind), RULES)
    assert result.reason is reason
    assert result.severity is Severity.NONE


def test_a_delay_warning_is_soft_and_never_hard() -> None:
    hard_text = _bounce("550 5.1.1 user unknown", "5.1.1", "550", Stage.RCPT, MessageKind.DELAY)
    assert classify(hard_text, RULES).severity is Severity.SOFT
    plain = _bounce("still trying", "4.4.7", kind=MessageKind.DELAY)
    result = classify(plain, RULES)
    assert result.severity is Severity.SOFT
    assert result.reason is Reason.EXPIRED  # Sisimai's name for a delay warning; kind says delay


def test_derived_severity_is_hard_only_for_address_reasons() -> None:
    hard = {
        reason
        for reason in Reason
        if derive_severity(reason, MessageKind.BOUNCE, "5.0.0", "550") is Severity.HARD
    }
    assert hard == {Reason.USERUNKNOWN, Reason.HOSTUNKNOWN, Reason.HASMOVED, Reason.NOTACCEPT}
    assert derive_severity(Reason.NOTACCEPT, MessageKind.BOUNCE, "4.3.2", "") is Severity.SOFT
    assert not SENDER_REASONS & hard


def test_every_reason_has_a_fault() -> None:
    assert derive_fault(Reason.USERUNKNOWN) is Fault.RECIPIENT
    assert derive_fault(Reason.BLOCKED) is Fault.SENDER
    assert derive_fault(Reason.EXPIRED) is Fault.TRANSIENT
    assert derive_fault(Reason.UNDEFINED) is Fault.UNKNOWN
    for reason in SENDER_REASONS:
        assert derive_fault(reason) is Fault.SENDER


def test_explain_lists_the_deciding_rule_first_with_what_it_matched() -> None:
    bounce = _bounce("552 5.2.2 Mailbox full", "5.2.2", "552")
    chain = explain(bounce, RULES)
    assert chain[0][0].id == classify(bounce, RULES).rule_id == "text-mailbox-full"
    assert any("Mailbox full" in hit for hit in chain[0][1])
    # the code tables come after every rule: the status row, then the reply rows
    ids = [rule.id for rule, _ in chain]
    assert ids.index("status-x.2.2") < ids.index("reply-552")


def test_an_empty_rule_list_puts_a_final_failure_on_hold() -> None:
    result = classify(_bounce("whatever"), Classifier([]))
    assert (result.reason, result.severity, result.rule_id) == (
        Reason.ONHOLD,
        Severity.SOFT,
        "fallback",
    )
    # a final failure whose status says only "temporary": the reporting MTA stopped retrying
    expired = classify(_bounce("whatever", "4.0.0"), Classifier([]))
    assert (expired.reason, expired.severity) == (Reason.EXPIRED, Severity.SOFT)
    other = classify(_bounce("whatever", kind=MessageKind.OTHER), Classifier([]))
    assert other.reason is Reason.UNDEFINED


def test_a_provider_rule_needs_the_providers_evidence() -> None:
    """Google Groups' refusal of a post (its notice, with its groups.google.com link) is about
    our sender; Gmail's plain "does not exist" reply for a group address is an unknown user;
    the Groups wording from anyone but Google is not Google Groups'."""
    groups = "The group you tried to contact may not exist. See https://groups.google.com/support/"
    google = ParsedMessage(kind=MessageKind.BOUNCE, from_="Mail Delivery Subsystem "
                           "<mailer-daemon@googlemail.com>")  # fmt: skip
    elsewhere = ParsedMessage(kind=MessageKind.BOUNCE, from_="MAILER-DAEMON@mx.example.org")
    post = _bounce(groups, recipient="list@example.org")
    assert classify(post, RULES, google).rule_id == "provider-google-groups"
    assert classify(post, RULES, elsewhere).rule_id != "provider-google-groups"
    reply = _bounce(
        "550 5.1.1 The email account that you tried to reach does not exist.",
        "5.1.1",
        "550",
        recipient="list@googlegroups.com",
    )
    result = classify(reply, RULES, google)
    assert (result.reason, result.severity) == (Reason.USERUNKNOWN, Severity.HARD)
    chain = explain(post, RULES, google)
    assert "provider googlemail.com" in chain[0][1]


_UNKNOWN = "550 5.1.1 <user@example.net>: Recipient address rejected: User unknown"
_ACCESS_TABLE = _UNKNOWN.replace("5.1.1", "5.7.1")
_HARD = (Reason.USERUNKNOWN, Severity.HARD)
_FILTERED = (Reason.FILTERED, Severity.SOFT)


@pytest.mark.parametrize(
    ("text", "status", "stage", "expected"),
    [
        # after DATA: hard only under the receiver's own address status (LMTP, RFC 2033)
        (_UNKNOWN, "5.1.1", Stage.END_OF_DATA, _HARD),
        ("550 User unknown", "5.1.1", Stage.DATA, _HARD),
        ("550 User unknown", "5.0.0", Stage.END_OF_DATA, _FILTERED),
        ("550 User unknown", "5.2.1", Stage.END_OF_DATA, _FILTERED),
        # at RCPT: hard whatever the status, but Postfix's access-table refusal under 5.7.1
        (_UNKNOWN, "5.1.1", Stage.RCPT, _HARD),
        (_ACCESS_TABLE, "5.7.1", Stage.RCPT, _FILTERED),
        ("550 5.7.1 No such user!", "5.7.1", Stage.RCPT, _HARD),
        # before any recipient was named: about us, never hard
        (_UNKNOWN, "5.1.1", Stage.MAIL, (Reason.REJECTED, Severity.SOFT)),
        # no stage: an address status, or a remote reply without one (lean soft)
        ("550 User unknown", "5.1.1", Stage.UNKNOWN, _HARD),
        ("550 User unknown", None, Stage.UNKNOWN, _FILTERED),
    ],
)
def test_the_unknown_user_boundary(
    text: str, status: str | None, stage: Stage, expected: tuple[Reason, Severity]
) -> None:
    result = classify(_bounce(text, status, "550", stage), RULES)
    assert (result.reason, result.severity) == expected, result.rule_id


@pytest.mark.parametrize(
    ("text", "status", "reply", "reason"),
    [
        # Gmail's SMTP error reference: 421 4.7.28 rate limited, 550 5.7.1 blocked
        ("421 4.7.28 Our system has detected an unusual rate of unsolicited mail originating"
         " from your IP address.", "4.7.28", "421", Reason.SPEEDING),
        ("550 5.7.1 Our system has detected an unusual rate of unsolicited mail originating"
         " from your IP address.", "5.7.1", "550", Reason.BLOCKED),
        # the reporting MTA gave up retrying: expired
        ("450 4.2.1 Mailbox busy, try again later", "4.2.1", "450", Reason.EXPIRED),
        ("421 Server busy, try again later: retry timeout exceeded", "5.0.0", "421",
         Reason.EXPIRED),
        ("Deferred: 421 Try again later. Message could not be delivered for 30 minutes", "4.7.0",
         "421", Reason.EXPIRED),
    ],
)  # fmt: skip
def test_published_refusals_of_our_ip_and_give_ups(
    text: str, status: str, reply: str, reason: Reason
) -> None:
    result = classify(_bounce(text, status, reply, recipient="someone@gmail.com"), RULES)
    assert (result.reason, result.severity) == (reason, Severity.SOFT), result.rule_id


def test_yahoo_ip_refusals_need_yahoo() -> None:
    text = "554 5.7.9 [TS03] All messages from 192.0.2.1 will be permanently deferred"
    yahoo = classify(_bounce(text, "5.7.9", "554", recipient="someone@yahoo.com"), RULES)
    assert (yahoo.reason, yahoo.rule_id) == (Reason.BLOCKED, "provider-yahoo-ip-deferred")
    other = classify(_bounce(text, "5.7.9", "554", recipient="someone@example.org"), RULES)
    assert other.rule_id != "provider-yahoo-ip-deferred"


def test_results_alike_share_a_classification_and_only_those() -> None:
    """A classifier remembers its decisions by what they depend on: the rule, what it matched
    on, the kind, a sender's stage and the class of the code; nothing else is shared."""
    classifier = Classifier(load_rules().rules)
    text = "Domain example.net does not accept mail (nullMX)"
    permanent = classify(_bounce(text, None, "550"), classifier)
    assert permanent is classify(_bounce(text, None, "550"), classifier)
    temporary = classify(_bounce(text, None, "450"), classifier)
    assert (permanent.severity, temporary.severity) == (Severity.HARD, Severity.SOFT)
    delay = classify(_bounce(text, None, "550", kind=MessageKind.DELAY), classifier)
    assert delay.severity is Severity.SOFT
    at_mail = classify(_bounce(text, None, "550", Stage.MAIL), classifier)
    assert (at_mail.severity, at_mail.fault) != (permanent.severity, permanent.fault)
    assert classify(_bounce(text, None, "550"), classifier) == permanent


@pytest.mark.parametrize(
    ("bounce", "severity"),
    [
        (_bounce("550 5.1.4 Destination mailbox address ambiguous", "5.1.4", "550", Stage.RCPT),
         Severity.HARD),
        (_bounce("550 Destination mailbox address ambiguous", None, "550"), Severity.HARD),
        (_bounce("450 4.1.4 Destination mailbox address ambiguous", "4.1.4", "450", Stage.RCPT),
         Severity.SOFT),
    ],
)  # fmt: skip
def test_an_ambiguous_address_is_an_address_failure(
    bounce: ParsedBounce, severity: Severity
) -> None:
    """RFC 3463 X.1.4: the address as written names no single mailbox (an addressing status,
    like X.1.1): userunknown, hard under 5.x.x, soft under 4.x.x."""
    result = classify(bounce, RULES)
    assert (result.reason, result.severity) == (Reason.USERUNKNOWN, severity)


def test_an_ambiguous_address_refused_at_mail_from_is_not_the_address() -> None:
    bounce = _bounce("550 5.1.4 Destination mailbox address ambiguous", "5.1.4", "550", Stage.MAIL)
    assert classify(bounce, RULES).severity is not Severity.HARD

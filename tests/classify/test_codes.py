"""The code tables of the shipped rules (rules/codes.yaml): every enhanced status code of RFC 3463
and of IANA's "SMTP Enhanced Status Codes" registry, and every SMTP reply code of RFC 5321 (and
RFC 7504, 4954, 3207), decides a reason for a final failure that no rule decided; `onhold` only
when there is neither.  docs/rules.md lists the same table.
"""

from __future__ import annotations

import re

import pytest
from support import DOCS, SAMPLES

from reconciler.analysis import analyse
from reconciler.classify import Classifier, classify
from reconciler.classify.rules import load_rules
from reconciler.records import (
    ADDRESS_REASONS,
    Fault,
    MessageKind,
    ParsedBounce,
    Reason,
    Severity,
    Stage,
)

RULES = load_rules().rules
TABLES = Classifier([rule for rule in RULES if rule.table])  # the tables alone
SHIPPED = Classifier(RULES)
RULES_DOC = DOCS / "rules.md"

# IANA "SMTP Enhanced Status Codes", subject.detail (RFC 3463, 3886, 4468, 4954, 5248, 6531,
# 6710, 7293, 7372, 7505, 8617, 8689).  X.0.0 is "only the class is known": not a row.
REGISTERED = [
    *("1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.10"),
    *("2.0", "2.1", "2.2", "2.3", "2.4"),
    *("3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6"),
    *("4.0", "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7"),
    *("5.0", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6"),
    *(f"6.{n}" for n in range(11)),
    *(f"7.{n}" for n in range(31)),
]
REPLY_CODES = [
    *("421", "450", "451", "452", "454", "455"),
    *("500", "501", "502", "503", "504", "521", "523", "530", "534", "535", "538"),
    *("550", "551", "552", "553", "554", "555", "556"),
]


def _bounce(
    status: str | None = None, reply: str | None = None, stage: Stage = Stage.UNKNOWN
) -> ParsedBounce:
    return ParsedBounce(
        kind=MessageKind.BOUNCE,
        recipient="u@example.net",
        detector="test",
        action="failed",
        status=status,
        reply_code=reply,
        stage=stage,
    )


@pytest.mark.parametrize("klass", ["4", "5"])
@pytest.mark.parametrize("detail", REGISTERED)
def test_every_registered_status_code_has_a_row(klass: str, detail: str) -> None:
    result = classify(_bounce(f"{klass}.{detail}"), TABLES)
    assert result.rule_id.startswith("status-"), (klass, detail, result)
    assert result.reason not in (Reason.ONHOLD, Reason.UNDEFINED)


@pytest.mark.parametrize("code", REPLY_CODES)
def test_every_reply_code_has_a_row(code: str) -> None:
    result = classify(_bounce(reply=code), TABLES)
    assert result.rule_id.startswith("reply-"), (code, result)
    assert result.reason not in (Reason.ONHOLD, Reason.UNDEFINED)


@pytest.mark.parametrize(
    ("status", "reason", "severity", "fault"),
    [
        ("5.1.1", Reason.USERUNKNOWN, Severity.HARD, Fault.RECIPIENT),
        ("4.1.1", Reason.USERUNKNOWN, Severity.SOFT, Fault.RECIPIENT),  # "permanent only"
        ("5.1.2", Reason.HOSTUNKNOWN, Severity.HARD, Fault.RECIPIENT),
        ("5.1.6", Reason.HASMOVED, Severity.HARD, Fault.RECIPIENT),
        ("5.1.7", Reason.REJECTED, Severity.SOFT, Fault.SENDER),  # the sender's address
        ("5.1.10", Reason.NOTACCEPT, Severity.HARD, Fault.RECIPIENT),  # null MX, RFC 7505
        ("5.2.2", Reason.MAILBOXFULL, Severity.SOFT, Fault.RECIPIENT),
        ("5.3.2", Reason.NOTACCEPT, Severity.HARD, Fault.RECIPIENT),  # 521 5.3.2, RFC 7504
        ("4.3.2", Reason.NOTACCEPT, Severity.SOFT, Fault.RECIPIENT),  # maintenance, load
        ("4.4.7", Reason.EXPIRED, Severity.SOFT, Fault.TRANSIENT),
        ("5.4.4", Reason.HOSTUNKNOWN, Severity.HARD, Fault.RECIPIENT),
        ("4.4.4", Reason.NETWORKERROR, Severity.SOFT, Fault.TRANSIENT),
        ("5.7.1", Reason.BLOCKED, Severity.SOFT, Fault.SENDER),
        ("5.7.17", Reason.HASMOVED, Severity.HARD, Fault.RECIPIENT),  # RRVS: owner changed
        ("5.7.23", Reason.AUTHFAILURE, Severity.SOFT, Fault.SENDER),  # SPF
        ("5.7.25", Reason.REQUIREPTR, Severity.SOFT, Fault.SENDER),
        ("5.7.26", Reason.AUTHFAILURE, Severity.SOFT, Fault.SENDER),  # DMARC
        ("5.7.27", Reason.REJECTED, Severity.SOFT, Fault.SENDER),  # the SENDER's null MX
    ],
)
def test_status_rows_decide_reason_severity_and_fault(
    status: str, reason: Reason, severity: Severity, fault: Fault
) -> None:
    result = classify(_bounce(status), SHIPPED)
    assert (result.reason, result.severity, result.fault) == (reason, severity, fault)


def test_an_address_status_is_never_concluded_at_a_sender_stage() -> None:
    for stage in (Stage.CONNECT, Stage.HELO, Stage.MAIL):
        result = classify(_bounce("5.1.1", "550", stage=stage), SHIPPED)
        assert result.reason not in ADDRESS_REASONS and result.severity is Severity.SOFT
        assert result.fault is Fault.SENDER


@pytest.mark.parametrize(
    ("sample", "reason", "rule"),
    [
        # "after EHLO ...: 550 Go away": our sending host
        ("blocked-helo-01", Reason.BLOCKED, "reply-5xx-connect-helo"),
        # "550 5.1.1 <bounces@...>... User unknown (in reply to MAIL FROM command)": our sender
        ("rejected-mail-01", Reason.REJECTED, "reply-5xx-mail"),
    ],
)
def test_a_refusal_at_a_sender_stage_is_about_our_side(
    sample: str, reason: Reason, rule: str
) -> None:
    data = (SAMPLES / "rules" / f"{sample}.eml").read_bytes()
    (verdict,) = analyse(data, SHIPPED, None, 0).verdicts
    assert (verdict.classification.reason, verdict.classification.rule_id) == (reason, rule)
    assert verdict.classification.severity is Severity.SOFT
    assert verdict.classification.fault is Fault.SENDER
    # the same without any code: the stage alone decides
    for stage, alone in ((Stage.MAIL, Reason.REJECTED), (Stage.CONNECT, Reason.BLOCKED)):
        result = classify(_bounce(stage=stage), SHIPPED)
        assert (result.reason, result.fault) == (alone, Fault.SENDER)


def test_a_detail_no_row_names_falls_to_its_subject_at_rcpt() -> None:
    """RFC 3463 section 2: the subject classifies the status. Microsoft's "550 5.7.124"
    (sender not allowed for the group) at RCPT is a policy refusal, not a 550 user unknown."""
    result = classify(_bounce("5.7.124", "550", stage=Stage.RCPT), SHIPPED)
    assert (result.reason, result.severity) == (Reason.SECURITYERROR, Severity.SOFT)
    assert result.rule_id == "status-x.7.x-rcpt"
    result = classify(_bounce("5.2.121", "550", stage=Stage.RCPT), SHIPPED)
    assert (result.reason, result.severity) == (Reason.FILTERED, Severity.SOFT)
    # an unregistered X.1 detail has no subject row: the reply code at RCPT decides
    result = classify(_bounce("5.1.99", "550", stage=Stage.RCPT), SHIPPED)
    assert (result.reason, result.severity) == (Reason.USERUNKNOWN, Severity.HARD)
    # at the other stages the reply table's stage rows decide (our sending host here)
    result = classify(_bounce("5.7.708", "550", stage=Stage.CONNECT), SHIPPED)
    assert (result.reason, result.rule_id) == (Reason.BLOCKED, "reply-5xx-connect-helo")


def test_the_reply_code_decides_when_the_status_is_only_a_class() -> None:
    result = classify(_bounce("5.0.0", "552"), SHIPPED)
    assert (result.reason, result.rule_id) == (Reason.MAILBOXFULL, "reply-552")
    result = classify(_bounce("5.0.0", "550", stage=Stage.RCPT), SHIPPED)
    assert (result.reason, result.severity) == (Reason.USERUNKNOWN, Severity.HARD)
    result = classify(_bounce("5.0.0", "550"), SHIPPED)  # stage unknown: not why
    assert (result.reason, result.severity) == (Reason.FILTERED, Severity.SOFT)


def test_onhold_only_without_a_status_class_a_reply_code_or_a_phrase() -> None:
    assert classify(_bounce(), SHIPPED).reason is Reason.ONHOLD
    assert classify(_bounce("5.0.0"), SHIPPED).reason is Reason.ONHOLD
    # a final failure whose status says only "temporary": the MTA stopped retrying
    assert classify(_bounce("4.0.0"), SHIPPED).reason is Reason.EXPIRED


def test_the_docs_list_every_row_with_its_reason() -> None:
    text = RULES_DOC.read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `((?:status|reply)-[^`]+)` \| `([a-z]+)`", text, re.M))
    rows = {rule.id: rule.reason.value for rule in RULES if rule.table}
    assert listed == rows

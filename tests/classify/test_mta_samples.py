"""Bounces written by real Postfix 3.7 and Exim 4.96 (tests/samples/mta/README.md): every
recipient, its kind, reason and severity, and the returned original's Message-ID.

Read as a table of promises: an unknown or moved address is hard; a full mailbox, a spam or
policy refusal, a rate limit, a relay refusal or a local program's failure is soft; a delay
warning is never a final failure; a message that expired in the queue after refusals or
greylisting is `expired`; a success notice is not a bounce; a delivery program that exits
EX_NOUSER (67) reports an unknown user.
"""

from __future__ import annotations

import re

import pytest
from support import TESTS

from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules

SAMPLES = TESTS / "samples" / "mta"
RULES = Classifier(load_rules().rules)
BOUNCE, DELAY, DELIVERED = "bounce", "delay", "delivered"

# file (without .eml) -> (recipient, kind, reason, severity) for each recipient, in order
EXPECTED: dict[str, list[tuple[str, str, str, str]]] = {
    # remote refusals at RCPT or DATA, reported by both MTAs alike
    **{
        f"{mta}-{case}-failed": [(f"{case}@remote.test", BOUNCE, reason, severity)]
        for mta in ("postfix", "exim")
        for case, reason, severity in [
            ("unknown", "userunknown", "hard"),
            ("nouser", "userunknown", "hard"),  # "550 No such user here", no enhanced code
            ("syntax", "userunknown", "hard"),  # 501 5.1.3 bad recipient address syntax
            ("moved", "hasmoved", "hard"),
            ("full", "mailboxfull", "soft"),
            ("full5", "mailboxfull", "soft"),  # "550 5.0.0 Mailbox full": the text decides
            ("disabled", "suspend", "soft"),
            ("relay", "norelaying", "soft"),
            ("policy", "blocked", "soft"),
            ("spam", "spamdetected", "soft"),
            ("big", "mesgtoobig", "soft"),
            ("virus", "virusdetected", "soft"),
            ("dmarc", "authfailure", "soft"),
        ]
    },
    "postfix-multi-failed": [
        ("full@remote.test", BOUNCE, "mailboxfull", "soft"),
        ("unknown@remote.test", BOUNCE, "userunknown", "hard"),
    ],
    "exim-multi-failed": [
        ("unknown@remote.test", BOUNCE, "userunknown", "hard"),
        ("full@remote.test", BOUNCE, "mailboxfull", "soft"),
    ],
    "postfix-mixed-failed": [
        ("nosuchuser2@mx.example.org", BOUNCE, "userunknown", "hard"),
        ("unknown@remote.test", BOUNCE, "userunknown", "hard"),
    ],
    # Exim says "Unrouteable address" for an unknown local user and an unresolvable domain
    "exim-mixed-failed": [
        ("nosuchuser2@mx.example.org", BOUNCE, "hostunknown", "hard"),
        ("unknown@remote.test", BOUNCE, "userunknown", "hard"),
    ],
    "postfix-localunknown-failed": [("nosuchuser@mx.example.org", BOUNCE, "userunknown", "hard")],
    "exim-localunknown-failed": [("nosuchuser@mx.example.org", BOUNCE, "hostunknown", "hard")],
    "exim-nxdomain-failed": [("someone@nxdomain.invalid", BOUNCE, "hostunknown", "hard")],
    # temporary failures: a delay warning first, then the final failure when the queue expired
    "postfix-grey-delayed": [("grey@remote.test", DELAY, "expired", "soft")],
    "exim-grey-delayed": [("grey@remote.test", DELAY, "expired", "soft")],
    "postfix-grey-failed": [("grey@remote.test", BOUNCE, "expired", "soft")],
    "exim-grey-failed": [("grey@remote.test", BOUNCE, "expired", "soft")],
    "postfix-refused-delayed": [("someone@refused.test", DELAY, "networkerror", "soft")],
    "exim-refused-delayed": [("someone@refused.test", DELAY, "expired", "soft")],
    "postfix-refused-failed": [("someone@refused.test", BOUNCE, "expired", "soft")],
    "exim-refused-failed": [("someone@refused.test", BOUNCE, "expired", "soft")],
    "postfix-ratelimit-delayed": [("ratelimit@remote.test", DELAY, "speeding", "soft")],
    "exim-ratelimit-delayed": [("ratelimit@remote.test", DELAY, "speeding", "soft")],
    "postfix-ratelimit-failed": [("ratelimit@remote.test", BOUNCE, "speeding", "soft")],
    "exim-ratelimit-failed": [("ratelimit@remote.test", BOUNCE, "speeding", "soft")],
    # delivery programs (pipes): soft, whatever they print, except an exit EX_NOUSER (67,
    # sysexits(3) "addressee unknown"), which Postfix reports as 5.1.1 "user unknown"
    "postfix-pipe67-failed": [("someone@exit67.test", BOUNCE, "userunknown", "hard")],
    "postfix-pipe73-failed": [("someone@exit73.test", BOUNCE, "mailboxfull", "soft")],
    "postfix-pipe75-delayed": [("someone@exit75.test", DELAY, "mailererror", "soft")],
    "postfix-pipe75-failed": [("someone@exit75.test", BOUNCE, "mailererror", "soft")],
    "exim-pipe67-failed": [("someone@exit67.test", BOUNCE, "userunknown", "hard")],
    # Exim says only "local delivery failed" when the program printed nothing: its exit code
    # is in Exim's log, not in the notice, so nothing says the address is unknown
    "exim-pipe67-nooutput-failed": [("someone@exit67.test", BOUNCE, "mailererror", "soft")],
    "exim-pipe75-delayed": [("someone@exit75.test", DELAY, "expired", "soft")],
    "exim-pipe75-failed": [("someone@exit75.test", BOUNCE, "expired", "soft")],
    # success notices
    "postfix-success-success": [("ok@remote.test", DELIVERED, "delivered", "none")],
    "exim-success-success": [("ok@remote.test", DELIVERED, "delivered", "none")],
}


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.stem for p in SAMPLES.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_mta_bounce_is_classified_as_expected(name: str) -> None:
    analysis = analyse((SAMPLES / f"{name}.eml").read_bytes(), RULES, None, 0)
    got = [
        (v.bounce.recipient, v.bounce.kind.value, v.classification.reason.value,
         v.classification.severity.value)
        for v in analysis.verdicts
    ]  # fmt: skip
    assert got == EXPECTED[name]
    # the returned original names the notification that bounced, and its Return-Path is the
    # address the bounce came back to (the VERP return path)
    original = analysis.message.original
    assert original is not None and original.message_id is not None
    prefix = "pf" if name.startswith("postfix-") else "ex"
    assert re.fullmatch(rf"<{prefix}-[\w-]+\.\d+@example\.org>", original.message_id)
    to = dict(analysis.message.addressing)["to"]
    assert original.return_path == f"<{to}>" and to.startswith(f"bounces+{prefix}-")

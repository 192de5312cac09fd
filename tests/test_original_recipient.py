"""The address we sent to, end to end (issue 13, item 5).

A report that names an `Original-Recipient` beside a routable `Final-Recipient` (a forward,
or a mailbox behind an alias) keeps both: `recipient` is the final one, `original_recipient`
what we mailed, in the parsed record, in `classify --json` and in the recorded event; and
matching the bounce to what we sent accepts either, so a token bound to the address we mailed
verifies the event, which is recorded for that address.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from helpers_mail import VERP, token_for

from reconciler.analysis import Destinations, Stages, analyse, ledger_entry
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.records import RawMessage, VerpFailure
from reconciler.report.results import result_rows, row_json

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
MAILED = "ann@example.org"
FORWARD = "ann.smith@mail.example.net"
FOLDERS = Destinations("processed", "unmatched", "quarantine")


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules().rules)


def _report(token: str) -> bytes:
    return (
        f"Delivered-To: {token}\r\nFrom: MAILER-DAEMON@mx.example.net\r\n"
        f"To: {token}\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net"
        f"\r\n\r\nOriginal-Recipient: rfc822;{MAILED}\r\nFinal-Recipient: rfc822;{FORWARD}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 "
        f"<{FORWARD}>: Recipient address rejected: User unknown\r\n\r\n--b--\r\n"
    ).encode()


def test_both_addresses_are_kept_and_the_final_one_is_the_recipient(
    classifier: Classifier,
) -> None:
    analysis = analyse(_report("bounce@example.com"), classifier, None, 0)
    (row,) = [row_json(r) for r in result_rows("x.eml", analysis)]
    assert (row["kind"], row["recipient"], row["original_recipient"]) == (
        "bounce",
        FORWARD,
        MAILED,
    )


@pytest.mark.parametrize("bound", [MAILED, FORWARD])
def test_a_token_bound_to_either_address_verifies_the_event(
    classifier: Classifier, bound: str
) -> None:
    token = token_for(501, address=bound, at=NOW)
    raw = RawMessage("INBOX", 1, 1, _report(token))
    entry, _ = ledger_entry(raw, Stages(classifier, VERP), FOLDERS, NOW)
    (event,) = entry.events
    assert (event.recipient, event.original_recipient) == (bound, MAILED)
    assert (event.verp_valid, event.address_bound, event.verp_failure) == (True, True, None)
    assert event.names(MAILED.upper()) and event.names(bound)


def test_a_token_bound_to_a_third_address_is_a_mismatch(classifier: Classifier) -> None:
    token = token_for(502, address="someone@example.org", at=NOW)
    raw = RawMessage("INBOX", 1, 2, _report(token))
    entry, _ = ledger_entry(raw, Stages(classifier, VERP), FOLDERS, NOW)
    (event,) = entry.events
    assert (event.verp_valid, event.address_bound) == (False, False)
    assert event.verp_failure is VerpFailure.ADDRESS_MISMATCH

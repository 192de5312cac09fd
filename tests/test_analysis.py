"""`analyse` on hostile input that once raised outside `parse()` (issue 12, item 8).

An exception there is an analysis failure: the message is retried and, after
`[daemon] max_attempts` cycles, quarantined, although it may be a genuine bounce.  Each case
here must end as a normal analysis: a verdict per recipient, the token found where it is.
"""

from __future__ import annotations

from email.utils import getaddresses as stdlib_getaddresses

import pytest
from helpers_mail import VERP, token_for
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.analysis import analyse, analyse_parsed
from reconciler.classify import Classifier
from reconciler.classify.facts import rule_facts
from reconciler.classify.rules import load_rules
from reconciler.parse import parse
from reconciler.records import (
    Classification,
    MessageKind,
    ParsedBounce,
    ParsedMessage,
    Reason,
    RuleFacts,
    Severity,
)
from reconciler.verp.addresses import getaddresses, without_comments
from tests.support import CORPUS, SAMPLES

NOW = 1_795_500_000
USER = 77


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules().rules)


def _token() -> str:
    from datetime import UTC, datetime

    return token_for(USER, address="gone@example.org", at=datetime.fromtimestamp(NOW - 3600, UTC))


def _postfix_bounce(headers: bytes, body_charset: str, diagnostic: bytes) -> bytes:
    return (
        headers + b"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=" + body_charset.encode() + b"\r\n\r\n"
        b"This is the mail system at host mx.example.net.\r\n\r\n"
        b"I'm sorry to have to inform you that your message could not\r\n"
        b"be delivered to one or more recipients.\r\n\r\n"
        b"<gone@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1\r\n"
        b"    <gone@example.org>: Recipient address rejected: " + diagnostic + b"\r\n"
    )


def test_deeply_nested_comments_in_an_address_header_are_a_normal_analysis(
    classifier: Classifier,
) -> None:
    """`To: token (((((...` 1,000 deep: the email package's address parser recursed once."""
    token = _token().encode()
    data = _postfix_bounce(
        b"Delivered-To: " + b"(" * 1000 + token + b"\r\n" + b"To: " + token + b" " + b"(" * 1000
        + b"\r\n",
        "us-ascii",
        b"User unknown",
    )  # fmt: skip
    analysis = analyse(data, classifier, VERP, NOW)
    assert analysis.kind is MessageKind.BOUNCE
    assert [v.bounce.recipient for v in analysis.verdicts] == ["gone@example.org"]
    assert analysis.verp is not None and analysis.verp.valid
    assert analysis.verp.user_id == USER


def test_a_utf7_body_with_a_lone_surrogate_is_classified(classifier: Classifier) -> None:
    """`+2D0-` in a charset=utf-7 body decodes to a lone surrogate, which RE2 cannot encode."""
    data = _postfix_bounce(b"Delivered-To: " + _token().encode() + b"\r\n", "utf-7", b"+2D0-")
    analysis = analyse(data, classifier, VERP, NOW)
    assert analysis.kind is MessageKind.BOUNCE
    (verdict,) = analysis.verdicts
    assert verdict.bounce.status == "5.1.1"
    assert verdict.classification.reason is Reason.USERUNKNOWN
    assert verdict.classification.severity is Severity.HARD
    assert analysis.verp is not None and analysis.verp.valid


@pytest.mark.parametrize(
    "value",
    [
        "a@b.example",
        "Name <a@b.example>, (comment) c@d.example",
        '"quoted (not a comment)" <x@y.example> (a (nested) comment)',
        '"a\\"(b" <q@r.example>',
        "a(inner)@b.example",
        "(unclosed <u@v.example>",
        "x@y.example (",
        ")",
        "\\(a@b.example",
    ],
)
def test_safe_getaddresses_finds_what_the_email_package_finds(value: str) -> None:
    assert [a for _, a in getaddresses([value])] == [a for _, a in stdlib_getaddresses([value])]


PIECES = st.sampled_from(
    ["a@b.example", "<c@d.example>", "e@f.example", "Name", '"Last, First"', '"x (not) y"',
     "(comment)", "(nested (comment))", "(a \\) b)", ",", " ", "<", ">", "(", ")"]
)  # fmt: skip


def _addresses(value: str) -> list[str]:
    """The addresses found (what the VERP search keeps: those with an "@")."""
    return [a.strip() for _, a in stdlib_getaddresses([value]) if "@" in a]


@settings(max_examples=2000, deadline=None, database=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_dropping_the_comments_keeps_the_addresses(value: str) -> None:
    """What deep values go through: the addresses the email package finds (in header values
    made of addresses, names, quoted strings, comments and stray delimiters)."""
    assert _addresses(without_comments(value)) == _addresses(value)


def test_safe_getaddresses_survives_any_depth() -> None:
    for depth in (1000, 100_000):
        assert _found(getaddresses(["(" * depth + " a@b.example"])) == []  # all one comment
        found = getaddresses(["a@b.example " + "(" * depth + ")" * depth])
        assert _found(found) == ["a@b.example"]
        found = getaddresses(["(" * depth + ")" * depth + "Name <a@b.example>, c@d.example"])
        assert _found(found) == ["a@b.example", "c@d.example"]


def _found(pairs: list[tuple[str, str]]) -> list[str]:
    return [address for _, address in pairs if address]


def test_a_message_not_understood_is_quarantined_with_why(classifier: Classifier) -> None:
    """The ledger entry keeps the parser's reason, for `reconciler review`."""
    from datetime import UTC, datetime

    from reconciler.analysis import Destinations, Stages, ledger_entry
    from reconciler.records import MessageOutcome, RawMessage

    now = datetime(2026, 11, 26, tzinfo=UTC)
    folders = Destinations("processed", "unmatched", "quarantine")
    entry, _ = ledger_entry(RawMessage("box", 1, 1, b""), Stages(classifier, None), folders, now)
    assert (entry.outcome, entry.error) == (
        MessageOutcome.QUARANTINED,
        "not understood: empty message",
    )
    fine = RawMessage("box", 1, 2, b"Subject: hi\r\n\r\nhello\r\n")
    assert ledger_entry(fine, Stages(classifier, None), folders, now)[0].error is None


def _replaced_verdicts(
    message: ParsedMessage, classifier: Classifier
) -> tuple[tuple[ParsedBounce, Classification, RuleFacts], ...]:
    """What `analyse_parsed` gave before it read the facts of a message at once: the facts
    of each result by `rule_facts`, one by one."""
    out = []
    for bounce in message.bounces:
        facts = rule_facts(bounce, message)
        out.append((bounce, classifier.classify_facts(facts), facts))
    return tuple(out)


def test_verdicts_are_those_of_each_result_on_its_own(classifier: Classifier) -> None:
    """The verdicts of every message of the corpora and samples are the replaced form's."""
    files = sorted([*CORPUS.glob("*.eml"), *SAMPLES.rglob("*.eml")])
    results = 0
    for path in files:
        message = parse(path.read_bytes())
        analysis = analyse_parsed(message, classifier, None, 0)
        found = tuple((v.bounce, v.classification, v.facts) for v in analysis.verdicts)
        assert found == _replaced_verdicts(message, classifier), path.name
        assert analysis.message is message and analysis.verp is None
        results += len(found)
    assert results > 400

"""`ledger_entry` and `quarantined` make the entries their form before issue 16 made
(tests/replaced_ledger.py: imports in the functions, `_event_time` twice), field for field,
over the samples and the corpus with every kind of VERP outcome the events record: no
settings, no token, a token bound to nothing, to the result's recipient (bound), to another
address (a mismatch), an expired one; and with INTERNALDATEs absent, past and future."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers_mail import CORPUS, VERP
from replaced_ledger import old_ledger_entry, old_quarantined

from reconciler.analysis import Destinations, Stages, analyse, ledger_entry, quarantined
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.records import RawMessage
from reconciler.verp import make_address

SAMPLES = Path(__file__).parent / "samples"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
FOLDERS = Destinations("processed", "unmatched", "quarantine")
_KINDS = ("none", "unbound", "bound", "other", "expired")
_RECEIVED = (None, NOW - timedelta(hours=2), NOW + timedelta(days=1))


def _files() -> list[Path]:
    files = sorted(SAMPLES.rglob("*.eml")) + sorted(CORPUS.glob("*.eml"))
    assert len(files) > 100
    return files


def _token(kind: str, user: int, recipient: str | None) -> bytes:
    if kind == "none":
        return b""
    bound = {"unbound": None, "bound": recipient, "other": "someone-else@example.net"}
    issued = NOW - (timedelta(days=400) if kind == "expired" else timedelta(hours=3))
    address = make_address(
        VERP,
        user_id=user,
        address=bound.get(kind, recipient),
        realm="wiki" if user % 2 else None,
        message_id=f"<m{user}@example.org>" if user % 3 else None,
        now=int(issued.timestamp()),
    )
    return b"Delivered-To: " + address.encode() + b"\r\n"


def _messages(classifier: Classifier) -> Iterator[RawMessage]:
    """Each file in turn with one token kind and one INTERNALDATE (every pairing occurs)."""
    for i, path in enumerate(_files()):
        data = path.read_bytes()
        bounces = analyse(data, classifier, None, 0).message.bounces
        recipient = next((b.recipient for b in bounces if b.recipient and "@" in b.recipient), None)
        kind = _KINDS[i % len(_KINDS)]
        if kind in ("bound", "other") and recipient is None:
            kind = "unbound"
        raw = _token(kind, i + 1, recipient) + data
        yield RawMessage("INBOX", 7, i + 1, raw, i % 3 * len(raw), _RECEIVED[i // 5 % 3])
    for data in (b"", b"\x00\xff", b"Subject: hi\r\n\r\nhello\r\n"):  # not understood
        yield RawMessage("INBOX", 7, 99_999 + len(data), data)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules().rules)


def test_ledger_entries_are_those_of_the_replaced_form(classifier: Classifier) -> None:
    outcomes: set[tuple[bool, str, bool]] = set()
    events: set[tuple[bool, bool, str | None]] = set()
    for settings in (VERP, None):
        stages = Stages(classifier, settings)
        for raw in _messages(classifier):
            new, _ = ledger_entry(raw, stages, FOLDERS, NOW)
            old, _ = old_ledger_entry(raw, stages, FOLDERS, NOW)
            assert new == old, raw.uid
            assert repr(new) == repr(old)  # the same types (an enum is not its string)
            outcomes.add((settings is None, new.outcome.name, new.received_at == NOW))
            events.update(
                (e.address_bound, e.verp_valid, e.verp_failure and e.verp_failure.name)
                for e in new.events
            )
    # the cases the comparison is about did occur
    assert {(True, True, None), (False, False, None)} <= events  # bound; no token
    assert {(False, False, "ADDRESS_MISMATCH"), (False, False, "EXPIRED")} <= events
    names = {name for _, name, _ in outcomes}
    assert {"PROCESSED", "UNMATCHED", "QUARANTINED", "SKIPPED"} <= names
    assert {now for *_, now in outcomes} == {True, False}  # INTERNALDATE absent or future; past


def test_quarantined_entries_are_those_of_the_replaced_form(classifier: Classifier) -> None:
    for raw in list(_messages(classifier))[:30]:
        for error in (None, "analysis: boom"):
            assert quarantined(raw, FOLDERS, NOW, error) == old_quarantined(
                raw, FOLDERS, NOW, error
            )

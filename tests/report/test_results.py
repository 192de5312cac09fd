"""`classify --json` writes `result_json`, built straight from the analysis; the tables read
`result_rows`.  The two ways give the same JSON, message for message, on every sample: the
recipient results, the messages without any (not a bounce, not understood) and a VERP token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers_mail import VERP, token_for

from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rules
from reconciler.report.results import result_json, result_rows, row_json

TESTS = Path(__file__).resolve().parent.parent
SAMPLES = sorted(
    [*(TESTS / "samples").rglob("*.eml"), *(TESTS / "corpus" / "sisimai" / "emails").glob("*.eml")]
)
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_rules().rules)


def _both(label: str, data: bytes, classifier: Classifier, verp: bool) -> tuple[str, str]:
    analysis = analyse(data, classifier, VERP if verp else None, int(NOW.timestamp()))
    by_rows = [row_json(row) for row in result_rows(label, analysis)]
    # compared as the JSON text: the key order is part of the output
    return json.dumps(result_json(label, analysis)), json.dumps(by_rows)


def test_the_json_of_every_sample_is_the_json_of_its_rows(classifier: Classifier) -> None:
    kinds = set()
    assert len(SAMPLES) > 300
    # and an empty file: a message not understood
    for label, data in [*((p.name, p.read_bytes()) for p in SAMPLES), ("empty.eml", b"")]:
        direct, by_rows = _both(label, data, classifier, verp=True)
        assert direct == by_rows, label
        kinds.update(row["kind"] for row in json.loads(direct))
    # bounces, messages without a result (not a bounce), and messages not understood
    assert {"bounce", "other", "error"} <= kinds


def test_a_verp_token_is_in_every_row_of_its_message(classifier: Classifier) -> None:
    token = token_for(7, address="ann@example.org", at=NOW)
    data = (TESTS / "samples" / "bounces").glob("*.eml").__next__().read_bytes()
    data = f"Delivered-To: {token}\r\n".encode() + data
    direct, by_rows = _both("x.eml", data, classifier, verp=True)
    assert direct == by_rows
    rows = json.loads(direct)
    assert rows and all(row["verp"] and row["verp"]["address"] == token for row in rows)

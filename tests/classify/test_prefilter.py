"""The classifier's quick rejection (`match._fits`) never drops a rule that matches: the rule
a classification names is the first one `explain` (which words every rule's conditions, with
no quick rejection) finds, on the corpus's results and on each of them at every SMTP stage,
of every kind and without codes (the stage, kind and code conditions, and the stage bound of
the reasons about the address)."""

from __future__ import annotations

import pytest
from support import CORPUS

from reconciler.classify import Classifier, load_rules
from reconciler.classify.facts import rule_facts
from reconciler.classify.match import FALLBACK_RULE_ID
from reconciler.frozenrecord import replace
from reconciler.parse import parse
from reconciler.records import MessageKind, RuleFacts, Stage

CLASSIFIER = Classifier(load_rules().rules)


def _corpus_facts() -> list[RuleFacts]:
    out = []
    for path in sorted(CORPUS.glob("*.eml")):
        message = parse(path.read_bytes())
        out += [rule_facts(b, message) for b in message.bounces]
    return out


# a rule that asks for no code (local delivery: no remote server replied)
LOCAL = RuleFacts(MessageKind.BOUNCE, diagnostic="maildrop: Invalid user specified.", domain="x.o")
FACTS = [LOCAL, *_corpus_facts()]


def _first(facts: RuleFacts) -> str:
    chain = CLASSIFIER.explain_facts(facts)
    return chain[0][0].id if chain else FALLBACK_RULE_ID


def test_the_corpus_gives_results() -> None:
    assert len(FACTS) > 300


def test_a_rule_without_codes_decides() -> None:
    assert CLASSIFIER.classify_facts(LOCAL).rule_id == "local-delivery-user-unknown"


def test_the_first_rule_explained_decides() -> None:
    wrong = [f for f in FACTS if CLASSIFIER.classify_facts(f).rule_id != _first(f)]
    assert wrong == []


@pytest.mark.parametrize("stage", list(Stage))
def test_at_every_stage(stage: Stage) -> None:
    moved = [replace(f, stage=stage) for f in FACTS]
    wrong = [f for f in moved if CLASSIFIER.classify_facts(f).rule_id != _first(f)]
    assert wrong == []


def test_without_codes() -> None:
    bare = [replace(f, status="", reply_code="") for f in FACTS]
    wrong = [f for f in bare if CLASSIFIER.classify_facts(f).rule_id != _first(f)]
    assert wrong == []


@pytest.mark.parametrize("kind", list(MessageKind))
def test_of_every_kind(kind: MessageKind) -> None:
    other = [replace(f, kind=kind, status="", reply_code="") for f in FACTS[::3]]
    wrong = [f for f in other if CLASSIFIER.classify_facts(f).rule_id != _first(f)]
    assert wrong == []

"""The classifier's quick rejection (`match._fits`) never drops a rule that matches: the rule
a classification names is the first one `explain` (which words every rule's conditions, with
no quick rejection) finds, on the corpus's results and on each of them at every SMTP stage,
of every kind and without codes (the stage, kind and code conditions, and the stage bound of
the reasons about the address)."""

from __future__ import annotations

import re

import pytest
from support import CORPUS

from reconciler.classify import Classifier, load_rules, match
from reconciler.classify.facts import rule_facts
from reconciler.classify.match import FALLBACK_RULE_ID
from reconciler.frozenrecord import replace
from reconciler.parse import parse
from reconciler.records import MessageKind, Reason, Rule, RuleFacts, RuleMatch, Stage

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


def _variants() -> list[RuleFacts]:
    """The corpus's results as they are, at every stage, without codes and of every kind."""
    out = list(FACTS)
    out += [replace(f, stage=stage) for stage in Stage for f in FACTS[::2]]
    out += [replace(f, status="", reply_code="") for f in FACTS]
    out += [
        replace(f, kind=kind, status="", reply_code="") for kind in MessageKind for f in FACTS[::3]
    ]
    return out


def test_the_words_of_a_fit_are_those_of_the_full_match() -> None:
    """`_worded` (what the hot path words for a rule that `_fits`) gives what `_match`, which
    tests every condition again, gives: for every rule that fits each result."""
    plans = [match._Plan(rule) for rule in CLASSIFIER.rules]
    compared = 0
    wrong = []
    for facts in _variants():
        texts = CLASSIFIER._texts(facts)
        seen = match._Seen(facts)
        for index, plan in enumerate(plans):
            if not match._fits(plan, seen, texts, index):
                continue
            compared += 1
            worded = match._worded(plan, seen, facts, texts, index)
            if worded != CLASSIFIER._match(index, facts, texts):
                wrong.append((CLASSIFIER.rules[index].id, facts))
    assert wrong == []
    assert compared > 1000  # (and some of them rules with a provider condition: see below)


def test_a_provider_rule_that_fits_is_worded_only_with_its_evidence() -> None:
    index = next(i for i, r in enumerate(CLASSIFIER.rules) if r.match.providers is not None)
    plan = match._Plan(CLASSIFIER.rules[index])
    bare = RuleFacts(MessageKind.BOUNCE, domain="invalid.invalid")
    texts = CLASSIFIER._texts(bare)
    assert match._worded(plan, match._Seen(bare), bare, texts, index) is None
    assert CLASSIFIER._match(index, bare, texts) is None


def test_a_rule_of_every_condition_is_worded_as_the_full_match_words_it() -> None:
    """A rule with each condition (the shipped rules have no domain condition, and no
    provider rule fits a corpus result): the words of a fit are those of `_match`."""
    full = RuleMatch(
        kinds=frozenset({MessageKind.BOUNCE}),
        statuses=re.compile(r"5\.1\.\d+"),
        reply_codes=re.compile(r"55\d"),
        not_statuses=re.compile(r"5\.1\.9"),
        diagnostic=("no such user",),
        remote_mta=("mx\\d\\.example",),
        domains=re.compile(r".*\.example\.org"),
        stages=frozenset({Stage.RCPT}),
        providers=re.compile(r"mx\d\.example\.(?:com|net)"),
        actions=frozenset({"failed"}),
        diagnostic_types=frozenset({"smtp"}),
        no_code=False,
    )
    rule = Rule("every", "every condition", full, Reason.USERUNKNOWN, None, None, (), "x", 1)
    classifier = Classifier([rule])
    fits = RuleFacts(
        MessageKind.BOUNCE,
        status="5.1.1",
        reply_code="550",
        diagnostic="550 5.1.1 No such user here",
        remote_mta="mx1.example.com",
        domain="a.example.org",
        stage=Stage.RCPT,
        action="failed",
        diagnostic_type="smtp",
    )
    elsewhere = replace(fits, remote_mta="mx1.example")  # the texts fit, no provider does
    for facts in (fits, elsewhere):
        texts = classifier._texts(facts)
        plan, seen = match._Plan(rule), match._Seen(facts)
        assert match._fits(plan, seen, texts, 0)
        worded = match._worded(plan, seen, facts, texts, 0)
        assert worded == classifier._match(0, facts, texts)
    assert classifier.classify_facts(fits).matched_on == (
        "kind bounce",
        "has a status or reply code",
        "stage rcpt",
        "status 5.1.1",
        "reply code 550",
        "action failed",
        "diagnostic type smtp",
        "domain a.example.org",
        "provider mx1.example.com",
        "remote MTA ~ /mx\\d\\.example/",
        "diagnostic ~ /no such user/",
    )
    assert classifier.classify_facts(elsewhere).rule_id == FALLBACK_RULE_ID

"""A replay classifies exactly as a fresh classification (issue 17, section 3): every real
bounce of tests/corpus and tests/samples is classified as it arrives, recorded on each
backend, read back, and classified again from what the store kept of it; the verdicts (reason,
severity, fault, rule) and what the rules read (`RuleFacts`) are identical, and a replay of
the window with the rules in force finds nothing to change."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from support import NOW, SAMPLES, TESTS

from reconciler.analysis import Destinations, Stages, ledger_entry
from reconciler.classify import Classifier, RuleSet, load_rule_files, load_rules
from reconciler.classify.facts import stored_facts
from reconciler.records import LedgerEntry, RawMessage, RuleFacts, Verdict
from reconciler.service.replay import replay
from reconciler.settings import PolicySettings
from reconciler.store import Store

RULES = load_rules()
FOLDERS = Destinations("processed", "unmatched", "quarantine")
BOX = "replay"


def _files() -> list[Path]:
    """The samples, each content once (a copy would be recorded as a duplicate, no events)."""
    found = sorted((TESTS / "corpus").rglob("*.eml")) + sorted(SAMPLES.rglob("*.eml"))
    unique = list({path.read_bytes(): path for path in reversed(found)}.values())[::-1]
    assert len(unique) > 450
    return unique


# Operator rules that read the facts the shipped rules rarely read: the reporting MTA and the
# notice's sender as provider evidence, the DSN action and the diagnostic type.
PROBES = """
rules:
  - id: probe-reporting-mta
    description: Only the reporting MTA of lhost-postfix-33 is p6.libsisimai.org.
    match: {provider: [p6.libsisimai.org], action: [failed], diagnostic_type: [smtp]}
    reason: systemerror
  - id: probe-notice-sender
    description: Only the notice of lhost-gmail-19 comes from googlemail.com.
    match: {provider: [googlemail.com], kind: bounce}
    reason: mailboxfull
"""


@pytest.fixture(params=["shipped", "probes"])
def rules(request: pytest.FixtureRequest, tmp_path: Path) -> RuleSet:
    if request.param == "shipped":
        return RULES
    probes = tmp_path / "probes.yaml"
    probes.write_text(PROBES, encoding="utf-8")
    return load_rule_files([probes, *(Path(f) for f in RULES.files)])


def _fresh(
    classifier: Classifier,
) -> tuple[list[LedgerEntry], dict[tuple[int, str], tuple[Verdict, RuleFacts]]]:
    """Each file analysed as the cycle does, and the verdict and facts of each result."""
    entries: list[LedgerEntry] = []
    fresh: dict[tuple[int, str], tuple[Verdict, RuleFacts]] = {}
    for uid, path in enumerate(_files(), start=1):
        raw = RawMessage(BOX, 1, uid, path.read_bytes(), received_at=NOW - timedelta(hours=1))
        entry, analysis = ledger_entry(raw, Stages(classifier, None), FOLDERS, NOW)
        entries.append(entry)
        for event, verdict in zip(entry.events, analysis.verdicts, strict=True):
            c = verdict.classification
            fresh.setdefault(
                (uid, event.recipient),
                (Verdict(c.reason, c.severity, c.fault, c.rule_id), verdict.facts),
            )
    return entries, fresh


def test_stored_events_classify_exactly_as_the_messages_did(store: Store, rules: RuleSet) -> None:
    classifier = Classifier(rules.rules)
    entries, fresh = _fresh(classifier)
    store.record_batch(entries, NOW)
    compared = 0
    after = 0
    window = (NOW - timedelta(days=1), NOW + timedelta(seconds=1))
    while page := store.window_events(*window, after, 500):
        for stored in page:
            e = stored.event
            verdict, facts = fresh[(stored.uid, e.recipient)]
            again = classifier.classify_facts(stored_facts(e))
            assert stored_facts(e) == facts, stored.uid
            assert Verdict(again.reason, again.severity, again.fault, again.rule_id) == verdict
            assert Verdict(e.reason, e.severity, e.fault, e.rule_id) == verdict
            compared += 1
        after = page[-1].id
    assert compared == len(fresh) > 500
    result = replay(store, classifier, rules.files, PolicySettings(), window)
    assert (result.events, result.changes, result.legacy) == (compared, (), 0)
    decided = {verdict.rule_id for verdict, _ in fresh.values()}
    assert {"probe-reporting-mta", "probe-notice-sender"} <= decided or rules is RULES
    # the same evidence replayed with the shipped rules alone: only the probes' events change
    if rules is not RULES:
        back = replay(store, Classifier(RULES.rules), RULES.files, PolicySettings(), window)
        assert {c.old.rule_id for c in back.changes} == {"probe-reporting-mta",
                                                          "probe-notice-sender"}  # fmt: skip


@pytest.mark.parametrize("name", ["lhost-postfix-33.eml", "lhost-gmail-19.eml"])
def test_facts_carry_the_provider_evidence(name: str) -> None:
    """The reporting MTA and the notice's sender domain are kept: provider rules read them."""
    path = TESTS / "corpus" / "sisimai" / "emails" / name
    raw = RawMessage(BOX, 1, 1, path.read_bytes())
    entry, analysis = ledger_entry(raw, Stages(Classifier(RULES.rules), None), FOLDERS, NOW)
    (event,) = entry.events[:1]
    facts = analysis.verdicts[0].facts
    assert event.final_domain == facts.domain != ""
    assert (event.reporting_mta, event.sender_domain) == (facts.reporting_mta, facts.sender_domain)
    assert facts.reporting_mta or facts.sender_domain

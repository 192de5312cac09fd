"""A rule from one example (`classify.suggest`): the rule written from a real bounce loads,
and the example classifies to it with the shipped rules after it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import CORPUS, SAMPLES

from reconciler.classify import Classifier, load_rule_files, load_rules
from reconciler.classify.facts import rule_facts
from reconciler.classify.rules import rule_file_text
from reconciler.classify.suggest import RuleChoice, provider_domain, suggest_rule, suggested_id
from reconciler.errors import RuleError
from reconciler.parse import parse
from reconciler.records import Fault, MessageKind, Reason, RuleFacts, Severity, Stage

SHIPPED = load_rules()


def _facts(path: Path) -> RuleFacts:
    message = parse(path.read_bytes())
    return rule_facts(message.bounces[0], message)


def _write(tmp_path: Path, rule: dict[str, object]) -> Path:
    path = tmp_path / f"{rule['id']}.yaml"
    path.write_text(rule_file_text([rule], "a comment\non two lines"), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("sample", "choice"),
    [
        (CORPUS / "lhost-trendmicro-03.eml", RuleChoice(Reason.USERUNKNOWN)),  # onhold today
        (CORPUS / "rfc3464-39.eml", RuleChoice(Reason.MAILBOXFULL, Severity.SOFT)),
        (CORPUS / "lhost-exim-05.eml", RuleChoice(Reason.SUSPEND, fault=Fault.RECIPIENT)),
        (CORPUS / "lhost-postfix-33.eml", RuleChoice(Reason.FILTERED, rule_id="site-filtered")),
        (SAMPLES / "mta" / "exim-pipe67-nooutput-failed.eml", RuleChoice(Reason.SYSTEMERROR)),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else v.reason.value,
)
def test_a_suggested_rule_loads_and_its_example_classifies_to_it(
    tmp_path: Path, sample: Path, choice: RuleChoice
) -> None:
    facts = _facts(sample)
    rule = suggest_rule(facts, choice, "example.eml", f"file {sample.name}")
    (tmp_path / "example.eml").write_bytes(sample.read_bytes())
    path = _write(tmp_path, rule)
    assert path.read_text().startswith("# a comment\n# on two lines\nrules:\n")
    ruleset = load_rule_files([path, *(Path(f) for f in SHIPPED.files)])
    loaded = ruleset.rules[0]
    assert loaded.id == (choice.rule_id or suggested_id(facts, choice.reason))
    assert (loaded.reason, loaded.severity, loaded.fault) == (
        choice.reason,
        choice.severity,
        choice.fault,
    )
    # its example (a path beside the rule file) classifies to it
    example = parse((path.parent / loaded.examples[0]).read_bytes())
    verdict = Classifier(ruleset.rules).classify(example.bounces[0], example)
    assert verdict.rule_id == loaded.id and verdict.reason is choice.reason
    # and nothing else in the corpus does that does not share the example's shape
    assert Classifier(ruleset.rules).classify_facts(facts).rule_id == loaded.id


def test_the_conditions_come_from_the_example() -> None:
    facts = _facts(CORPUS / "lhost-exim-05.eml")  # 553 5.1.1 at RCPT from mx49.neko.example.co.jp
    rule = suggest_rule(facts, RuleChoice(Reason.USERUNKNOWN), "x.eml", "event 7")
    match = rule["match"]
    assert isinstance(match, dict)
    assert match["kind"] == "bounce" and match["stage"] == ["rcpt"]
    assert (match["status"], match["reply_code"]) == (["5.*.*"], ["553"])
    assert match["provider"] == ["example.co.jp", "*.example.co.jp"]
    assert str(rule["description"]).startswith("Suggested from event 7: ")
    assert list(rule) == ["id", "description", "match", "reason", "examples"]


def test_the_provider_is_the_remote_mtas_domain() -> None:
    def domain(remote: str) -> str | None:
        return provider_domain(RuleFacts(MessageKind.BOUNCE, remote_mta=remote))

    assert domain("mx1.mail.example.com") == "example.com"
    assert domain("dns; MX.Example.CO.UK") == "example.co.uk"
    assert domain("mx.example.jp") == "example.jp"
    assert domain("") is None and domain("[192.0.2.1]") is None


def test_an_example_without_diagnostic_text_gets_no_rule() -> None:
    bare = RuleFacts(MessageKind.BOUNCE, status="5.0.0", stage=Stage.RCPT)
    with pytest.raises(RuleError, match="no diagnostic text"):
        suggest_rule(bare, RuleChoice(Reason.USERUNKNOWN), "x.eml", "event 3")


def test_a_suggestion_that_breaks_a_rule_boundary_does_not_load(tmp_path: Path) -> None:
    """An address reason at MAIL FROM, a sender-side reason made hard: `rules check` says so."""
    at_mail = RuleFacts(MessageKind.BOUNCE, diagnostic="sender refused", stage=Stage.MAIL)
    rule = suggest_rule(at_mail, RuleChoice(Reason.USERUNKNOWN), "x.eml", "event 1")
    with pytest.raises(RuleError, match="never concluded at mail"):
        load_rule_files([_write(tmp_path, rule)])
    hard = suggest_rule(at_mail, RuleChoice(Reason.BLOCKED, Severity.HARD), "x.eml", "event 1")
    with pytest.raises(RuleError, match="can never be hard"):
        load_rule_files([_write(tmp_path, hard)])

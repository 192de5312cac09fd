"""Rule files: the shipped rules load, every example is decided by its own rule, and every kind
of mistake in an operator's rule file is an error naming file, line and problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import ROOT

from reconciler.analysis import analyse
from reconciler.classify import Classifier
from reconciler.classify.rules import load_rule_files, load_rules, shipped_rules_dir
from reconciler.errors import RuleError
from reconciler.records import SENDER_REASONS, Severity, Stage

SHIPPED = load_rules()
CLASSIFIER = Classifier(SHIPPED.rules)


def _example_cases() -> list[tuple[str, Path]]:
    cases = []
    for rule in SHIPPED.rules:
        for example in rule.examples:
            cases.append((rule.id, Path(rule.file).parent / example))
    return cases


def test_shipped_rules_load_and_are_documented() -> None:
    assert len(SHIPPED.rules) >= 40
    ids = [r.id for r in SHIPPED.rules]
    assert len(ids) == len(set(ids))
    for rule in SHIPPED.rules:
        assert rule.description, rule.id
        # a code table's rows are checked code by code (tests/classify/test_codes.py)
        assert rule.examples or rule.table, f"{rule.id} names no example message"


def test_provider_rules_carry_provider_evidence() -> None:
    """A rule about one provider's wording also requires evidence that the provider wrote it
    (its hosts, the notice's sender domain or the recipient's domain): a phrase alone is not."""
    providers = [rule for rule in SHIPPED.rules if rule.id.startswith("provider-")]
    assert providers
    for rule in providers:
        assert rule.match.providers is not None, rule.id


def test_shipped_rules_dir_is_the_top_level_rules_in_a_checkout() -> None:
    assert shipped_rules_dir().resolve() == (ROOT / "rules").resolve()


@pytest.mark.parametrize(("rule_id", "path"), _example_cases(), ids=str)
def test_every_example_is_decided_by_its_rule(rule_id: str, path: Path) -> None:
    assert path.is_file(), f"{rule_id}: example {path} does not exist"
    analysis = analyse(path.read_bytes(), CLASSIFIER, None, 0)
    deciders = [v.classification.rule_id for v in analysis.verdicts]
    assert rule_id in deciders, f"{path.name} was decided by {deciders}, not {rule_id}"


def test_no_shipped_rule_makes_a_sender_side_reason_hard() -> None:
    for rule in SHIPPED.rules:
        if rule.reason in SENDER_REASONS:
            assert rule.severity is not Severity.HARD, rule.id


GOOD = """rules:
  - id: my-rule
    description: An operator rule.
    match: {diagnostic: ['frobnicated mailbox']}
    reason: userunknown
"""


def _write(tmp_path: Path, text: str, name: str = "ops.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (GOOD.replace("    reason: userunknown", "    reason: nosuchreason"), 2, "reason"),
        (GOOD.replace("description: An operator rule.", "descripton: typo"), 2, "unknown key"),
        (GOOD.replace("{diagnostic:", "{diagnostics:"), 2, "unknown match condition"),
        (GOOD.replace("'frobnicated mailbox'", "'unclosed ( group'"), 2, "regex"),
        (GOOD.replace("'frobnicated mailbox'", "'(?<!not )listed'"), 2, "RE2 syntax"),
        (
            GOOD.replace("{diagnostic: ['frobnicated mailbox']}", "{status: ['5.x.1']}"),
            2,
            "pattern",
        ),
        (GOOD.replace("    description: An operator rule.\n", ""), 2, "description"),
        (GOOD.replace("id: my-rule", "id: My Rule!"), 2, "id"),
        (
            GOOD + "  - id: my-rule\n    description: again\n    match: {kind: bounce}\n"
            "    reason: expired\n",
            6,
            "duplicate rule id",
        ),
        (
            GOOD.replace("    reason: userunknown", "    reason: blocked\n    severity: hard"),
            2,
            "never be hard",
        ),
        (GOOD.replace("match: {", "match: {kind: bounce, kind: delay, "), 4, "duplicate key"),
        ("rules:\n  - id: x\n    description: [unclosed\n", 4, "invalid YAML"),
        ("- just a list\n", 1, "mapping"),
        ("rules: []\nextra: 1\n", 1, "unknown top-level"),
        (GOOD.replace("{diagnostic:", "{stage: [rcpt], command: [RCPT], diagnostic:"), 2, "stage"),
        (GOOD.replace("{diagnostic:", "{stage: [after-data], diagnostic:"), 2, "stage"),
        (GOOD.replace("{diagnostic:", "{command: [VRFY], diagnostic:"), 2, "command"),
        # an address reason is never concluded at the sender's stages
        (GOOD.replace("{diagnostic:", "{stage: [mail], diagnostic:"), 2, "never concluded"),
        ("status_codes:\n  - {code: 5.1, reason: userunknown, title: t, ref: r}\n", 2, "code"),
        ("reply_codes:\n  - {code: '550', reason: userunknown}\n", 2, "missing key"),
        ("reply_codes:\n  - {code: '550', reason: x, title: t, ref: r, why: 1}\n", 2, "unknown"),
    ],
)
def test_bad_rule_files_name_file_line_and_problem(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(RuleError) as info:
        load_rule_files([path])
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert problem in message


def test_operator_rules_take_precedence_and_can_disable_shipped(tmp_path: Path) -> None:
    _write(tmp_path, GOOD + "disable: [text-mailbox-full]\n")
    ruleset = load_rules(tmp_path)
    assert ruleset.rules[0].id == "my-rule"
    assert "text-mailbox-full" not in {r.id for r in ruleset.rules}
    assert len(ruleset.rules) == len(SHIPPED.rules)  # one added, one disabled


def test_disabling_an_unknown_rule_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path, GOOD + "disable: [no-such-rule]\n")
    with pytest.raises(RuleError, match="no-such-rule"):
        load_rules(tmp_path)


def test_missing_operator_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="does not exist"):
        load_rules(tmp_path / "nope")


def test_stage_and_its_older_name_command(tmp_path: Path) -> None:
    """`stage` names stages; `command` (the older condition) names SMTP commands: DATA covers
    the DATA command and the end of data, EHLO is the HELO stage."""
    _write(tmp_path, GOOD.replace("{diagnostic:", "{stage: [rcpt, unknown], diagnostic:"))
    match = load_rule_files([tmp_path / "ops.yaml"]).rules[0].match
    assert match.stages == {Stage.RCPT, Stage.UNKNOWN}
    text = GOOD.replace("{diagnostic:", "{command: [DATA, EHLO], diagnostic:")
    _write(tmp_path, text.replace("reason: userunknown", "reason: filtered"))
    match = load_rule_files([tmp_path / "ops.yaml"]).rules[0].match
    assert match.stages == {Stage.DATA, Stage.END_OF_DATA, Stage.HELO}


def test_status_and_code_patterns_compile_as_documented(tmp_path: Path) -> None:
    _write(
        tmp_path,
        GOOD.replace(
            "{diagnostic: ['frobnicated mailbox']}",
            "{status: ['5.1.*', '4.4.7'], reply_code: ['55x']}",
        ),
    )
    match = load_rule_files([tmp_path / "ops.yaml"]).rules[0].match
    assert match.statuses is not None and match.reply_codes is not None
    assert match.statuses.match("5.1.10") and match.statuses.match("4.4.7")
    assert not match.statuses.match("5.2.1") and not match.statuses.match("4.4.70")
    assert match.reply_codes.match("554") and not match.reply_codes.match("450")


# Optional rules: shipped in place but off until an operator file lists them under `enable:`.
UNSTATED = "text-user-unknown-unstated-stage-hard"
# a remote "550 unknown user <a>" at a stage the notice does not name, no status (flufl.bounce)
UNSTATED_SAMPLE = ROOT / "tests/corpus/others/emails/flufl-bounce/simple_36.eml"


def _decided(rules: Classifier, path: Path) -> list[tuple[str, str, str]]:
    analysis = analyse(path.read_bytes(), rules, None, 0)
    return [
        (v.classification.rule_id, v.classification.reason.value, v.classification.severity.value)
        for v in analysis.verdicts
    ]


def test_an_optional_rule_is_off_until_enabled(tmp_path: Path) -> None:
    assert UNSTATED in SHIPPED.optional
    assert UNSTATED not in {r.id for r in SHIPPED.rules}
    assert SHIPPED.optional_off == (UNSTATED,)
    assert _decided(CLASSIFIER, UNSTATED_SAMPLE) == [
        ("text-user-unknown-filtered", "filtered", "soft")
    ]
    _write(tmp_path, f"enable: [{UNSTATED}]\n")
    ruleset = load_rules(tmp_path)
    ids = [r.id for r in ruleset.rules]
    # in its shipped place: right before the rule that decides the class when it is off
    assert ids.index(UNSTATED) + 1 == ids.index("text-user-unknown-filtered")
    assert ruleset.enabled == {UNSTATED} and ruleset.optional_off == ()
    assert len(ruleset.rules) == len(SHIPPED.rules) + 1
    enabled = Classifier(ruleset.rules)
    assert _decided(enabled, UNSTATED_SAMPLE) == [(UNSTATED, "userunknown", "hard")]
    # every example of every optional rule is decided by it once it is on
    for rule in ruleset.rules:
        if rule.id in ruleset.optional:
            for example in rule.examples:
                decided = _decided(enabled, Path(rule.file).parent / example)
                assert rule.id in [d[0] for d in decided], (rule.id, example, decided)


@pytest.mark.parametrize(
    ("stage_text", "report", "stage", "fires"),
    [
        ("", "550 unknown user <a@example.net>", "unknown", True),
        # a stage the report names: after DATA a filter speaks (RCPT is hard without it)
        (" SMTP error from remote mail server after end of data", "550 unknown user", "end-of-data",
         False),
        # a status of another subject: X.7 policy, X.2 mailbox
        ("", "550 5.7.1 unknown user", "unknown", False),
        ("", "550 5.2.1 unknown user", "unknown", False),
    ],
)  # fmt: skip
def test_an_enabled_optional_rule_keeps_its_conditions(
    tmp_path: Path, stage_text: str, report: str, stage: str, fires: bool
) -> None:
    """Enabled, the unstated-stage rule decides the class it names and leaves alone a stage the
    report names and a status whose subject says something else (Exim's notice, written)."""
    _write(tmp_path, f"enable: [{UNSTATED}]\n")
    enabled = Classifier(load_rules(tmp_path).rules)
    message = (
        "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n"
        "To: bounces@example.org\nSubject: Mail delivery failed: returning message to sender\n"
        "X-Failed-Recipients: a@example.net\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  a@example.net\n    host mx.example.net [192.0.2.1]{stage_text}:\n    {report}\n"
    ).encode()
    (verdict,) = analyse(message, enabled, None, 0).verdicts
    assert verdict.bounce.stage.value == stage
    assert (verdict.classification.rule_id == UNSTATED) is fires
    assert (verdict.classification.severity is Severity.HARD) is fires


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("enable: [no-such-rule]\n", "enable: unknown rule id(s) no-such-rule"),
        ("enable: [text-mailbox-full]\n", "not optional"),
        ("enable: text-mailbox-full\n", "'enable' must be a list of rule ids"),
        (GOOD.replace("reason: userunknown", "reason: userunknown\n    optional: yes please"),
         "optional must be true or false"),
    ],
)  # fmt: skip
def test_enable_names_optional_rules_only(tmp_path: Path, text: str, problem: str) -> None:
    _write(tmp_path, text)
    with pytest.raises(RuleError, match=re.escape(problem)):
        load_rules(tmp_path)


def test_an_operator_optional_rule_and_disable_over_enable(tmp_path: Path) -> None:
    """An operator's own rule can be optional too; a rule both enabled and disabled is off."""
    _write(
        tmp_path,
        GOOD.replace("    reason: userunknown", "    reason: userunknown\n    optional: true"),
    )
    assert "my-rule" not in {r.id for r in load_rules(tmp_path).rules}
    _write(tmp_path, "enable: [my-rule]\n", "zz.yaml")
    assert load_rules(tmp_path).rules[0].id == "my-rule"
    _write(tmp_path, f"enable: [{UNSTATED}]\ndisable: [{UNSTATED}]\n", "zz.yaml")
    ruleset = load_rules(tmp_path)
    assert UNSTATED not in {r.id for r in ruleset.rules} and ruleset.enabled == frozenset()

"""Examples in the docs are executed: the rule file in docs/rules.md loads and does what it
says, and every match condition it documents exists."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.classify import Classifier, classify
from reconciler.classify.rules import _MATCH_KEYS, load_rule_files, load_rules
from reconciler.records import MessageKind, ParsedBounce, Reason, Severity

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)


def test_the_rule_file_in_docs_rules_loads_and_decides(tmp_path: Path) -> None:
    block, _ = _yaml_blocks((DOCS / "rules.md").read_text("utf-8"))
    path = tmp_path / "acme.yaml"
    path.write_text(block, "utf-8")
    shipped = load_rules()
    ruleset = load_rule_files([path, *map(Path, shipped.files)])
    assert ruleset.rules[0].id == "acme-mailbox-frozen"
    assert "text-access-denied" not in {r.id for r in ruleset.rules}
    bounce = ParsedBounce(
        kind=MessageKind.BOUNCE,
        recipient="kim@mx.acme.example",
        detector="test",
        status="5.0.0",
        reply_code="550",
        diagnostic="550 Mailbox is frozen until payment",
    )
    result = classify(bounce, Classifier(ruleset.rules))
    assert (result.rule_id, result.reason, result.severity) == (
        "acme-mailbox-frozen",
        Reason.SUSPEND,
        Severity.SOFT,
    )


def test_the_code_table_example_in_docs_rules_loads(tmp_path: Path) -> None:
    _, block = _yaml_blocks((DOCS / "rules.md").read_text("utf-8"))
    path = tmp_path / "codes.yaml"
    path.write_text(block, "utf-8")
    rules = load_rule_files([path]).rules
    assert [r.id for r in rules] == ["status-4.1.1", "status-x.1.1", "reply-550-rcpt"]
    assert all(r.table for r in rules)


def test_docs_list_every_match_condition() -> None:
    text = (DOCS / "rules.md").read_text("utf-8").split("## Match conditions")[1]
    text = text.split("\n## ")[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    assert documented == set(_MATCH_KEYS)


def test_the_readme_python_example_runs() -> None:
    readme = (DOCS.parent / "README.md").read_text("utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # the example asserts its own result
    assert str(namespace["address"]).endswith("@bounces.example.org")

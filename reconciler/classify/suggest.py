"""A rule from one example (`rules suggest`): its conditions derived from what the rules read
of the example (`RuleFacts`), its verdict chosen by the operator.  Pure: the command line
writes the rule (`rules.rule_file_text`), checks it and shows what it would change.

The conditions: the kind of result; the SMTP stage when the report names one; the class of
the status code (`5.*.*`) and the reply code when there are any; a pattern of the masked
diagnostic (`shapes`); and the provider, when the remote MTA is named (its domain, and any
host below it).  The rule is as narrow as one message allows: the operator widens it by hand.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from reconciler.classify.shapes import diagnostic_shape, shape_pattern
from reconciler.errors import RuleError
from reconciler.records import Fault, Reason, RuleFacts, Severity, Stage

__all__ = ["RuleChoice", "provider_domain", "suggest_rule", "suggested_id"]

_HOST_RE = re.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)+")
# second-level labels under which a country's registrations sit (co.uk, com.au, ne.jp, ...)
_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "ne", "net", "or", "org"})


@dataclass(frozen=True, slots=True)
class RuleChoice:
    """What the operator says the example is, and the rule's name."""

    reason: Reason
    severity: Severity | None = None  # None: derived from the reason
    fault: Fault | None = None  # None: derived from the reason
    rule_id: str | None = None  # None: `suggested_id`


def provider_domain(facts: RuleFacts) -> str | None:
    """The domain of the remote MTA (its last two labels, three under a country's `co.uk`,
    `com.au`, ...), or None when the report names no remote host name."""
    hosts = [h for h in _HOST_RE.findall(facts.remote_mta.lower()) if not h[-1].isdigit()]
    if not hosts:  # none, or an IP address only
        return None
    labels = hosts[0].split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def suggested_id(facts: RuleFacts, reason: Reason) -> str:
    """`local-<reason>-<6 hex of the shape>`: the same example gives the same id."""
    digest = hashlib.sha256(diagnostic_shape(facts.diagnostic).encode()).hexdigest()[:6]
    return f"local-{reason.value}-{digest}"


def _conditions(facts: RuleFacts, shape: str) -> dict[str, object]:
    match: dict[str, object] = {"kind": facts.kind.value}
    if facts.stage is not Stage.UNKNOWN:
        match["stage"] = [facts.stage.value]
    if facts.status[:1] in ("2", "4", "5"):
        match["status"] = [f"{facts.status[0]}.*.*"]
    if facts.reply_code:
        match["reply_code"] = [facts.reply_code]
    match["diagnostic"] = [shape_pattern(shape)]
    provider = provider_domain(facts)
    if provider is not None:
        match["provider"] = [provider, f"*.{provider}"]
    return match


def suggest_rule(
    facts: RuleFacts, choice: RuleChoice, example: str, source: str
) -> dict[str, object]:
    """The rule (a mapping in the order of a rule file) that decides `facts` as `choice`
    says; `example` is the example's file name beside the rule file, `source` where the
    example came from (for the description).  RuleError when the example has no diagnostic
    text to key a rule on."""
    shape = diagnostic_shape(facts.diagnostic)
    if not shape:
        raise RuleError(
            f"{source}: no diagnostic text to key a rule on; write this one by hand (docs/rules.md)"
        )
    rule: dict[str, object] = {
        "id": choice.rule_id or suggested_id(facts, choice.reason),
        "description": f"Suggested from {source}: {shape[:160]}",
        "match": _conditions(facts, shape),
        "reason": choice.reason.value,
    }
    if choice.severity is not None:
        rule["severity"] = choice.severity.value
    if choice.fault is not None:
        rule["fault"] = choice.fault.value
    rule["examples"] = [example]
    return rule

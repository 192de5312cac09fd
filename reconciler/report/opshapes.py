"""The `--json` shapes of the other commands (documented in docs/cli.md): `poll --once`,
`dry-run`, `explain`, `rules check`, `check-config`, `mode`, `suppressions`, `reinstate`,
`undo` and `verp check` / `verp make`.

Stable like those of `report.shapes`: keys are only ever added.  Plain dicts, no terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from reconciler.analysis import Analysis
from reconciler.records import (
    AuditEntry,
    MessageOutcome,
    ModeState,
    Rule,
    StoredDecision,
    Suppression,
)
from reconciler.report.results import result_rows, row_json, verp_json
from reconciler.report.shapes import JSON_VERSION, decision_json, mode_json

if TYPE_CHECKING:  # types only: `explain --json` does not import the cycle (imapclient, peewee)
    from reconciler.service.cycle import CycleReport, RunResult
    from reconciler.service.dryrun import Preview

__all__ = [
    "audit_json",
    "decisions_json",
    "explain_json",
    "mode_state_json",
    "previews_json",
    "rule_json",
    "rules_json",
    "run_json",
    "suppression_json",
]

Json = dict[str, Any]
_OUTCOMES = tuple(o.value for o in MessageOutcome if o is not MessageOutcome.DUPLICATE)


def _cycle(r: CycleReport) -> Json:
    o = r.outcomes
    return {
        "mailbox": r.mailbox,
        "status": "ok",
        "error": None,
        "seen": r.seen,
        "processed": o[MessageOutcome.PROCESSED],
        "unmatched": o[MessageOutcome.UNMATCHED],
        "skipped": o[MessageOutcome.SKIPPED],
        "quarantined": o[MessageOutcome.QUARANTINED],
        "duplicates": r.duplicates,
        "events": r.events,
        "hard": r.severities["hard"],
        "soft": r.severities["soft"],
        "unprocessed": len(r.failed),
        "moved": r.moved,
    }


def run_json(result: RunResult) -> Json:
    """`poll --once --json`: one entry per mailbox, the counts of the cycle's log line."""
    failed = [{"mailbox": name, "status": "failed", "error": error}
              for name, error in result.errors.items()]  # fmt: skip
    return {
        "version": JSON_VERSION,
        "ok": result.ok,
        "mailboxes": [_cycle(r) for r in result.reports] + failed,
    }


def _every(counter: Counter[str], names: Sequence[str]) -> dict[str, int]:
    return {name: counter[name] for name in names} | dict(counter)


def previews_json(previews: Sequence[Preview], errors: dict[str, str]) -> Json:
    """`dry-run --json`: per mailbox what the next cycle would record, and where it would go."""
    mailboxes: list[Json] = []
    for p in previews:
        outcomes = Counter({k.value: v for k, v in p.outcomes.items()})
        ranked = sorted(p.users.items(), key=lambda kv: (-kv[1]["hard"], -kv[1]["soft"], kv[0]))
        users = []
        for key, counts in ranked:
            realm, _, user = key.rpartition(":")
            users.append({"realm": realm, "user_id": int(user), "hard": counts["hard"],
                          "soft": counts["soft"], "none": counts["none"]})  # fmt: skip
        mailboxes.append({
            "mailbox": p.mailbox,
            "status": "ok",
            "error": None,
            "messages": p.seen,
            "outcomes": _every(outcomes, _OUTCOMES),
            "folders": dict(p.destinations),
            "kind": dict(p.kinds),
            "severity": dict(p.severities),
            "reason": dict(p.reasons),
            "users": users,
        })  # fmt: skip
    mailboxes += [{"mailbox": name, "status": "failed", "error": error}
                  for name, error in errors.items()]  # fmt: skip
    return {"version": JSON_VERSION, "ok": not errors, "mailboxes": mailboxes}


def rule_json(rule: Rule) -> Json:
    return {
        "id": rule.id,
        "reason": rule.reason.value,
        "severity": rule.severity.value if rule.severity else None,
        "file": rule.file,
        "line": rule.line,
    }


def explain_json(
    label: str,
    analysis: Analysis,
    chains: Sequence[Sequence[tuple[Rule, tuple[str, ...]]]],
    off: frozenset[str] = frozenset(),
) -> Json:
    """`explain --json`: one object per message, its recipients each with the rules that match
    (`off`: the optional rules listed though not switched on)."""
    msg = analysis.message
    rows = result_rows(label, analysis) if analysis.verdicts else []
    recipients = []
    for row, chain in zip(rows, chains, strict=True):
        shape = {k: v for k, v in row_json(row).items() if k not in ("file", "verp")}
        shape["rules"] = [
            rule_json(rule) | {"matched_on": list(hits), "off": rule.id in off}
            for rule, hits in chain
        ]
        recipients.append(shape)
    return {
        "file": label,
        "kind": msg.kind.value,
        "subject": msg.subject,
        "message_id": msg.message_id,
        "original_message_id": msg.original.message_id if msg.original else None,
        "error": msg.error,
        "verp": verp_json(analysis.verp),
        "recipients": recipients,
        "notes": list(msg.notes),
    }


def rules_json(
    rules: Sequence[Rule],
    files: Sequence[str],
    optional_off: Sequence[str] = (),
    example_problems: Sequence[str] = (),
) -> Json:
    """`rules check --json`: the rules in the order they are tried, their files, the ids of
    the optional rules not switched on, and the operator rules' examples that fail."""
    return {
        "version": JSON_VERSION,
        "rules": [rule_json(r) for r in rules],
        "files": list(files),
        "optional_off": list(optional_off),
        "example_problems": list(example_problems),
    }


def audit_json(entry: AuditEntry) -> Json:
    return {"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
            "detail": entry.detail}  # fmt: skip


def mode_state_json(
    state: ModeState, last_trip: AuditEntry | None, recent: Sequence[AuditEntry]
) -> Json:
    """`mode --json`: the mode in force (as in `status`) and the recent mode changes."""
    return mode_json(state, last_trip) | {
        "version": JSON_VERSION,
        "recent": [audit_json(e) for e in recent],
    }


def decisions_json(decisions: Sequence[StoredDecision], undone: int | None) -> Json:
    """`reinstate --json` and `undo --json`: the decisions found, and how many were undone."""
    return {
        "version": JSON_VERSION,
        "decisions": [decision_json(d) for d in decisions],
        "undone": undone,
    }


def suppression_json(e: Suppression) -> Json:
    return {**asdict(e), "since": e.since.isoformat()}

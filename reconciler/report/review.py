"""`reconciler review` and `review show`: the review queue as a table (80 columns) and as JSON
(documented in docs/cli.md), and one example's fields and rule chain as `explain` shows a
message's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from reconciler.records import (
    Classification,
    Reclassified,
    Review,
    ReviewExample,
    ReviewGroup,
    ReviewKind,
    Rule,
    RuleFacts,
    StoredEvent,
)
from reconciler.report.classify import print_chain
from reconciler.report.console import lines, styled, when

__all__ = [
    "event_json",
    "group_json",
    "print_entry",
    "print_event",
    "print_review",
    "review_json",
]

Json = dict[str, Any]
_SHAPE_SHOWN = 150  # characters of a shape in the table (all of it in JSON)
_GROUPS_SHOWN = 30


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _ref(example: ReviewExample) -> str:
    where = f"{example.mailbox} UID {example.uid}"
    return f"event {example.event_id}, {where}" if example.event_id is not None else where


def print_review(console: Console, review: Review, limit: int = _GROUPS_SHOWN) -> None:
    """The groups, largest first (the first `limit`), and what to do next."""
    console.print(
        styled("Review", "bold"), f": {when(review.since)} .. {when(review.until)}", sep=""
    )
    console.print(", ".join(f"{kind.value} {n}" for kind, n in review.totals))
    if not review.groups:
        console.print("nothing to review: every bounce of the period was used")
        return
    table = Table(box=box.SIMPLE_HEAD, title_justify="left", expand=False)
    table.add_column("group", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("kind / rule", no_wrap=True)
    table.add_column("shape / example", overflow="fold", ratio=1)
    for g in review.groups[:limit]:
        shape = g.shape if len(g.shape) <= _SHAPE_SHOWN else g.shape[:_SHAPE_SHOWN] + "…"
        rule = g.rules[0][0] if g.rules else "-"
        seen = f"{g.first_seen:%m-%d}..{g.last_seen:%m-%d}"
        table.add_row(g.group, str(g.count), lines(g.kind.value, rule, seen),
                      lines(shape, _ref(g.example)))  # fmt: skip
    console.print(table)
    if len(review.groups) > limit:
        console.print(f"... {len(review.groups) - limit} more groups (--json for all)")
    console.print("next: reconciler review show GROUP")
    console.print("      reconciler rules suggest EVENT --reason R   (then rules replay)")
    if any(g.kind is ReviewKind.QUARANTINED for g in review.groups):
        console.print("      reconciler requeue --folder quarantine      (after a fix)")


def _example_json(e: ReviewExample) -> Json:
    return {
        "event": e.event_id,
        "mailbox": e.mailbox,
        "uidvalidity": e.uidvalidity,
        "uid": e.uid,
        "message_id": e.message_id,
        "folder": e.folder,
        "text": e.text,
        "rule": e.rule_id,
        "reason": e.reason.value if e.reason else None,
        "status": e.status,
        "domain": e.domain,
    }


def group_json(g: ReviewGroup) -> Json:
    return {
        "group": g.group,
        "kind": g.kind.value,
        "shape": g.shape,
        "count": g.count,
        "first_seen": _time(g.first_seen),
        "last_seen": _time(g.last_seen),
        "rules": dict(g.rules),
        "example": _example_json(g.example),
    }


def review_json(review: Review) -> Json:
    return {
        "version": 1,
        "since": _time(review.since),
        "until": _time(review.until),
        "kinds": [kind.value for kind in review.kinds],
        "totals": {kind.value: n for kind, n in review.totals},
        "groups": [group_json(g) for g in review.groups],
    }


# -- one example -------------------------------------------------------------------------------


def _fields_table(rows: Sequence[tuple[str, str | None]]) -> Table:
    table = Table(box=box.MINIMAL, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(name, value or "-")
    return table


def print_event(
    console: Console,
    stored: StoredEvent,
    chain: Sequence[tuple[Rule, tuple[str, ...]]],
    now: Classification,
    history: Sequence[Reclassified],
) -> None:
    """An event's stored fields (what the rules read of it), its verdict as stored and as the
    rules in force decide it now, the rules that match (the first decides), its
    reclassifications."""
    e = stored.event
    verified = "verified" if e.verp_valid else f"unverified ({e.verp_failure or 'no token'})"
    console.print(styled(f"event {stored.id}", "bold"), f" {stored.mailbox} UID {stored.uid}",
                  f" recorded {when(stored.recorded_at)}", sep="")  # fmt: skip
    user = f"{e.realm}:{e.user_id}" if e.user_id is not None else "-"
    console.print(f"  verp: {verified} user={user}")
    console.print(_fields_table([
        ("recipient", e.recipient), ("original recipient", e.original_recipient),
        ("kind", e.kind.value), ("action", e.action), ("status", e.status),
        ("reply code", e.reply_code), ("stage", e.stage.value),
        ("diagnostic type", e.diagnostic_type), ("diagnostic", e.diagnostic),
        ("remote MTA", e.remote_mta), ("reporting MTA", e.reporting_mta),
        ("notice from", e.sender_domain), ("detector", e.detector),
        ("reason", e.reason.value), ("severity", e.severity.value), ("fault", e.fault.value),
        ("rule", e.rule_id),
    ]))  # fmt: skip
    if e.final_domain is None:
        console.print("  recorded before the store kept every fact the rules read")
    if (now.reason, now.severity, now.fault, now.rule_id) != (
        e.reason, e.severity, e.fault, e.rule_id,
    ):  # fmt: skip
        console.print(f"  the rules in force now: {now.reason.value}/{now.severity.value}/"
                      f"{now.fault.value} by {now.rule_id}")  # fmt: skip
    print_chain(console, chain)
    for r in history:
        console.print(f"  reclassified {when(r.at)} (audit {r.audit_id}): {r.old.rule_id} -> "
                      f"{r.new.rule_id}, {r.old.reason.value} -> {r.new.reason.value}")  # fmt: skip


def print_entry(console: Console, group: ReviewGroup, entry: ReviewExample) -> None:
    """A quarantined message: its ledger entry and the error it was quarantined with."""
    console.print(styled(f"group {group.group}", "bold"),
                  f" {group.kind.value}: {group.count} message(s)", sep="")  # fmt: skip
    console.print(_fields_table([
        ("mailbox", entry.mailbox), ("UID", str(entry.uid)),
        ("UIDVALIDITY", str(entry.uidvalidity)), ("message-id", entry.message_id),
        ("folder", entry.folder), ("error", entry.text),
    ]))  # fmt: skip
    console.print("  no events: it was never understood; after a fix, requeue it "
                  "(reconciler requeue --folder quarantine)")  # fmt: skip


def _facts_json(facts: RuleFacts) -> Json:
    return {
        "kind": facts.kind.value,
        "status": facts.status,
        "reply_code": facts.reply_code,
        "stage": facts.stage.value,
        "action": facts.action,
        "diagnostic_type": facts.diagnostic_type,
        "diagnostic": facts.diagnostic,
        "remote_mta": facts.remote_mta,
        "reporting_mta": facts.reporting_mta,
        "sender_domain": facts.sender_domain,
        "domain": facts.domain,
    }


def event_json(
    stored: StoredEvent,
    facts: RuleFacts,
    chain: Sequence[tuple[Rule, tuple[str, ...]]],
    now: Classification,
    history: Sequence[Reclassified],
) -> Json:
    """`review show EVENT --json`."""
    e = stored.event
    return {
        "version": 1,
        "event": stored.id,
        "mailbox": stored.mailbox,
        "uid": stored.uid,
        "recipient": e.recipient,
        "verified": e.verp_valid,
        "facts": _facts_json(facts),
        "complete": e.final_domain is not None,
        "stored": {
            "reason": e.reason.value,
            "severity": e.severity.value,
            "fault": e.fault.value,
            "rule": e.rule_id,
        },
        "now": {
            "reason": now.reason.value,
            "severity": now.severity.value,
            "fault": now.fault.value,
            "rule": now.rule_id,
        },
        "chain": [
            {"rule": rule.id, "file": rule.file, "line": rule.line, "on": list(hits)}
            for rule, hits in chain
        ],
        "reclassified": [
            {
                "at": _time(r.at),
                "audit": r.audit_id,
                "old_rule": r.old.rule_id,
                "new_rule": r.new.rule_id,
            }
            for r in history
        ],
    }

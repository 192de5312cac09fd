"""Tables for `classify`, `explain` and `rules check`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import PurePath

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reconciler.analysis import Analysis
from reconciler.records import Classification, ParsedBounce, Rule, VerpFailure, VerpMatch
from reconciler.report.console import count_items, styled
from reconciler.report.layout import Cell, Column, print_counts, print_fitted
from reconciler.report.results import ResultRow

__all__ = [
    "print_chain",
    "print_classify",
    "print_explain",
    "print_rules",
    "rule_place",
    "verp_text",
]

_CLASSIFY_COLUMNS = (
    Column("file", wrap=True, min_width=14, want=40),
    Column("recipient"),
    Column("reason"),
    Column("sev"),
    Column("rule", 2),
    Column("kind", 3),
    Column("status", 3),
    Column("code", 4),
)


def print_classify(console: Console, rows: Sequence[ResultRow], *, limit: int = 500) -> None:
    """A table of the rows (the first `limit`), the messages that could not be read under it,
    and a summary by kind, severity and reason."""
    cells: list[list[Cell]] = [
        [
            row.file,
            row.recipient or "-",
            row.reason or ("error" if row.error else "-"),
            _severity(row.severity),
            row.rule or "-",
            row.kind.value,
            row.status or "-",
            row.reply_code or "-",
        ]
        for row in rows[:limit]
    ]
    print_fitted(console, _CLASSIFY_COLUMNS, cells, title="Classification")
    if len(rows) > limit:
        console.print(f"... {len(rows) - limit} more rows (use --json for all)")
    for row in rows[:limit]:
        if row.error:
            console.print(styled(f"{row.file}: {row.error}", "red"), soft_wrap=True)
    _print_summary(console, rows)


def _severity(value: str | None) -> Text:
    styles = {"hard": "bold red", "soft": "yellow", "none": "dim"}
    return styled(value or "-", styles.get(value or "", ""))


def _print_summary(console: Console, rows: Sequence[ResultRow]) -> None:
    messages = len({r.file for r in rows})
    kinds = Counter(r.kind.value for r in rows)
    severities = Counter(r.severity for r in rows if r.severity)
    reasons = Counter(r.reason for r in rows if r.reason)
    summary = [
        ("messages", [str(messages)]),
        ("kind", count_items(kinds)),
        ("severity", count_items(severities)),
        ("reason", count_items(reasons)),
    ]
    print_counts(console, "Summary", summary)


def rule_place(rule: Rule) -> str:
    """Where a rule is written: its file within its rules directory, and the line."""
    return f"{PurePath(rule.file).name}:{rule.line}"


def verp_text(match: VerpMatch | None) -> str:
    """The VERP verdict in words: "no token", "valid: user enwiki:12 ...", "invalid: ..."."""
    if match is None:
        return "not checked (no [verp] section in the configuration)"
    if match.failure is VerpFailure.NOT_FOUND:
        return "no token"
    found = f" in {match.found_in}" if match.found_in else ""
    user = f"{match.realm}:{match.user_id}" if match.user_id is not None else None
    issued = (
        datetime.fromtimestamp(match.issued, UTC).isoformat() if match.issued is not None else None
    )
    details = [
        f"user {user}" if user else "",
        f"key {match.key_id}" if match.key_id else "",
        f"issued {issued}" if issued else "",
    ]
    said = ", ".join(d for d in details if d)
    verdict = "valid" if match.valid else f"invalid ({match.failure or 'unknown'})"
    return f"{verdict}{found}" + (f": {said}" if said else "")


def print_explain(
    console: Console,
    label: str,
    analysis: Analysis,
    chains: Sequence[Sequence[tuple[Rule, tuple[str, ...]]]],
    off: frozenset[str] = frozenset(),
) -> None:
    """Parsed fields of each recipient and the rules that matched it (the first decided; the
    ids in `off`, optional rules not switched on, are marked and decided nothing)."""
    msg = analysis.message
    console.print(styled(label, "bold"))
    console.print(f"  kind: {msg.kind.value}   subject: {msg.subject or '-'}")
    if msg.error:
        console.print(styled("  not understood:", "red"), msg.error)
    if msg.original is not None:
        console.print(f"  original message-id: {msg.original.message_id or '-'}")
    console.print(f"  verp: {verp_text(analysis.verp)}")
    if not analysis.verdicts:
        console.print("  no recipient result: nothing would be recorded for this message")
    for verdict, chain in zip(analysis.verdicts, chains, strict=True):
        _print_recipient(console, verdict.bounce, verdict.classification, chain, off)
    for note in msg.notes:
        console.print(styled(f"  note: {note}", "dim"))


def _print_recipient(
    console: Console,
    bounce: ParsedBounce,
    decision: Classification,
    chain: Sequence[tuple[Rule, tuple[str, ...]]],
    off: frozenset[str],
) -> None:
    fields = Table(box=box.MINIMAL, show_header=False)
    fields.add_column("field", style="bold", no_wrap=True)
    fields.add_column("value", overflow="fold")
    rows = (
        ("recipient", bounce.recipient),
        ("original recipient", bounce.original_recipient),
        ("kind", bounce.kind.value),
        ("action", bounce.action),
        ("status", bounce.status),
        ("reply code", bounce.reply_code),
        ("stage", bounce.stage.value),
        ("diagnostic type", bounce.diagnostic_type),
        ("diagnostic", bounce.diagnostic),
        ("remote MTA", bounce.remote_mta),
        ("detector", bounce.detector),
    )
    for name, value in rows:
        fields.add_row(name, value or "-")
    fields.add_row("reason", decision.reason.value)
    fields.add_row("severity", decision.severity.value)
    fields.add_row("fault", decision.fault.value)
    fields.add_row("rule", decision.rule_id)
    console.print(fields)
    print_chain(console, chain, off)


def print_chain(
    console: Console,
    chain: Sequence[tuple[Rule, tuple[str, ...]]],
    off: frozenset[str] = frozenset(),
) -> None:
    """The rules that match a recipient result and what each matched on (the first decides;
    an optional rule that is off, in `off`, is marked and decides nothing)."""
    if not chain:
        console.print("  no rule matched: the fallback decided")
        return
    columns = (Column("rule"), Column("file", 2), Column("matched on", wrap=True, min_width=20))
    cells = [
        [f"{rule.id} (off)" if rule.id in off else rule.id, rule_place(rule), "; ".join(hits)]
        for rule, hits in chain
    ]
    if not any(rule.id in off for rule, _ in chain):
        print_fitted(console, columns, cells, title="Rules that match (the first decides)")
        return
    print_fitted(console, columns, cells, title="Rules that match (the first not off decides)")
    console.print("  (off): an optional rule, not in force; a rules file's")
    console.print("  `enable: [id]` turns it on (docs/rules.md)")


def print_rules(console: Console, rules: Sequence[Rule], files: Sequence[str]) -> None:
    columns = (
        Column("#", justify="right"),
        Column("id"),
        Column("reason"),
        Column("file", 2),
        Column("severity", 3),
    )
    cells = [
        [
            str(index),
            rule.id,
            rule.reason.value,
            rule_place(rule),
            rule.severity.value if rule.severity else "derived",
        ]
        for index, rule in enumerate(rules, 1)
    ]
    print_fitted(console, columns, cells, title=f"{len(rules)} rules in order")
    console.print("files (in order):")
    for file in files:
        console.print(f"  {file}")

"""Tables for `classify`, `explain` and `rules check`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reconciler.analysis import Analysis
from reconciler.records import Classification, ParsedBounce, Rule
from reconciler.report.console import counts_text, short_path, styled
from reconciler.report.results import ResultRow

__all__ = ["print_classify", "print_explain", "print_rules"]


def print_classify(console: Console, rows: Sequence[ResultRow], *, limit: int = 500) -> None:
    """A table of the rows (the first `limit`) and a summary by kind, severity and reason."""
    table = Table(box=box.SIMPLE_HEAD, title="Classification", title_justify="left")
    for col in ("file", "kind", "recipient", "status", "code", "reason", "sev", "rule"):
        table.add_column(col, overflow="fold")
    for row in rows[:limit]:
        table.add_row(
            short_path(row.file),
            row.kind.value,
            row.recipient or "-",
            row.status or "",
            row.reply_code or "",
            row.reason or (row.error or ""),
            _severity(row.severity),
            row.rule or "",
        )
    console.print(table)
    if len(rows) > limit:
        console.print(f"... {len(rows) - limit} more rows (use --json for all)")
    _print_summary(console, rows)


def _severity(value: str | None) -> Text:
    styles = {"hard": "bold red", "soft": "yellow", "none": "dim"}
    return styled(value or "", styles.get(value or "", ""))


def _print_summary(console: Console, rows: Sequence[ResultRow]) -> None:
    messages = len({r.file for r in rows})
    kinds = Counter(r.kind.value for r in rows)
    severities = Counter(r.severity for r in rows if r.severity)
    reasons = Counter(r.reason for r in rows if r.reason)
    table = Table(box=box.SIMPLE_HEAD, title="Summary", title_justify="left")
    table.add_column("by")
    table.add_column("counts", overflow="fold")
    table.add_row("messages", str(messages))
    table.add_row("kind", counts_text(kinds))
    table.add_row("severity", counts_text(severities))
    table.add_row("reason", counts_text(reasons))
    console.print(table)


def print_explain(
    console: Console,
    label: str,
    analysis: Analysis,
    chains: Sequence[Sequence[tuple[Rule, tuple[str, ...]]]],
) -> None:
    """Parsed fields of each recipient and the rules that matched it (the first decided)."""
    msg = analysis.message
    console.print(styled(label, "bold"), f" kind={msg.kind.value}  subject={msg.subject or '-'}")
    if msg.error:
        console.print(styled("  not understood:", "red"), msg.error)
    if msg.original is not None:
        console.print(f"  original: message-id={msg.original.message_id or '-'}")
    if analysis.verp is not None:
        v = analysis.verp
        state = "valid" if v.valid else f"invalid ({v.failure.value if v.failure else '?'})"
        console.print(f"  verp: {state} user={v.user_id} realm={v.realm} in={v.found_in}")
    for verdict, chain in zip(analysis.verdicts, chains, strict=True):
        _print_recipient(console, verdict.bounce, verdict.classification, chain)
    for note in msg.notes:
        console.print(styled(f"  note: {note}", "dim"))


def _print_recipient(
    console: Console,
    bounce: ParsedBounce,
    decision: Classification,
    chain: Sequence[tuple[Rule, tuple[str, ...]]],
) -> None:
    fields = Table(box=box.MINIMAL, show_header=False)
    fields.add_column("field", style="bold")
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
    if not chain:
        console.print("  no rule matched: the fallback decided")
    for index, (rule, hits) in enumerate(chain):
        mark = styled("  decided", "bold green") if index == 0 else styled("  also matches", "dim")
        console.print(mark, f"{rule.id} ({rule.file}:{rule.line}) on: {'; '.join(hits)}")


def print_rules(console: Console, rules: Sequence[Rule], files: Sequence[str]) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=f"{len(rules)} rules in order", title_justify="left")
    for col in ("#", "id", "reason", "severity", "where"):
        table.add_column(col)
    for index, rule in enumerate(rules, 1):
        severity = rule.severity.value if rule.severity else "derived"
        where = f"{short_path(rule.file)}:{rule.line}"
        table.add_row(str(index), rule.id, rule.reason.value, severity, where)
    console.print(table)
    console.print("files: " + ", ".join(files))

"""Terminal output with rich: tables for classify, explain and rule checks; progress bars.

rich is imported here and nowhere else (STYLE 1).  Output stays readable without colour and
when piped: rich detects both by itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reconciler.analysis import Analysis, ResultRow
from reconciler.cycle import RunResult
from reconciler.dryrun import Preview
from reconciler.records import (
    AuditEntry,
    Classification,
    MessageOutcome,
    ModeState,
    ParsedBounce,
    Rule,
    StoredDecision,
    Suppression,
)

__all__ = [
    "make_console",
    "print_classify",
    "print_decisions",
    "print_explain",
    "print_mode",
    "print_previews",
    "print_rules",
    "print_run",
    "print_suppressions",
    "progress",
]

_PROGRESS_MIN = 50  # fewer items than this: no progress bar


def make_console(file: TextIO | None = None, *, stderr: bool = False) -> Console:
    return Console(file=file, stderr=stderr, highlight=False)


@contextmanager
def progress(console: Console, total: int, what: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr for long runs; a no-op for short ones or non-terminals."""
    if total < _PROGRESS_MIN or not console.is_terminal:
        yield lambda: None
        return
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def print_classify(console: Console, rows: Sequence[ResultRow], *, limit: int = 500) -> None:
    """A table of the rows (the first `limit`) and a summary by kind, severity and reason."""
    table = Table(box=box.SIMPLE_HEAD, title="Classification", title_justify="left")
    for col in ("file", "kind", "recipient", "status", "code", "reason", "sev", "rule"):
        table.add_column(col, overflow="fold")
    for row in rows[:limit]:
        table.add_row(
            _short(row.file),
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


def _severity(value: str | None) -> str:
    styles = {"hard": "[bold red]hard[/]", "soft": "[yellow]soft[/]", "none": "[dim]none[/]"}
    return styles.get(value or "", "")


def _print_summary(console: Console, rows: Sequence[ResultRow]) -> None:
    messages = len({r.file for r in rows})
    kinds = Counter(r.kind.value for r in rows)
    severities = Counter(r.severity for r in rows if r.severity)
    reasons = Counter(r.reason for r in rows if r.reason)
    table = Table(box=box.SIMPLE_HEAD, title="Summary", title_justify="left")
    table.add_column("by")
    table.add_column("counts", overflow="fold")
    table.add_row("messages", str(messages))
    table.add_row("kind", _counts(kinds))
    table.add_row("severity", _counts(severities))
    table.add_row("reason", _counts(reasons))
    console.print(table)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "-"


def print_explain(
    console: Console,
    label: str,
    analysis: Analysis,
    chains: Sequence[Sequence[tuple[Rule, tuple[str, ...]]]],
) -> None:
    """Parsed fields of each recipient and the rules that matched it (the first decided)."""
    msg = analysis.message
    console.print(f"[bold]{label}[/]  kind={msg.kind.value}  subject={msg.subject or '-'}")
    if msg.error:
        console.print(f"  [red]not understood:[/] {msg.error}")
    if msg.original is not None:
        console.print(f"  original: message-id={msg.original.message_id or '-'}")
    if analysis.verp is not None:
        v = analysis.verp
        state = "valid" if v.valid else f"invalid ({v.failure.value if v.failure else '?'})"
        console.print(f"  verp: {state} user={v.user_id} realm={v.realm} in={v.found_in}")
    for verdict, chain in zip(analysis.verdicts, chains, strict=True):
        _print_recipient(console, verdict.bounce, verdict.classification, chain)
    for note in msg.notes:
        console.print(f"  [dim]note: {note}[/]")


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
        ("kind", bounce.kind.value),
        ("action", bounce.action),
        ("status", bounce.status),
        ("reply code", bounce.reply_code),
        ("command", bounce.command),
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
        mark = "[bold green]decided[/]" if index == 0 else "[dim]also matches[/]"
        console.print(f"  {mark} {rule.id} ({rule.file}:{rule.line}) on: {'; '.join(hits)}")


def print_rules(console: Console, rules: Sequence[Rule], files: Sequence[str]) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=f"{len(rules)} rules in order", title_justify="left")
    for col in ("#", "id", "reason", "severity", "where"):
        table.add_column(col)
    for index, rule in enumerate(rules, 1):
        severity = rule.severity.value if rule.severity else "derived"
        where = f"{_short(rule.file)}:{rule.line}"
        table.add_row(str(index), rule.id, rule.reason.value, severity, where)
    console.print(table)
    console.print("files: " + ", ".join(files))


def print_run(console: Console, result: RunResult) -> None:
    """One line per mailbox after `poll --once`."""
    table = Table(box=box.SIMPLE_HEAD, title="Poll cycle", title_justify="left")
    for col in ("mailbox", "seen", "processed", "unmatched", "quarantined", "dupes", "events",
                "hard", "soft", "moved", "retry"):  # fmt: skip
        table.add_column(col, justify="right" if col != "mailbox" else "left")
    for r in result.reports:
        o = r.outcomes
        table.add_row(
            r.mailbox,
            str(r.seen),
            str(o[MessageOutcome.PROCESSED]),
            str(o[MessageOutcome.UNMATCHED] + o[MessageOutcome.SKIPPED]),
            str(o[MessageOutcome.QUARANTINED]),
            str(r.duplicates),
            str(r.events),
            str(r.severities["hard"]),
            str(r.severities["soft"]),
            str(r.moved),
            str(len(r.failed)),
        )
    for name, error in result.errors.items():
        table.add_row(f"[red]{name}[/]", f"[red]failed: {error}[/]")
    console.print(table)


def print_previews(console: Console, previews: Sequence[Preview]) -> None:
    """The dry-run report: what the next cycle would record, per mailbox and per user."""
    for p in previews:
        table = Table(box=box.SIMPLE_HEAD, title=f"Dry run: {p.mailbox}", title_justify="left")
        table.add_column("by")
        table.add_column("counts", overflow="fold")
        table.add_row("messages", str(p.seen))
        table.add_row("would move to", _counts(p.destinations))
        table.add_row("outcome", _counts(Counter({k.value: v for k, v in p.outcomes.items()})))
        table.add_row("kind", _counts(p.kinds))
        table.add_row("severity", _counts(p.severities))
        table.add_row("reason", _counts(p.reasons))
        table.add_row("unmatched", str(p.unmatched))
        table.add_row("quarantined", str(p.quarantined))
        console.print(table)
        _print_users(console, p)


def _print_users(console: Console, p: Preview) -> None:
    if not p.users:
        console.print("  no bounce carried a verified VERP token")
        return
    users = Table(box=box.SIMPLE_HEAD, title="Per verified user", title_justify="left")
    for col in ("realm:user", "hard", "soft", "none"):
        users.add_column(col)
    ranked = sorted(p.users.items(), key=lambda kv: (-kv[1]["hard"], -kv[1]["soft"], kv[0]))
    for key, counts in ranked[:50]:
        users.add_row(key, str(counts["hard"]), str(counts["soft"]), str(counts["none"]))
    console.print(users)
    if len(ranked) > 50:
        console.print(f"  ... {len(ranked) - 50} more users")


def print_mode(console: Console, state: ModeState, recent: Sequence[AuditEntry]) -> None:
    """The mode in force, since when, by whom and why; recent audited changes."""
    style = {"enforce": "bold red", "paused": "bold yellow"}.get(state.mode.value, "bold green")
    console.print(f"mode: [{style}]{state.mode.value}[/]")
    console.print(f"since: {state.since:%Y-%m-%d %H:%M:%S} UTC  by: {state.by}")
    console.print(f"why: {state.reason}")
    if state.mode.value == "paused":
        console.print("[yellow]the circuit breaker paused enforcement; re-arm with "
                      "`reconciler mode enforce --reason ...`[/]")  # fmt: skip
    if recent:
        table = Table(box=box.SIMPLE_HEAD, title="Recent audit", title_justify="left")
        for col in ("when", "who", "what", "detail"):
            table.add_column(col, overflow="fold")
        for entry in recent:
            table.add_row(f"{entry.at:%Y-%m-%d %H:%M}", entry.actor, entry.action, entry.detail)
        console.print(table)


def print_decisions(console: Console, decisions: Sequence[StoredDecision], title: str) -> None:
    """Decisions with who, which address, which rule, and the evidence counts."""
    table = Table(box=box.SIMPLE_HEAD, title=f"{title}: {len(decisions)}", title_justify="left")
    for col in ("id", "user", "address", "rule", "days h/s", "reasons", "mode", "state"):
        table.add_column(col, overflow="fold")
    for stored in decisions[:200]:
        d = stored.decision
        state = (
            "undone" if stored.undone_at else ("applied" if stored.applied_at else "not applied")
        )
        table.add_row(
            str(stored.id),
            f"{d.realm}:{d.user_id}",
            d.address or "-",
            d.rule or "-",
            f"{d.hard_days}/{d.soft_days}",
            ", ".join(r.value for r in d.reasons),
            d.mode.value,
            state,
        )
    console.print(table)
    if len(decisions) > 200:
        console.print(f"... {len(decisions) - 200} more")


def print_suppressions(console: Console, entries: Sequence[Suppression]) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=f"Suppressed: {len(entries)}", title_justify="left")
    for col in ("address", "user", "since", "reason", "decision"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            e.address,
            f"{e.realm}:{e.user_id}",
            f"{e.since:%Y-%m-%d %H:%M}",
            e.reason,
            str(e.decision_id) if e.decision_id is not None else "by hand",
        )
    console.print(table)

"""Tables for the operations commands: `poll --once`, `dry-run`, `mode`, decisions, suppressions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from reconciler.records import AuditEntry, MessageOutcome, ModeState, StoredDecision, Suppression
from reconciler.report.console import counts_text, styled
from reconciler.service.cycle import RunResult
from reconciler.service.dryrun import Preview

__all__ = ["print_decisions", "print_mode", "print_previews", "print_run", "print_suppressions"]


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
        table.add_row(styled(name, "red"), styled(f"failed: {error}", "red"))
    console.print(table)


def print_previews(console: Console, previews: Sequence[Preview]) -> None:
    """The dry-run report: what the next cycle would record, per mailbox and per user."""
    for p in previews:
        table = Table(box=box.SIMPLE_HEAD, title=f"Dry run: {p.mailbox}", title_justify="left")
        table.add_column("by")
        table.add_column("counts", overflow="fold")
        table.add_row("messages", str(p.seen))
        table.add_row("would move to", counts_text(p.destinations))
        table.add_row("outcome", counts_text(Counter({k.value: v for k, v in p.outcomes.items()})))
        table.add_row("kind", counts_text(p.kinds))
        table.add_row("severity", counts_text(p.severities))
        table.add_row("reason", counts_text(p.reasons))
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
    console.print("mode:", styled(state.mode.value, style))
    console.print(f"since: {state.since:%Y-%m-%d %H:%M:%S} UTC  by: {state.by}")
    console.print(f"why: {state.reason}")
    if state.mode.value == "paused":
        console.print(styled("the circuit breaker paused enforcement; re-arm with "
                             "`reconciler mode enforce --reason ...`", "yellow"))  # fmt: skip
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

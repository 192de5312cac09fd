"""Tables for the operations commands: `poll --once`, `dry-run`, `mode`, decisions, suppressions."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from reconciler.records import MessageOutcome
from reconciler.report.console import count_items, styled
from reconciler.report.layout import Cell, Column, print_counts, print_fitted

if TYPE_CHECKING:  # names in annotations only: not imported to print a poll's table
    from collections.abc import Sequence

    from rich.console import Console

    from reconciler.records import AuditEntry, ModeState, StoredDecision, Suppression
    from reconciler.service.cycle import CycleReport, RunResult
    from reconciler.service.dryrun import Preview

__all__ = [
    "print_decisions",
    "print_mode",
    "print_previews",
    "print_run",
    "print_suppressions",
    "run_counts",
]


_RUN_COLUMNS = (  # the words of the cycle's log line (`cycle mailbox=... seen=...`)
    Column("mailbox"),
    Column("status"),
    Column("seen", justify="right"),
    Column("processed", justify="right"),
    Column("unmatched", justify="right"),
    Column("skipped", justify="right"),
    Column("quarantined", justify="right"),
    Column("moved", 2, justify="right"),
    Column("unprocessed", 2, justify="right"),
    Column("events", 3, justify="right"),
    Column("hard", 3, justify="right"),
    Column("soft", 3, justify="right"),
    Column("duplicates", 4, justify="right"),
)


def run_counts(r: CycleReport) -> dict[str, int]:
    """A cycle's counts under the names of its log line (the table and --json use them)."""
    o = r.outcomes
    return {
        "seen": r.seen,
        "processed": o[MessageOutcome.PROCESSED],
        "unmatched": o[MessageOutcome.UNMATCHED],
        "skipped": o[MessageOutcome.SKIPPED],
        "quarantined": o[MessageOutcome.QUARANTINED],
        "moved": r.moved,
        "unprocessed": len(r.failed),
        "events": r.events,
        "hard": r.severities["hard"],
        "soft": r.severities["soft"],
        "duplicates": r.duplicates,
    }


def print_run(console: Console, result: RunResult) -> None:
    """One line per mailbox after `poll --once`, with the same counts as the cycle's log line;
    the error of a mailbox that failed goes under the table."""
    rows: list[list[Cell]] = []
    for r in result.reports:
        counts = run_counts(r)
        rows.append([r.mailbox, "ok", *(str(counts[c.header]) for c in _RUN_COLUMNS[2:])])
    for name in result.errors:
        rows.append(
            [styled(name, "red"), styled("failed", "bold red"), *("-" for _ in _RUN_COLUMNS[2:])]
        )
    print_fitted(console, _RUN_COLUMNS, rows, title="Poll cycle")
    for name, error in result.errors.items():  # whole, to be copied: the terminal wraps it
        console.print(styled(f"{name}: {error}", "red"), soft_wrap=True)


def print_previews(console: Console, previews: Sequence[Preview]) -> None:
    """The dry-run report: what the next cycle would record, per mailbox and per user.

    The outcomes are those of the cycle's log line; the folders are where the messages would
    be moved (a skipped message goes to the folder its token decides: unmatched without one).
    """
    for p in previews:
        if not p.seen:
            console.print(f"Dry run: {p.mailbox}: no message in the folder, nothing to record")
            continue
        outcomes = Counter({k.value: v for k, v in p.outcomes.items()})
        folders = Counter({f"{name}/": n for name, n in p.destinations.items()})
        rows = [
            ("messages", [str(p.seen)]),
            ("outcome", count_items(outcomes)),
            ("would move to", count_items(folders)),
            ("kind", count_items(p.kinds)),
            ("severity", count_items(p.severities)),
            ("reason", count_items(p.reasons)),
        ]
        print_counts(console, f"Dry run: {p.mailbox}", rows)
        _print_users(console, p)


def _print_users(console: Console, p: Preview) -> None:
    if not p.users:
        console.print("  no bounce carried a verified VERP token")
        return
    ranked = sorted(p.users.items(), key=lambda kv: (-kv[1]["hard"], -kv[1]["soft"], kv[0]))
    columns = (Column("user"), *(Column(c, justify="right") for c in ("hard", "soft", "none")))
    rows = [[key, str(c["hard"]), str(c["soft"]), str(c["none"])] for key, c in ranked[:50]]
    print_fitted(console, columns, rows, title="Per verified user (realm:id)")
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
        columns = (
            Column("when (UTC)"),
            Column("who"),
            Column("what"),
            Column("detail", 2, wrap=True, min_width=16),
        )
        rows = [[f"{e.at:%Y-%m-%d %H:%M}", e.actor, e.action, e.detail] for e in recent]
        print_fitted(console, columns, rows, title="Recent audit")


_DECISION_COLUMNS = (
    Column("id", justify="right"),
    Column("user", 2),
    Column("address"),
    Column("rule", 2),
    Column("state", 3),
    Column("days h/s", 4),
    Column("reasons", 5, wrap=True, min_width=10),
    Column("mode", 6),
)


def print_decisions(console: Console, decisions: Sequence[StoredDecision], title: str) -> None:
    """Decisions with who, which address, which rule, and the evidence counts."""
    heading = f"{title}: {len(decisions)}"
    if not decisions:
        console.print(f"{heading} (none)")
        return
    rows: list[list[Cell]] = []
    for stored in decisions[:200]:
        d = stored.decision
        state = "undone" if stored.undone_at else ("applied" if stored.applied_at else "pending")
        rows.append([
            str(stored.id),
            f"{d.realm}:{d.user_id}",
            d.address or "-",
            d.rule or "-",
            state,
            f"{d.hard_days}/{d.soft_days}",
            ", ".join(r.value for r in d.reasons),
            d.mode.value,
        ])  # fmt: skip
    print_fitted(console, _DECISION_COLUMNS, rows, title=heading)
    if len(decisions) > 200:
        console.print(f"... {len(decisions) - 200} more")


def print_suppressions(console: Console, entries: Sequence[Suppression]) -> None:
    columns = (
        Column("address"),
        Column("user", 2),
        Column("since"),
        Column("decision", 3, justify="right"),
        Column("reason", 4, wrap=True, min_width=10),
    )
    rows: list[list[Cell]] = [
        [
            e.address,
            f"{e.realm}:{e.user_id}",
            f"{e.since:%Y-%m-%d %H:%M}",
            str(e.decision_id) if e.decision_id is not None else "by hand",
            e.reason,
        ]
        for e in entries
    ]
    if not rows:
        console.print("Suppressed: 0 (the list is empty)")
        return
    print_fitted(console, columns, rows, title=f"Suppressed: {len(entries)}")

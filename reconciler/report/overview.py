"""`reconciler report`: the counts of a period, a bar chart per day, the users closest to a
threshold, decisions, actions, incidents, mode and breaker, and the mailboxes' last cycles."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC
from enum import StrEnum

from rich.console import Console
from rich.table import Table

from reconciler.records import (
    AuditEntry,
    DayCount,
    MessageOutcome,
    ModeState,
    Overview,
    Reason,
    Standing,
)
from reconciler.report.console import count_items, styled, when
from reconciler.report.layout import Cell, Column, print_counts, print_fitted

__all__ = ["print_mode_line", "print_overview"]

_BAR_WIDTH = 40
_MODE_STYLES = {"enforce": "bold red", "paused": "bold yellow"}


def _nonzero(pairs: Sequence[tuple[StrEnum, int]]) -> list[str]:
    items = count_items(Counter({member.value: n for member, n in pairs if n}))
    return [] if items == ["-"] else items


def _named(pairs: Sequence[tuple[str, int]]) -> list[str]:
    return count_items(Counter({(key or "(unknown)"): n for key, n in pairs}))


def print_mode_line(console: Console, state: ModeState, last_trip: AuditEntry | None) -> None:
    """The mode, since when and by whom, and the breaker's state."""
    style = _MODE_STYLES.get(state.mode.value, "bold green")
    console.print(
        "mode:", styled(state.mode.value, style), f"since {when(state.since)} by {state.by}"
    )
    tripped = "TRIPPED (enforcement paused)" if state.mode.value == "paused" else "armed"
    last = f"; last trip {when(last_trip.at)}: {last_trip.detail}" if last_trip else ""
    console.print(f"breaker: {tripped}{last}")


def _bars(console: Console, days: Sequence[DayCount]) -> None:
    if not days:
        console.print("bounces per day: none")
        return
    block = "█" if (console.encoding or "").lower().startswith("utf") else "#"
    top = max(d.total for d in days)
    table = Table(box=None, title="Bounces per day (hard/soft/none)", title_justify="left")
    for col, justify in (("day", "left"), ("total", "right"), ("h/s/n", "right"), ("", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for d in days:
        bar = block * max(1, round(d.total * _BAR_WIDTH / top)) if d.total else ""
        table.add_row(f"{d.day:%Y-%m-%d}", str(d.total), f"{d.hard}/{d.soft}/{d.none}", bar)
    console.print(table)


def _counts_table(console: Console, o: Overview) -> None:
    e, d = o.events, o.decisions
    actions = Counter({f"{a.action}/{a.status.value}": a.count for a in d.actions})
    rows = [
        ("events", [str(e.total)]),
        ("kind", _nonzero(e.kinds)),
        ("severity", _nonzero(e.severities)),
        ("reason", _nonzero(e.reasons)),
        ("fault", _nonzero(e.faults)),
        ("messages", _nonzero(o.outcomes)),
        ("top domains", _named(e.domains)),
        ("top remote MTAs", _named(e.remote_mtas)),
        ("decisions", [f"{d.total} in all", *_nonzero(d.dispositions)]),
        ("triggers", _nonzero(d.triggers)),
        ("carried out", [f"applied {d.applied}", f"undone {d.undone}"]),
        ("actions", count_items(actions)),
    ]
    if o.probes or any(n for _, n in o.probe_counts):
        rows.append(("probes", _nonzero(o.probe_counts)))
    print_counts(console, "Counts", rows)


_STANDING_COLUMNS = (
    Column("user"),
    Column("address"),
    Column("hard", 2, justify="right"),
    Column("soft", 2, justify="right"),
    Column("fires"),
    Column("closeness", 3, justify="right"),
)


def _standings(console: Console, o: Overview, rows: Sequence[Standing]) -> None:
    hard, soft = o.policy.hard, o.policy.soft
    if not rows:
        console.print("closest to a threshold: nobody has counted bounces")
        return
    title = (f"Closest to a threshold (days with bounces: hard {hard.days} in "
             f"{hard.window_days}d, soft {soft.days} in {soft.window_days}d)")  # fmt: skip
    cells: list[list[Cell]] = [
        [f"{s.realm}:{s.user_id}", s.address or "-", f"{s.hard_days}/{hard.days}",
         f"{s.soft_days}/{soft.days}", s.trigger.value if s.trigger else "",
         f"{s.closeness:.0%}"]
        for s in rows
    ]  # fmt: skip
    print_fitted(console, _STANDING_COLUMNS, cells, title=title)


_PROBE_COLUMNS = (
    Column("probe", justify="right"),
    Column("user"),
    Column("address"),
    Column("state", 2),
    Column("due (UTC)", 3),
)


def _probes(console: Console, o: Overview) -> None:
    """The probes still open: each a decision that waits for its verdict."""
    if not o.probes:
        return
    title = f"Probes waiting for a bounce: {len(o.probes)} (their decisions are probing)"
    cells: list[list[Cell]] = [
        [str(p.id), f"{p.realm}:{p.user_id}", p.address, p.state.value,
         f"{p.due_at:%Y-%m-%d %H:%M}"]
        for p in o.probes
    ]  # fmt: skip
    print_fitted(console, _PROBE_COLUMNS, cells, title=title)


def _incidents_and_mailboxes(console: Console, o: Overview) -> None:
    for i in o.incidents:
        state = "active" if i.active else "over"
        console.print(f"incident ({state}): {i.scope.value} {i.key} {i.reason.value} "
                      f"users={i.users}")  # fmt: skip
    if not o.incidents:
        console.print("incidents: none")
    for c in o.checkpoints:
        console.print(f"mailbox {c.mailbox}: last successful cycle {when(c.last_success)}")


def _to_review(console: Console, o: Overview) -> None:
    """What could not be used, and the command that shows it (the operator's loop)."""
    outcomes = dict(o.outcomes)
    unmatched, held = outcomes[MessageOutcome.UNMATCHED], outcomes[MessageOutcome.QUARANTINED]
    reasons = dict(o.events.reasons)
    unknown = reasons.get(Reason.ONHOLD, 0) + reasons.get(Reason.UNDEFINED, 0)
    if not (unmatched or held or unknown):
        return
    console.print(f"to review: {unmatched} unmatched, {held} quarantined message(s), "
                  f"{unknown} result(s) no rule knew:")  # fmt: skip
    console.print(f"  reconciler review --since {o.since.astimezone(UTC):%Y-%m-%dT%H:%M}")


def print_overview(console: Console, o: Overview) -> None:
    """The whole report, in sections; readable without colour and when piped."""
    scope = f" mailbox {o.mailbox}" if o.mailbox else ""
    console.print(styled("Report", "bold"), f"{scope}: {when(o.since)} .. {when(o.until)}", sep="")
    print_mode_line(console, o.mode, o.last_trip)
    _counts_table(console, o)
    _bars(console, o.events.days)
    _standings(console, o, o.standings)
    _probes(console, o)
    _incidents_and_mailboxes(console, o)
    _to_review(console, o)

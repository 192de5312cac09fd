"""`reconciler report`: the counts of a period, a bar chart per day, the users closest to a
threshold, decisions, actions, incidents, mode and breaker, and the mailboxes' last cycles."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from enum import StrEnum

from rich import box
from rich.console import Console
from rich.table import Table

from reconciler.records import AuditEntry, DayCount, ModeState, Overview, Standing
from reconciler.report.console import counts_text, styled, when

__all__ = ["print_mode_line", "print_overview"]

_BAR_WIDTH = 40
_MODE_STYLES = {"enforce": "bold red", "paused": "bold yellow"}


def _nonzero(pairs: Sequence[tuple[StrEnum, int]]) -> str:
    return counts_text(Counter({member.value: n for member, n in pairs if n}))


def _named(pairs: Sequence[tuple[str, int]]) -> str:
    return counts_text(Counter({(key or "(unknown)"): n for key, n in pairs}))


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
    table = Table(box=box.SIMPLE_HEAD, title="Counts", title_justify="left")
    table.add_column("by")
    table.add_column("counts", overflow="fold")
    table.add_row("events", str(e.total))
    table.add_row("kind", _nonzero(e.kinds))
    table.add_row("severity", _nonzero(e.severities))
    table.add_row("reason", _nonzero(e.reasons))
    table.add_row("fault", _nonzero(e.faults))
    table.add_row("messages", _nonzero(o.outcomes))
    table.add_row("top domains", _named(e.domains))
    table.add_row("top remote MTAs", _named(e.remote_mtas))
    table.add_row("decisions", f"{d.total}: {_nonzero(d.dispositions)}")
    table.add_row("triggers", _nonzero(d.triggers))
    table.add_row("carried out", f"applied {d.applied}, undone {d.undone}")
    actions = Counter({f"{a.action}/{a.status.value}": a.count for a in d.actions})
    table.add_row("actions", counts_text(actions))
    if o.probes or any(n for _, n in o.probe_counts):
        table.add_row("probes", _nonzero(o.probe_counts))
    console.print(table)


def _standings(console: Console, o: Overview, rows: Sequence[Standing]) -> None:
    hard, soft = o.policy.hard, o.policy.soft
    if not rows:
        console.print("closest to a threshold: nobody has counted bounces")
        return
    title = (f"Closest to a threshold (hard {hard.days}d in {hard.window_days}d, "
             f"soft {soft.days}d in {soft.window_days}d)")  # fmt: skip
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    for col in ("user", "address", "hard days", "soft days", "closeness", "fires"):
        table.add_column(col, overflow="fold")
    for s in rows:
        table.add_row(f"{s.realm}:{s.user_id}", s.address or "-", f"{s.hard_days}/{hard.days}",
                      f"{s.soft_days}/{soft.days}", f"{s.closeness:.0%}",
                      s.trigger.value if s.trigger else "")  # fmt: skip
    console.print(table)


def _probes(console: Console, o: Overview) -> None:
    """The probes still open: each a decision that waits for its verdict."""
    if not o.probes:
        return
    table = Table(box=box.SIMPLE_HEAD, title=f"Probes waiting for a bounce: {len(o.probes)} "
                  "(their decisions are probing)", title_justify="left")  # fmt: skip
    for col in ("probe", "user", "address", "state", "due (UTC)"):
        table.add_column(col, overflow="fold")
    for p in o.probes:
        table.add_row(str(p.id), f"{p.realm}:{p.user_id}", p.address, p.state.value,
                      f"{p.due_at:%Y-%m-%d %H:%M}")  # fmt: skip
    console.print(table)


def _incidents_and_mailboxes(console: Console, o: Overview) -> None:
    for i in o.incidents:
        state = "active" if i.active else "over"
        console.print(f"incident ({state}): {i.scope.value} {i.key} {i.reason.value} "
                      f"users={i.users}")  # fmt: skip
    if not o.incidents:
        console.print("incidents: none")
    for c in o.checkpoints:
        console.print(f"mailbox {c.mailbox}: last successful cycle {when(c.last_success)}")


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

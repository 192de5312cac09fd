"""`reconciler user show`: one user's (or address's) evidence trail as a timeline, and
`reconciler status`: each mailbox's health."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.text import Text

from reconciler.records import (
    Health,
    Mode,
    Probe,
    ProbeState,
    StoredDecision,
    StoredEvent,
    Trail,
    UserSelector,
)
from reconciler.report.console import lines, styled, when
from reconciler.report.layout import Cell, Column, print_fitted
from reconciler.report.overview import print_mode_line

__all__ = ["print_health", "print_trail", "selector_text"]

Row = tuple[datetime, str, str, Text | str]  # (when, what, mode, detail)


def selector_text(s: UserSelector) -> str:
    if s.address is not None:
        return s.address
    return f"{s.realm}:{s.user_id}" if s.realm is not None else f"user {s.user_id} (any realm)"


def _event_row(stored: StoredEvent, mode: Mode) -> Row:
    e = stored.event
    who = f"{e.realm}:{e.user_id}" if e.verp_valid else f"unverified ({e.verp_failure or '-'})"
    detail = lines(
        f"{e.recipient or '-'} {e.kind.value}/{e.severity.value} {e.reason.value} "
        f"rule={e.rule_id} status={e.status or '-'} mta={e.remote_mta or '-'} {who} "
        f"[{stored.mailbox} uid {stored.uid}]",
        f"  {e.diagnostic or '-'}",
    )
    return e.event_time, f"event {stored.id}", mode.value, detail


def _decision_row(stored: StoredDecision) -> Row:
    d = stored.decision
    detail = (
        f"{d.kind.value} {d.address or '-'} rule={d.rule or '-'} "
        f"days h/s={d.hard_days}/{d.soft_days} {d.disposition.value} "
        f"evidence={list(d.event_ids)}" + (f" ({d.withheld})" if d.withheld else "")
    )
    return stored.recorded_at, f"decision {stored.id}", d.mode.value, detail


def _probe_row(p: Probe, mode: Mode) -> Row:
    for_decision = f"for decision {p.decision_id}" if p.decision_id else "(no decision)"
    if p.state is ProbeState.WOULD:
        return p.created_at, f"probe {p.id}", mode.value, (
            f"would probe {p.address} {for_decision} (log-only: not sent)")  # fmt: skip
    parts = [f"{p.state.value}: to {p.address} {for_decision}, ref {p.send_ref}"]
    if p.sent_at is not None:
        parts.append(f"sent {when(p.sent_at)}")
    parts.append(f"due {when(p.due_at)}")
    if p.event_id is not None:
        parts.append(f"bounce: event {p.event_id}")
    elif p.resolved_at is not None:
        parts.append(f"no bounce: cleared {when(p.resolved_at)}")
    detail = lines(", ".join(parts), f"  {p.detail}") if p.detail else ", ".join(parts)
    return p.created_at, f"probe {p.id}", mode.value, detail


def _rows(t: Trail) -> list[Row]:
    rows = [_event_row(stored, mode) for stored, mode in t.events]
    rows.extend(_decision_row(stored) for stored in t.decisions)
    for action, mode in t.actions:
        undone = f" (undone {when(action.undone_at)})" if action.undone_at else ""
        detail = f"{action.action} {action.status.value} {action.detail}".strip() + undone
        what = f"action {action.id} (decision {action.decision_id})"
        rows.append((action.at, what, mode.value, detail))
    for entry, mode in t.audit:
        rows.append((entry.at, entry.action, mode.value, f"{entry.actor}: {entry.detail}"))
    rows.extend(_probe_row(probe, mode) for probe, mode in t.probes)
    return sorted(rows, key=lambda r: r[0])


def print_trail(console: Console, t: Trail) -> None:
    """Every event, decision, action and undo in time order, with the mode in force."""
    rows = _rows(t)
    if not rows and not t.suppressions:
        console.print(f"nothing is known about {selector_text(t.selector)}")
        return
    title = f"Evidence trail of {selector_text(t.selector)}: {len(rows)} entries"
    columns = (
        Column("when (UTC)"),
        Column("what"),
        Column("mode", 2),
        Column("detail", wrap=True, min_width=24),
    )
    cells = [
        [f"{moment:%Y-%m-%d %H:%M}", what, mode, detail] for moment, what, mode, detail in rows
    ]
    print_fitted(console, columns, cells, title=title)
    for s in t.suppressions:
        console.print(f"suppressed: {s.address} since {when(s.since)} ({s.reason})")
    if not t.suppressions:
        console.print("suppressed: no")


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    return f"{minutes // 1440}d {minutes // 60 % 24}h" if minutes >= 1440 else f"{minutes // 60}h"


def print_health(console: Console, h: Health) -> None:
    """One line per mailbox; stale ones marked.  The exit code tells monitoring the verdict."""
    print_mode_line(console, h.mode, h.last_trip)
    columns = (
        Column("mailbox"),
        Column("state"),
        Column("last success"),
        Column("age", justify="right"),
        Column("backlog", justify="right"),
        Column("unmoved", 2, justify="right"),
        Column("retrying", 2, justify="right"),
    )
    rows: list[list[Cell]] = []
    for m in h.mailboxes:
        state = styled("STALE", "bold red") if m.stale else "ok"
        backlog = str(m.imap_backlog) if m.imap_backlog is not None else "unknown"
        rows.append([m.mailbox, state, when(m.last_success), _age(m.age_seconds), backlog,
                     str(m.unmoved), str(m.retrying)])  # fmt: skip
    print_fitted(console, columns, rows, title="Mailboxes")
    for m in h.mailboxes:
        if m.imap_error:
            console.print(f"{m.mailbox}: backlog unknown: {m.imap_error}")
    verdict = "ok" if h.ok else f"STALE: not polled within {h.stale_after}s"
    console.print(f"status: {verdict}")

"""`reconciler requeue`: the preview of the messages to move back, and its `--json` shape."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from reconciler.records import HeldMessage
from reconciler.report.console import when
from reconciler.service.requeue import Requeue, RequeueDone

__all__ = ["print_requeue", "requeue_json"]

_OTHER_COLUMNS = 60  # what the other columns take at most (mailbox folded at 16)
_SUBJECT_MIN = 12


def _stamp(message: HeldMessage) -> str:
    moment = message.since
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"


def print_requeue(console: Console, plan: Requeue) -> None:
    """One row per message, oldest first; the mailboxes that could not be read after."""
    since = f" set aside since {when(plan.since)}" if plan.since else ""
    title = f"Messages in the {plan.kind} folders{since}: {len(plan.messages)}"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("mailbox", overflow="fold", max_width=16)
    table.add_column("uid", justify="right")
    table.add_column("set aside (UTC)", no_wrap=True)
    table.add_column("was", no_wrap=True)
    table.add_column("subject", overflow="fold")
    room = max(_SUBJECT_MIN, console.width - _OTHER_COLUMNS)  # rich squeezes long cells badly
    for m in sorted(plan.messages, key=lambda m: (_stamp(m), m.mailbox, m.uid)):
        subject = m.subject if len(m.subject) <= room else m.subject[: room - 1] + "…"
        table.add_row(m.mailbox, str(m.uid), _stamp(m), m.outcome.value if m.outcome else "-",
                      subject or "-")  # fmt: skip
    console.print(table)
    if plan.older:
        console.print(f"{plan.older} older message(s) left where they are (--since)")
    for name, error in sorted(plan.errors.items()):
        console.print(f"mailbox {name}: not read: {error}")


def _message(m: HeldMessage) -> dict[str, Any]:
    return {
        "mailbox": m.mailbox,
        "folder": m.folder,
        "uidvalidity": m.uidvalidity,
        "uid": m.uid,
        "sha256": m.sha256,
        "size": m.size,
        "subject": m.subject,
        "received_at": m.received_at.isoformat() if m.received_at else None,
        "outcome": m.outcome.value if m.outcome else None,
        "recorded_at": m.recorded_at.isoformat() if m.recorded_at else None,
    }


def requeue_json(plan: Requeue, done: RequeueDone | None, dry_run: bool) -> dict[str, Any]:
    """The shape of `reconciler requeue --json` (docs/cli.md)."""
    errors = {**plan.errors, **(done.errors if done else {})}
    return {
        "version": 1,
        "folder": plan.kind,
        "since": plan.since.isoformat() if plan.since else None,
        "dry_run": dry_run,
        "messages": [_message(m) for m in plan.messages],
        "older": plan.older,
        "requeued": done.total if done else 0,
        "errors": dict(sorted(errors.items())),
    }

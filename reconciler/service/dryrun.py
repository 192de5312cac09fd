"""Dry run: what the next cycle would record, read-only (EXAMINE, no MOVE, no database).

The operator's first look at a live mailbox before trusting the tool: counts by kind,
severity, reason and outcome, and per verified user.  It runs the very same analysis as the
cycle (`analysis.ledger_entry`), so the preview cannot disagree with what a cycle records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reconciler.analysis import ledger_entry
from reconciler.records import MessageOutcome
from reconciler.service.cycle import CycleContext
from reconciler.settings import MailboxSettings
from reconciler.source import MailSource, fetch_batches

__all__ = ["Preview", "preview_mailbox"]


@dataclass(slots=True)
class Preview:
    """What a cycle over one mailbox would record."""

    mailbox: str
    seen: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    severities: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[MessageOutcome] = field(default_factory=Counter)
    destinations: Counter[str] = field(default_factory=Counter)
    users: dict[str, Counter[str]] = field(default_factory=dict)  # "realm:user" -> severities

    @property
    def unmatched(self) -> int:
        return self.outcomes[MessageOutcome.UNMATCHED]

    @property
    def quarantined(self) -> int:
        return self.outcomes[MessageOutcome.QUARANTINED]


def preview_mailbox(
    source: MailSource,
    folders: MailboxSettings,
    ctx: CycleContext,
    uids: Sequence[int] | None = None,
    advance: Callable[[], None] = lambda: None,
) -> Preview:
    """Analyse every message (or `uids`) of the read-only source; record and move nothing.

    `advance` is called once per message (a progress bar over a big mailbox).
    """
    preview = Preview(mailbox=source.mailbox)
    if uids is None:
        uids = source.uids_after(0)
    for batch in fetch_batches(source, uids, folders.batch_size, folders.fetch_bytes):
        now = ctx.clock()
        for raw in batch:
            entry, _ = ledger_entry(raw, ctx, folders, now)
            advance()
            preview.seen += 1
            preview.outcomes[entry.outcome] += 1
            preview.destinations[entry.destination or "-"] += 1
            for event in entry.events:
                preview.kinds[event.kind.value] += 1
                preview.severities[event.severity.value] += 1
                preview.reasons[event.reason.value] += 1
                if event.user_id is not None:
                    key = f"{event.realm or '-'}:{event.user_id}"
                    preview.users.setdefault(key, Counter())[event.severity.value] += 1
        if ctx.stop.is_set():
            break
    return preview

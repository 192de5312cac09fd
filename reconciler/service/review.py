"""The review queue (`reconciler review`): the bounces the reconciler could not use, grouped
by the shape of their text so that one provider's message is one group.

Three kinds (`ReviewKind`): *undetermined* (no rule knew it: reason `onhold` or `undefined`),
*unmatched* (no verified VERP token: it names no user) and *quarantined* (not understood, or
its analysis failed `max_attempts` times, or the database refused it).  A quarantined message
has no events: it appears as its ledger entry, grouped by the shape of the error it was
quarantined with (recorded since migration 11; older entries say "(error not recorded)").
An event both unmatched and undetermined is shown as undetermined (a rule is what it lacks),
unless only `--kind unmatched` is asked for.  Read-only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from reconciler.classify.shapes import diagnostic_shape, shape_id
from reconciler.records import (
    LedgerEntry,
    Reason,
    Review,
    ReviewExample,
    ReviewGroup,
    ReviewKind,
    StoredEvent,
)
from reconciler.store import Store

__all__ = ["event_kind", "find_group", "gather_review"]

_PAGE = 2000
_UNDETERMINED = frozenset({Reason.ONHOLD, Reason.UNDEFINED})
_NO_TEXT = "(no diagnostic text)"
_NO_ERROR = "(error not recorded)"


@dataclass(slots=True)
class _Group:
    kind: ReviewKind
    shape: str
    first: datetime
    last: datetime
    example: ReviewExample
    count: int = 0
    rules: Counter[str] = field(default_factory=Counter)

    def add(self, at: datetime, example: ReviewExample) -> None:
        self.count += 1
        if example.rule_id is not None:
            self.rules[example.rule_id] += 1
        self.first = min(self.first, at)
        if at >= self.last:
            self.last, self.example = at, example


def event_kind(stored: StoredEvent, kinds: Sequence[ReviewKind]) -> ReviewKind | None:
    """The review kind an event is shown under, among `kinds` (None: not in the queue)."""
    event = stored.event
    if event.reason in _UNDETERMINED and ReviewKind.UNDETERMINED in kinds:
        return ReviewKind.UNDETERMINED
    if not event.verp_valid and ReviewKind.UNMATCHED in kinds:
        return ReviewKind.UNMATCHED
    return None


def _event_example(stored: StoredEvent) -> ReviewExample:
    event = stored.event
    return ReviewExample(
        event_id=stored.id,
        mailbox=stored.mailbox,
        uidvalidity=stored.uidvalidity,
        uid=stored.uid,
        message_id=None,  # filled in for the groups' examples only (one query each)
        folder=None,
        text=event.diagnostic,
        rule_id=event.rule_id,
        reason=event.reason,
        status=event.status,
        domain=event.recipient.rpartition("@")[2].lower() if "@" in event.recipient else "",
    )


def _entry_example(entry: LedgerEntry) -> ReviewExample:
    return ReviewExample(
        event_id=None,
        mailbox=entry.mailbox,
        uidvalidity=entry.uidvalidity,
        uid=entry.uid,
        message_id=entry.message_id,
        folder=entry.destination,
        text=entry.error or _NO_ERROR,
    )


def _events(store: Store, since: datetime, until: datetime) -> Iterator[StoredEvent]:
    after = 0
    while page := store.review_events(since, until, after, _PAGE):
        yield from page
        after = page[-1].id


def _entries(store: Store, since: datetime, until: datetime) -> Iterator[LedgerEntry]:
    after = 0
    while page := store.quarantined_entries(since, until, after, _PAGE):
        yield from (entry for _, entry in page)
        after = page[-1][0]


def _add(
    groups: dict[tuple[ReviewKind, str], _Group],
    kind: ReviewKind,
    shape: str,
    at: datetime,
    example: ReviewExample,
) -> None:
    group = groups.get((kind, shape))
    if group is None:
        group = groups[(kind, shape)] = _Group(kind, shape, at, at, example)
    group.add(at, example)


def _with_messages(store: Store, groups: Sequence[_Group]) -> list[ReviewExample]:
    """The groups' examples, an event's with its message's Message-ID and folder (from the
    ledger: one query per few hundred groups)."""
    ids = [g.example.event_id for g in groups if g.example.event_id is not None]
    entries = store.event_entries(ids)
    out = []
    for g in groups:
        entry = entries.get(g.example.event_id) if g.example.event_id is not None else None
        if entry is None:
            out.append(g.example)
        else:
            out.append(replace(g.example, message_id=entry.message_id, folder=entry.destination))
    return out


def gather_review(
    store: Store, since: datetime, until: datetime, kinds: Sequence[ReviewKind]
) -> Review:
    """The review queue of [since, until): groups of `kinds`, the largest first."""
    groups: dict[tuple[ReviewKind, str], _Group] = {}
    if ReviewKind.UNDETERMINED in kinds or ReviewKind.UNMATCHED in kinds:
        for stored in _events(store, since, until):
            kind = event_kind(stored, kinds)
            if kind is not None:
                shape = diagnostic_shape(stored.event.diagnostic) or _NO_TEXT
                _add(groups, kind, shape, stored.event.event_time, _event_example(stored))
    if ReviewKind.QUARANTINED in kinds:
        for entry in _entries(store, since, until):
            shape = diagnostic_shape(entry.error or "") or _NO_ERROR
            _add(groups, ReviewKind.QUARANTINED, shape, entry.processed_at, _entry_example(entry))
    ordered = sorted(groups.values(), key=lambda g: (-g.count, -g.last.timestamp(), g.shape))
    totals: Counter[ReviewKind] = Counter()
    for g in ordered:
        totals[g.kind] += g.count
    examples = _with_messages(store, ordered)
    return Review(
        since=since,
        until=until,
        kinds=tuple(kinds),
        groups=tuple(
            ReviewGroup(
                group=shape_id(g.kind.value, g.shape),
                kind=g.kind,
                shape=g.shape,
                count=g.count,
                first_seen=g.first,
                last_seen=g.last,
                rules=tuple(g.rules.most_common()),
                example=example,
            )
            for g, example in zip(ordered, examples, strict=True)
        ),
        totals=tuple((kind, totals[kind]) for kind in ReviewKind if kind in kinds),
    )


def find_group(review: Review, group: str) -> ReviewGroup | None:
    """The group of `review` with this id (as `review` prints it), or None."""
    wanted = group.strip().lower()
    return next((g for g in review.groups if g.group == wanted), None)

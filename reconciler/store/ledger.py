"""Ledger and event queries: record a batch, find pending moves, recognise fingerprints, prune.

Functions here run against the bound proxy and speak records; the `Store` facade wraps them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any, cast

import peewee as pw

from reconciler.records import BatchResult, Checkpoint, LedgerEntry, MessageOutcome
from reconciler.store.bulk import insert_rows
from reconciler.store.checkpoints import write_checkpoint
from reconciler.store.connection import to_db
from reconciler.store.inlist import execute_in
from reconciler.store.models import Attempt, Event, Message, RequeueRow, database
from reconciler.store.rows import event_row, to_entry

__all__ = [
    "count_outcomes",
    "get_entry",
    "known_fingerprints",
    "mark_moved",
    "moves_due",
    "pending_moves",
    "prune_evidence",
    "record_batch",
]

_CHUNK = 400  # keeps IN (...) lists well inside every backend's parameter limit


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing_uids(mailbox: str, uidvalidity: int, uids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for part in _chunks(uids):
        rows = execute_in(
            lambda values: Message.select(Message.uid).where(
                (Message.mailbox == mailbox)
                & (Message.uidvalidity == uidvalidity)
                & Message.uid.in_(values)
            ),
            Message.uid,
            part,
        )
        found.update(int(uid) for (uid,) in rows)
    return found


def _first_rows(digests: Iterable[str]) -> dict[str, int]:
    """sha256 → id of the first ledger row with those bytes."""
    wanted = sorted(set(digests))
    first: dict[str, int] = {}
    for part in _chunks(wanted):
        rows = execute_in(
            lambda values: (
                Message.select(Message.id, Message.sha256)
                .where(Message.sha256.in_(values))
                .order_by(Message.id)
            ),
            Message.sha256,
            part,
        )
        for row_id, sha256 in rows:
            first.setdefault(sha256, int(row_id))
    return first


def known_fingerprints(digests: Iterable[str]) -> set[str]:
    return set(_first_rows(digests))


def _granted(digests: Iterable[str]) -> set[str]:
    """The contents requeued and not recorded again since (`requeue` grants them once)."""
    wanted = sorted(set(digests))
    found: set[str] = set()
    for part in _chunks(wanted):
        query = RequeueRow.select(RequeueRow.sha256).where(
            RequeueRow.sha256.in_(list(part)) & RequeueRow.used_at.is_null()
        )
        found.update(row.sha256 for row in query)
    return found


def _replace_earlier(again: dict[str, int], now: datetime) -> None:
    """A requeued content was recorded again as row `again[sha256]`: the events of its earlier
    rows go (they are replaced, never added to), those rows say `requeued`, the grant is used.
    A few statements per chunk of contents, however many were requeued."""
    for part in _chunks(sorted(again)):
        earlier = Message.sha256.in_(list(part)) & Message.id.not_in([again[d] for d in part])
        older = Message.select(Message.id).where(earlier)
        Event.delete().where(Event.message.in_(older)).execute()
        Message.update(outcome=MessageOutcome.REQUEUED.value).where(
            earlier & (Message.outcome != MessageOutcome.DUPLICATE.value)
        ).execute()
        RequeueRow.update(used_at=to_db(now)).where(
            RequeueRow.sha256.in_(list(part)) & RequeueRow.used_at.is_null()
        ).execute()


def _row(entry: LedgerEntry, original: int | None) -> dict[str, Any]:
    return {
        "mailbox": entry.mailbox,
        "uidvalidity": entry.uidvalidity,
        "uid": entry.uid,
        "sha256": entry.sha256,
        "message_id": entry.message_id,
        "size": entry.size,
        "received_at": to_db(entry.received_at),
        "processed_at": to_db(entry.processed_at),
        "outcome": (MessageOutcome.DUPLICATE if original is not None else entry.outcome).value,
        "destination": entry.destination,
        "moved": entry.moved_at is not None,
        "moved_at": to_db(entry.moved_at) if entry.moved_at is not None else None,
        "duplicate_of": original,
        "error": entry.error,
    }


def _select_ids(mailbox: str, uidvalidity: int, uids: list[int]) -> Any:
    return Message.select(Message.id, Message.uid).where(
        (Message.mailbox == mailbox) & (Message.uidvalidity == uidvalidity) & Message.uid.in_(uids)
    )


def _delete_attempts(mailbox: str, uidvalidity: int, uids: list[int]) -> Any:
    return Attempt.delete().where(
        (Attempt.mailbox == mailbox) & (Attempt.uidvalidity == uidvalidity) & Attempt.uid.in_(uids)
    )


def _insert_all(pairs: Sequence[tuple[LedgerEntry, int | None]]) -> dict[tuple[str, int, int], int]:
    """Insert ledger rows in multi-row INSERTs; return their ids by (mailbox, uidvalidity, uid).

    The ids are read back with one SELECT per chunk (portable: no RETURNING needed); the
    (mailbox, uidvalidity, uid) key is unique, so the mapping is exact.
    """
    insert_rows(Message, [_row(entry, original) for entry, original in pairs])
    ids: dict[tuple[str, int, int], int] = {}
    for key, group in _by_mailbox([entry for entry, _ in pairs]).items():
        for part in _chunks([entry.uid for entry in group]):
            rows = execute_in(partial(_select_ids, *key), Message.uid, part)
            ids.update(((key[0], key[1], int(uid)), int(row_id)) for row_id, uid in rows)
    return ids


def _key(entry: LedgerEntry) -> tuple[str, int, int]:
    return (entry.mailbox, entry.uidvalidity, entry.uid)


def _record_new(
    entries: Sequence[LedgerEntry], first: dict[str, int], granted: set[str], now: datetime
) -> tuple[list[int], ...]:
    """Insert new ledger rows and the events of the first copy of each content.

    Two rounds: the first copy of each new content (and copies of contents already in the
    ledger) first; then copies repeated within this batch, which point at a row of round one.
    A content in `granted` (requeued) is new once more: its first copy replaces the earlier.
    """
    seen: set[str] = set()
    round_one: list[tuple[LedgerEntry, int | None]] = []
    round_two: list[LedgerEntry] = []
    for entry in entries:
        if entry.sha256 in granted and entry.sha256 not in seen:
            seen.add(entry.sha256)
            round_one.append((entry, None))
        elif entry.sha256 in seen:
            round_two.append(entry)
        elif entry.sha256 in first:
            round_one.append((entry, first[entry.sha256]))
        else:
            seen.add(entry.sha256)
            round_one.append((entry, None))
    ids = _insert_all(round_one)
    for entry, original in round_one:
        if original is None:
            first[entry.sha256] = ids[_key(entry)]
    _insert_all([(entry, first[entry.sha256]) for entry in round_two])
    recorded = [entry for entry, original in round_one if original is None]
    again = {e.sha256: ids[_key(e)] for e in recorded if e.sha256 in granted}
    if again:
        _replace_earlier(again, now)
    events = [
        event_row(ids[_key(entry)], event, to_db(now))
        for entry in recorded
        for event in entry.events
    ]
    insert_rows(Event, events, ignore=True)
    _clear_attempts(entries)
    duplicates = [entry.uid for entry, original in round_one if original is not None]
    duplicates += [entry.uid for entry in round_two]
    requeued = [entry.uid for entry in recorded if entry.sha256 in granted]
    return [entry.uid for entry in recorded], duplicates, requeued


def _clear_attempts(entries: Sequence[LedgerEntry]) -> None:
    """Recording a message clears its failed attempts (one DELETE per mailbox and chunk)."""
    for key, group in _by_mailbox(entries).items():
        for part in _chunks([entry.uid for entry in group]):
            execute_in(partial(_delete_attempts, *key), Attempt.uid, part)


def record_batch(
    entries: Sequence[LedgerEntry], now: datetime, checkpoint: Checkpoint | None
) -> BatchResult:
    """See `Store.record_batch`; the caller wraps errors."""
    with database.atomic():
        already: list[int] = []
        fresh: list[LedgerEntry] = []
        for key, group in _by_mailbox(entries).items():
            existing = _existing_uids(key[0], key[1], [entry.uid for entry in group])
            already.extend(entry.uid for entry in group if entry.uid in existing)
            fresh.extend(entry for entry in group if entry.uid not in existing)
        fresh = _dedupe_keys(fresh)
        first = _first_rows(e.sha256 for e in fresh)
        granted = _granted(first) if first else set()
        recorded, duplicates, again = _record_new(fresh, first, granted, now)
        if checkpoint is not None:
            write_checkpoint(checkpoint, now)
    return BatchResult(tuple(recorded), tuple(duplicates), tuple(already), tuple(again))


def _by_mailbox(entries: Sequence[LedgerEntry]) -> dict[tuple[str, int], list[LedgerEntry]]:
    groups: dict[tuple[str, int], list[LedgerEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.mailbox, entry.uidvalidity), []).append(entry)
    return groups


def _dedupe_keys(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """The same (mailbox, uidvalidity, uid) twice in one batch: the first one counts."""
    seen: set[tuple[str, int, int]] = set()
    unique: list[LedgerEntry] = []
    for entry in entries:
        key = (entry.mailbox, entry.uidvalidity, entry.uid)
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def get_entry(mailbox: str, uidvalidity: int, uid: int) -> LedgerEntry | None:
    row = Message.get_or_none(
        (Message.mailbox == mailbox) & (Message.uidvalidity == uidvalidity) & (Message.uid == uid)
    )
    return to_entry(row) if row is not None else None


def _unmoved(mailbox: str, uidvalidity: int) -> Any:
    """Committed rows of this mailbox and UIDVALIDITY that have a destination, not moved yet."""
    return (
        (Message.mailbox == mailbox)
        & (Message.uidvalidity == uidvalidity)
        & (Message.moved == False)  # noqa: E712 (peewee builds SQL from the comparison)
        & Message.destination.is_null(False)
    )


def pending_moves(mailbox: str, uidvalidity: int) -> list[LedgerEntry]:
    query = Message.select().where(_unmoved(mailbox, uidvalidity)).order_by(Message.uid)
    return [to_entry(row) for row in query]


def moves_due(mailbox: str, uidvalidity: int) -> dict[str, list[int]]:
    query: Any = (
        Message.select(Message.uid, Message.destination)
        .where(_unmoved(mailbox, uidvalidity))
        .order_by(Message.uid)
        .tuples()
    )
    due: dict[str, list[int]] = {}
    for uid, destination in query:
        if destination:
            due.setdefault(destination, []).append(int(uid))
    return due


def mark_moved(mailbox: str, uidvalidity: int, uids: Sequence[int], now: datetime) -> int:
    changed = 0
    with database.atomic():
        for part in _chunks(sorted(set(uids))):
            cursor = execute_in(
                lambda values: Message.update(moved=True, moved_at=to_db(now)).where(
                    (Message.mailbox == mailbox)
                    & (Message.uidvalidity == uidvalidity)
                    & (Message.moved == False)  # noqa: E712
                    & Message.uid.in_(values)
                ),
                Message.uid,
                part,
            )
            changed += int(cursor.rowcount)
    return changed


def prune_evidence(before: datetime) -> int:
    """Delete events and stale attempts recorded before `before`; ledger rows stay."""
    cutoff = to_db(before)
    with database.atomic():
        removed = int(Event.delete().where(Event.created_at < cutoff).execute())
        Attempt.delete().where(Attempt.last_at < cutoff).execute()
    return removed


def _pairs(query: pw.ModelSelect[Any]) -> list[tuple[str, int]]:
    """(value, count) rows of a GROUP BY query (the peewee stubs type tuples() as models)."""
    return cast("list[tuple[str, int]]", list(query.tuples()))


def count_outcomes(since: datetime, until: datetime) -> dict[MessageOutcome, int]:
    """Ledger messages by outcome, processed in [since, until); every outcome is present."""
    counts = dict.fromkeys(MessageOutcome, 0)
    query = (
        Message.select(Message.outcome, pw.fn.COUNT(Message.id))
        .where((Message.processed_at >= to_db(since)) & (Message.processed_at < to_db(until)))
        .group_by(Message.outcome)
    )
    for outcome, number in _pairs(query):
        counts[MessageOutcome(outcome)] = int(number)
    return counts

"""Builders of store records for the tests: a bounce event, a ledger entry, a refusing trigger."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from support import NOW

from reconciler.records import (
    BounceEvent,
    Fault,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Reason,
    Severity,
)

__all__ = ["BOX", "entry", "event", "recorded_batches", "refusing"]

BOX = "bounces@mail.example/INBOX"


def event(recipient: str = "a@example.org", user_id: int | None = 7, **kw: object) -> BounceEvent:
    values: dict[str, object] = {
        "recipient": recipient,
        "kind": MessageKind.BOUNCE,
        "reason": Reason.USERUNKNOWN,
        "severity": Severity.HARD,
        "fault": Fault.RECIPIENT,
        "rule_id": "userunknown-5.1.1",
        "event_time": NOW - timedelta(hours=1),
        "status": "5.1.1",
        "reply_code": "550",
        "diagnostic": "550 5.1.1 no such user",
        "remote_mta": "mx.example.org",
        "original_message_id": "<orig@example.com>",
        "realm": "wiki" if user_id is not None else None,
        "user_id": user_id,
        "verp_valid": user_id is not None,
    }
    values.update(kw)
    return BounceEvent(**values)  # type: ignore[arg-type]


def entry(uid: int, body: bytes | None = None, uidvalidity: int = 1, **kw: object) -> LedgerEntry:
    raw = body if body is not None else b"message %d" % uid
    values: dict[str, object] = {
        "mailbox": BOX,
        "uidvalidity": uidvalidity,
        "uid": uid,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "size": len(raw),
        "outcome": MessageOutcome.PROCESSED,
        "received_at": NOW,
        "processed_at": NOW,
        "message_id": f"<bounce-{uid}@mx.example.org>",
        "destination": "processed",
        "events": (event(f"user{uid}@example.org"),),
    }
    values.update(kw)
    return LedgerEntry(**values)  # type: ignore[arg-type]


def refusing(backend: str, table: str, condition: str) -> list[str]:
    """SQL for a trigger that refuses the rows of `table` that meet `condition` (on NEW), as
    a constraint the data breaks would: the database's own refusal, on each backend."""
    name = f"refuse_{table}"
    if backend == "sqlite":
        return [f"CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN {condition} "
                "BEGIN SELECT RAISE(ABORT, 'refused by a test'); END"]  # fmt: skip
    if backend == "postgresql":
        return [
            f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN IF {condition} THEN "
            "RAISE EXCEPTION 'refused by a test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION "
            f"{name}()",
        ]
    signal = "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a test'"
    return [f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
            f"BEGIN IF {condition} THEN {signal}; END IF; END"]  # fmt: skip


def recorded_batches(
    store: Any, batches: Iterable[Any], event_of: Callable[[Any, datetime], BounceEvent]
) -> Iterator[tuple[int, datetime]]:
    """Record generated batches in turn, as a drain does: each `batch.later` minutes after the
    one before (from NOW), one ledger entry per item of `batch.bounces` with the event
    `event_of(item, now)` (processed when its token verified, else unmatched); yields each
    batch's number and time once it is recorded (the caller runs its decide stage there)."""
    now, uid = NOW, 0
    for number, batch in enumerate(batches):
        now += timedelta(minutes=batch.later)
        entries = []
        for item in batch.bounces:
            uid += 1
            made = event_of(item, now)
            outcome = MessageOutcome.PROCESSED if made.verp_valid else MessageOutcome.UNMATCHED
            digest = hashlib.sha256(b"%d" % uid).hexdigest()
            entries.append(
                LedgerEntry("bounces", 1, uid, digest, 100, outcome, now, now, events=(made,))
            )
        store.record_batch(entries, now)
        yield number, now

"""The store: message ledger, bounce events, checkpoints and attempts, behind named queries.

peewee is imported inside this package only (STYLE 1).  Every public method takes and returns
records from `reconciler.records`, never rows, and raises `StoreError` (chained) on failure.
Times are passed in (`now`), never read from the clock; aware datetimes are stored as UTC.

Typical cycle, crash-safe between the commit and the IMAP MOVE::

    store = open_database(settings.database.url)
    store.migrate(now)
    checkpoint = store.get_checkpoint(mailbox)          # None on first run
    ...fetch, parse, classify into LedgerEntry(..., destination=..., events=(...))...
    store.record_batch(entries, now, Checkpoint(mailbox, uidvalidity, last_uid))  # ONE txn
    for folder, uids in store.moves_due(mailbox, uidvalidity).items():  # a crash's too
        ...MOVE the UID set to folder...
    store.mark_moved(mailbox, uidvalidity, moved_uids, now)
    store.close()

A replayed message (same bytes under a new UID or UIDVALIDITY) is recognised by the sha256 of
its raw bytes: it gets its own ledger row (outcome DUPLICATE, so it is still moved) but its
events are not recorded again.  `prune_evidence` drops old events and keeps the ledger rows,
so fingerprints outlive the retention period.

The policy side (migration 2; methods in `policyapi.py`): the mode and its audit log, recorded
decisions, the suppression list, the action log, the webhook outbox and incidents::

    state = store.get_mode()                            # each cycle: no restart needed
    with store.transaction(): ...                       # decision + suppression + outbox: ONE txn
    store.recent_actions(since, now), store.recorded_tally(since, now, window)  # check_breaker
    store.trip_breaker(trip, now)                       # ENFORCE -> PAUSED, audited

The models are bound to one module-level `DatabaseProxy`, so a process has one open store at
a time (`open_database` refuses a second one).  peewee keeps one connection per thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType

import reconciler.store.drivers  # noqa: F401 - first: peewee without the servers' drivers
from reconciler.errors import StoreError
from reconciler.records import (
    BatchResult,
    BounceEvent,
    Checkpoint,
    LedgerEntry,
    MessageOutcome,
    Severity,
    Unprocessed,
    UserHistory,
)
from reconciler.store.checkpoints import (
    read_checkpoint,
    read_watermark,
    record_failure,
    write_checkpoint,
    write_watermark,
)
from reconciler.store.connection import bind, redact, sqlite_file, to_db, unbind, wrap_errors
from reconciler.store.evidence import (
    GroupFilter,
    count_events,
    event_span_after,
    user_events,
    user_histories,
    user_history,
    verified_users_after,
)
from reconciler.store.incidents import INCIDENT_EVIDENCE
from reconciler.store.leaseapi import LeaseStore
from reconciler.store.ledger import (
    count_outcomes,
    get_entry,
    known_fingerprints,
    mark_moved,
    moves_due,
    pending_moves,
    prune_evidence,
    record_batch,
)
from reconciler.store.loopapi import LoopStore
from reconciler.store.migrations import MIGRATIONS, applied_versions, migrate
from reconciler.store.models import SchemaVersion, database
from reconciler.store.policyapi import PolicyStore
from reconciler.store.probeapi import ProbeStore
from reconciler.store.reportapi import ReportStore

__all__ = ["INCIDENT_EVIDENCE", "LATEST_VERSION", "GroupFilter", "Store", "open_database"]

LATEST_VERSION = MIGRATIONS[-1].number


def open_database(url: str, *, create: bool = True) -> Store:
    """Bind the store to `url` and connect.  One store per process at a time.

    URLs: ``sqlite:///path.db`` (WAL, foreign keys, busy timeout), ``postgresql://user@host/db``
    and ``mysql://`` or ``mariadb://user@host/db``; query parameters go to the driver.
    `create=False` (the read-only commands) refuses a database that does not exist yet, an
    SQLite file or a server database without our tables, instead of creating an empty one.
    """
    path = sqlite_file(url)
    if not create and path is not None and not Path(path).exists():
        raise StoreError(f"no database at {path}{_NOTHING_YET}")
    _db, backend = bind(url)
    store = Store(backend)
    if not create and path is None and not _has_schema():
        store.close()
        raise StoreError(f"no database at {redact(url)} (no reconciler tables){_NOTHING_YET}")
    return store


_NOTHING_YET = (
    ": nothing was recorded there yet (`reconciler poll --once` creates it), or [database] url "
    "names another place"
)


@wrap_errors("reading the schema")
def _has_schema() -> bool:
    db = database.obj
    return db is not None and SchemaVersion._meta.table_name in db.get_tables()


class Store(PolicyStore, ReportStore, LeaseStore, LoopStore, ProbeStore):
    """An open database.  Use as a context manager or call `close()`.

    The ledger and event methods are below; mode, audit, decisions, suppressions, action log,
    outbox and incidents come from `PolicyStore` (store/policyapi.py), requeue grants and
    probes from `ProbeStore` (store/probeapi.py), the review queue, the replay's reads and
    `reclassify` from `LoopStore` (store/loopapi.py).
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend  # "sqlite" | "postgresql" | "mysql"

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        unbind()

    @wrap_errors("closing a thread's connection")
    def release_connection(self) -> None:
        """Close the calling thread's connection (peewee keeps one per thread): for a helper
        thread that is done with the store.  The other threads keep theirs."""
        database.obj.close()

    @wrap_errors("reconnecting to the database")
    def reconnect(self) -> None:
        """Drop and reopen the connection: a daemon calls this at the start of each cycle so a
        database restart between cycles costs nothing.  (Not for ``sqlite:///:memory:``.)"""
        db = database.obj
        db.close()
        db.connect()

    # -- schema ------------------------------------------------------------------------------

    @wrap_errors("migrating the schema")
    def migrate(self, now: datetime) -> list[int]:
        """Apply the migrations not yet recorded in `schema_version`; returns their numbers."""
        return migrate(to_db(now))

    @wrap_errors("reading the schema version")
    def schema_versions(self) -> list[int]:
        """Migration numbers recorded as applied, ascending."""
        return applied_versions()

    # -- ledger ------------------------------------------------------------------------------

    @wrap_errors("recording a batch")
    def record_batch(
        self, entries: Sequence[LedgerEntry], now: datetime, checkpoint: Checkpoint | None = None
    ) -> BatchResult:
        """Record messages with their events, and optionally the checkpoint, in ONE transaction.

        Idempotent: a (mailbox, uidvalidity, uid) already in the ledger is left as it is
        (`already`); a message whose bytes are known gets a DUPLICATE row without events
        (`duplicates`), unless they were requeued (`grant_requeue`): then, once, they are
        recorded again and their earlier rows' events are replaced (`requeued`, among
        `recorded`); an event repeated for the same (message, recipient) is ignored.
        Recording a message clears its failed attempts.  `now` stamps the events' creation
        time (what `prune_evidence` compares) and the checkpoint's update time.

        On StoreError nothing of the batch was written; the caller may retry the entries one
        at a time to isolate the one that fails (idempotency makes the retry safe).
        """
        return record_batch(entries, now, checkpoint)

    @wrap_errors("reading the ledger")
    def get_entry(self, mailbox: str, uidvalidity: int, uid: int) -> LedgerEntry | None:
        return get_entry(mailbox, uidvalidity, uid)

    @wrap_errors("looking up a fingerprint")
    def seen_fingerprint(self, sha256: str) -> bool:
        """True when a message with these bytes (hex sha256) is in the ledger."""
        return bool(known_fingerprints([sha256]))

    @wrap_errors("looking up fingerprints")
    def known_fingerprints(self, digests: Iterable[str]) -> set[str]:
        """The subset of `digests` already in the ledger (one query per few hundred)."""
        return known_fingerprints(digests)

    @wrap_errors("listing pending moves")
    def pending_moves(self, mailbox: str, uidvalidity: int) -> list[LedgerEntry]:
        """Committed entries with a destination that were not moved yet, by UID.

        Rows of an older UIDVALIDITY are not returned: their UIDs mean nothing any more, and
        the messages come back as DUPLICATEs under their new UIDs.
        """
        return pending_moves(mailbox, uidvalidity)

    @wrap_errors("listing pending moves")
    def moves_due(self, mailbox: str, uidvalidity: int) -> dict[str, list[int]]:
        """`pending_moves` as the cycle needs it: destination → UIDs (ascending)."""
        return moves_due(mailbox, uidvalidity)

    @wrap_errors("marking messages moved")
    def mark_moved(self, mailbox: str, uidvalidity: int, uids: Sequence[int], now: datetime) -> int:
        """Record that these UIDs were moved; returns how many rows changed."""
        return mark_moved(mailbox, uidvalidity, uids, now)

    @wrap_errors("pruning evidence")
    def prune_evidence(self, before: datetime) -> int:
        """Delete bounce events (and stale attempts) recorded before `before`.

        Ledger rows, and with them the fingerprints, stay.  Returns the events deleted.
        """
        return prune_evidence(before)

    # -- positions, attempts, reports --------------------------------------------------------

    @wrap_errors("reading a checkpoint")
    def get_checkpoint(self, mailbox: str) -> Checkpoint | None:
        return read_checkpoint(mailbox)

    @wrap_errors("writing a checkpoint")
    def set_checkpoint(self, checkpoint: Checkpoint, now: datetime) -> None:
        write_checkpoint(checkpoint, now)

    @wrap_errors("recording a failure")
    def record_failure(self, item: Unprocessed, now: datetime) -> int:
        """One more failed attempt on a message; returns attempts so far (for quarantine)."""
        return record_failure(item, now)

    @wrap_errors("counting outcomes")
    def count_outcomes(self, since: datetime, until: datetime) -> dict[MessageOutcome, int]:
        return count_outcomes(since, until)

    @wrap_errors("counting events")
    def count_events(self, since: datetime, until: datetime) -> dict[Severity, int]:
        return count_events(since, until)

    @wrap_errors("reading a user's events")
    def user_events(self, realm: str | None, user_id: int, since: datetime) -> list[BounceEvent]:
        """Verified events of one VERP user since `since`, oldest first."""
        return user_events(realm, user_id, since)

    @wrap_errors("reading a watermark")
    def watermark(self, name: str) -> int:
        """How far the stage `name` has read (0 when it never ran)."""
        return read_watermark(name)

    @wrap_errors("writing a watermark")
    def set_watermark(self, name: str, value: int, now: datetime) -> None:
        write_watermark(name, value, now)

    @wrap_errors("listing users with new events")
    def verified_users_after(
        self, event_id: int, settled_before: datetime | None = None
    ) -> tuple[list[tuple[str, int]], int]:
        """Users (realm, id) with verified events above `event_id`, and the next watermark
        (the highest id recorded before `settled_before`; see checkpoints.verified_users_after)."""
        return verified_users_after(event_id, settled_before)

    @wrap_errors("reading users' histories")
    def user_histories(
        self, users: Sequence[tuple[str, int]], since: datetime
    ) -> dict[tuple[str, int], UserHistory]:
        """`user_history` of many users at once (the decide stage after a batch)."""
        return user_histories(users, since)

    @wrap_errors("reading the time span of new events")
    def event_span_after(self, event_id: int) -> tuple[datetime, datetime] | None:
        """Earliest and latest event time of the events above `event_id`."""
        return event_span_after(event_id)

    @wrap_errors("reading a user's history")
    def user_history(self, realm: str, user_id: int, since: datetime) -> UserHistory:
        """Verified events of one VERP user since `since`, as `UserHistory` for policy."""
        return user_history(realm, user_id, since)

"""Moving from MediaWiki BounceHandler: its `bounce_records` recorded as evidence (issue 15).

Each row becomes one ledger entry (mailbox ``bouncehandler:HOST/DATABASE``, uid = ``br_id``)
with one event: kind bounce, severity soft, reason ``undefined`` (BounceHandler kept only the
Subject, so hard or soft is not known), rule ``import-bouncehandler``, at the row's
``br_timestamp``.  The event names a user only when the address is the current address of
exactly one user on the wikis `[actions.mediawiki]` serves (`owners`); it then counts for that
user like a verified bounce (BounceHandler identified the user by its own VERP token when it
recorded the row), else it is kept for the record without a user.  Idempotent: a row imported
before is in the ledger (by its fingerprint), and a rerun adds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from reconciler.actions.farm import searchable
from reconciler.errors import ActionError
from reconciler.records import (
    BatchResult,
    BounceEvent,
    BounceRecord,
    Fault,
    LedgerEntry,
    MessageKind,
    MessageOutcome,
    Reason,
    Severity,
    VerpFailure,
)
from reconciler.settings import Settings
from reconciler.store import Store

__all__ = ["IMPORT_RULE", "ImportPlan", "plan_import", "prepare_import", "run_import", "source"]

IMPORT_RULE = "import-bouncehandler"
_BATCH = 1000  # entries per transaction


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an import would record: the new entries, and counts for the preview."""

    source: str  # the ledger's mailbox of the imported rows
    since: datetime
    entries: tuple[LedgerEntry, ...]  # the rows not imported before
    rows: int  # rows read (sent since `since`)
    already: int  # imported before: left as they are
    attributed: int  # new rows whose address is exactly one user's: they count for that user
    ambiguous: int  # new rows whose address several users have: kept without a user
    unknown: int  # new rows whose address no user has now: kept without a user
    wikis: int  # wikis searched for the addresses' users


def source(url: str) -> str:
    """The ledger's mailbox name of the rows of one BounceHandler database."""
    parts = urlsplit(url)
    return f"bouncehandler:{parts.hostname}:{parts.port or 3306}/{unquote(parts.path.strip('/'))}"


def _fingerprint(where: str, record: BounceRecord) -> str:
    return hashlib.sha256(
        f"reconciler-import-bouncehandler\n{where}\n{record.id}".encode()
    ).hexdigest()


def _entry(
    where: str, record: BounceRecord, user: tuple[str, int] | None, now: datetime
) -> LedgerEntry:
    event = BounceEvent(
        recipient=record.address, kind=MessageKind.BOUNCE, reason=Reason.UNDEFINED,
        severity=Severity.SOFT, fault=Fault.UNKNOWN, rule_id=IMPORT_RULE,
        event_time=record.at, diagnostic=f"BounceHandler: {record.subject}"[:1000],
        realm=user[0] if user else None, user_id=user[1] if user else None,
        verp_valid=user is not None, verp_failure=None if user else VerpFailure.NOT_FOUND,
    )  # fmt: skip
    outcome = MessageOutcome.PROCESSED if user else MessageOutcome.UNMATCHED
    fingerprint = _fingerprint(where, record)
    return LedgerEntry(
        where, 1, record.id, fingerprint, 0, outcome, record.at, now, events=(event,)
    )


def plan_import(
    store: Store,
    records: Sequence[BounceRecord],
    owners: Mapping[str, set[tuple[str, int]]],
    where: tuple[str, datetime, int],
    now: datetime,
) -> ImportPlan:
    """The entries of the rows not imported before; `where` = (source, since, wikis searched)."""
    label, since, wikis = where
    known = store.known_fingerprints(_fingerprint(label, r) for r in records)
    fresh = [r for r in records if _fingerprint(label, r) not in known]
    users = [owners.get(r.address.strip().lower(), set()) for r in fresh]
    entries = tuple(
        _entry(label, r, next(iter(u)) if len(u) == 1 else None, now)
        for r, u in zip(fresh, users, strict=True)
    )
    return ImportPlan(
        source=label, since=since, entries=entries, rows=len(records),
        already=len(records) - len(fresh), attributed=sum(len(u) == 1 for u in users),
        ambiguous=sum(len(u) > 1 for u in users), unknown=sum(not u for u in users), wikis=wikis,
    )  # fmt: skip


def prepare_import(
    settings: Settings, store: Store, url: str, password: str, *, since: datetime, now: datetime
) -> ImportPlan:
    """Read the rows sent since `since` and find their users through `[actions.mediawiki]`
    (none configured: no row names a user)."""
    try:
        from reconciler.actions.bounce_records import owners, read_bounce_records
        from reconciler.actions.mediawiki import MediaWikiAction
    except ImportError as err:
        raise ActionError("the import needs PyMySQL: pip install 'reconciler[mysql]'") from err
    records = read_bounce_records(url, password, since)
    found: dict[str, set[tuple[str, int]]] = {}
    wikis: list[tuple[str, str]] = []
    mediawiki = settings.actions.mediawiki
    if mediawiki is not None and records:
        realms = settings.verp.realms if settings.verp is not None else ()
        wikis = searchable(mediawiki, realms)
        found = owners(MediaWikiAction(mediawiki), (r.address for r in records), wikis)
    return plan_import(store, records, found, (source(url), since, len(wikis)), now)


def run_import(store: Store, plan: ImportPlan, now: datetime) -> int:
    """Record the plan's entries, a batch per transaction; returns how many were recorded."""
    recorded = 0
    for start in range(0, len(plan.entries), _BATCH):
        result: BatchResult = store.record_batch(plan.entries[start : start + _BATCH], now)
        recorded += len(result.recorded)
    return recorded

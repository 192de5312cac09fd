"""One poll cycle over one mailbox: fetch → analyse → commit → move (STYLE 1, 2.11).

The order is what makes the cycle safe:

1. moves left over from an earlier cycle (committed, then a crash before MOVE) are done first;
2. each batch is fetched with BODY.PEEK (no \\Seen), analysed by the pure stages, and committed
   in ONE transaction together with the checkpoint;
3. only then are the batch's messages moved, by UID sets, to processed / unmatched /
   quarantine, and the moves recorded.

A crash anywhere leaves either uncommitted messages (fetched again next cycle) or committed but
unmoved ones (moved next cycle, never counted twice: the ledger is idempotent and recognises
replayed bytes by their SHA-256).  A message that makes the analysis fail is retried on later
cycles and quarantined after `max_attempts`; one the store refuses to record is quarantined at
once, and the rest of its batch recorded (see `recording`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from reconciler.analysis import (
    Analysed,
    Destinations,
    Folders,
    Stages,
    analyse_batch,
    quarantined,
)
from reconciler.classify.match import Classifier
from reconciler.errors import ReconcilerError, SourceError
from reconciler.records import (
    BatchResult,
    Checkpoint,
    LedgerEntry,
    MessageOutcome,
    Mode,
    RawMessage,
    Unprocessed,
)
from reconciler.service.helper_pool import HelperPool
from reconciler.service.leasing import CycleHooks, LeaseTerms, Tenure, claim, lease_terms
from reconciler.service.moving import Mover
from reconciler.service.recording import record_entries
from reconciler.settings import DaemonSettings, MailboxSettings, VerpSettings
from reconciler.source import MailSource, fetch_batches
from reconciler.source.ahead import ReadAhead
from reconciler.source.backoff import Backoff, connect_with_retry
from reconciler.source.imap import ImapSource
from reconciler.store import Store

__all__ = [
    "CycleContext",
    "CycleReport",
    "RunResult",
    "open_source",
    "poll_mailbox",
    "run_once",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CycleContext:
    """What the pure stages need, built once at start (rules compiled, VERP keys loaded)."""

    classifier: Classifier
    verp: VerpSettings | None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    max_attempts: int = 3
    stop: threading.Event = field(default_factory=threading.Event)  # set: stop after the batch
    # the decide stage, run after each committed batch (None: record only, e.g. in tests)
    after_batch: Callable[[datetime], object] | None = None
    # helper processes that analyse batches (None: analyse in this process; see helper_pool)
    helpers: HelperPool[RawMessage, Analysed] | None = None
    # run the decide stage at the end of every cycle, new evidence or not (probes have times)
    decide_every_cycle: bool = False
    # runs the decide stage owed by the committed batches now (a tenure's `settle`)
    settle: Callable[[], object] | None = None

    def hooks(self) -> CycleHooks:
        """What a mailbox's tenure takes from this context."""
        return CycleHooks(clock=self.clock, stop=self.stop, after_batch=self.after_batch)

    def under(self, tenure: Tenure) -> CycleContext:
        """This context for one cycle under `tenure`: its stop flag and its after-batch hook."""
        return replace(self, stop=tenure.stop, after_batch=tenure.after_batch, settle=tenure.settle)


@dataclass(slots=True)
class CycleReport:
    """Counts of one cycle over one mailbox (one summary log line)."""

    mailbox: str
    uidvalidity: int = 0
    seen: int = 0
    outcomes: Counter[MessageOutcome] = field(default_factory=Counter)
    severities: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    events: int = 0
    duplicates: int = 0
    already: int = 0
    requeued: int = 0  # of the recorded: requeued messages analysed again (events replaced)
    moved: int = 0
    unexpunged: int = 0  # moved by COPY, left flagged \\Deleted (the server has no UIDPLUS)
    failed: list[Unprocessed] = field(default_factory=list)
    refused: list[Unprocessed] = field(default_factory=list)  # by the store: quarantined
    backlog: int = 0  # messages left in the folder after this cycle (stopped, or retried)
    rescanned: bool = False  # UIDVALIDITY changed: the folder was read from the start
    stopped: bool = False  # a stop was requested; the rest waits for the next cycle

    def count_moved(self, moved: int, unexpunged: int) -> None:
        """What one move did (`Mover`): `moved` messages, `unexpunged` of them only copied."""
        self.moved += moved
        self.unexpunged += unexpunged

    def summary(self) -> str:
        o = self.outcomes
        return (
            f"mailbox={self.mailbox} seen={self.seen} "
            f"processed={o[MessageOutcome.PROCESSED]} unmatched={o[MessageOutcome.UNMATCHED]} "
            f"skipped={o[MessageOutcome.SKIPPED]} quarantined={o[MessageOutcome.QUARANTINED]} "
            f"duplicates={self.duplicates} events={self.events} hard={self.severities['hard']} "
            f"soft={self.severities['soft']} unprocessed={len(self.failed)} moved={self.moved}"
            + (f" requeued={self.requeued}" if self.requeued else "")
            + (f" refused={len(self.refused)}" if self.refused else "")
            + (f" unexpunged={self.unexpunged}" if self.unexpunged else "")
            + (" rescanned=yes" if self.rescanned else "")
            + (" stopped=yes" if self.stopped else "")
        )


@dataclass(frozen=True, slots=True)
class _Drain:
    """One mailbox being drained: its settings, the counts so far, where it started, and
    what moves its committed messages."""

    folders: MailboxSettings
    report: CycleReport
    last_uid: int  # the checkpoint when the cycle started
    mover: Mover


@dataclass(frozen=True, slots=True)
class _Queued:
    """A fetched batch whose analysis is under way (or, without helpers, not yet started)."""

    batch: Sequence[RawMessage]
    results: Callable[[], list[Analysed]]
    now: datetime


def _entries(
    queued: _Queued, store: Store, ctx: CycleContext, folders: Folders
) -> tuple[list[LedgerEntry], list[Unprocessed]]:
    """Ledger entries for a batch; a message that failed is retried later, then quarantined."""
    entries: list[LedgerEntry] = []
    failed: list[Unprocessed] = []
    batch, now = queued.batch, queued.now
    for raw, result in zip(batch, queued.results(), strict=True):
        if isinstance(result, LedgerEntry):
            entries.append(result)
            _log_message(result)
            continue
        log.error("uid=%s analysis failed: %s\n%s", raw.uid, result.error, result.trace.rstrip())
        item = Unprocessed(raw.mailbox, raw.uidvalidity, raw.uid, "analyse", result.error)
        if store.record_failure(item, now) >= ctx.max_attempts:
            entries.append(quarantined(raw, folders, now, error=f"analysis: {result.error}"))
        else:
            failed.append(item)
    return entries, failed


def _log_message(entry: LedgerEntry) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    for event in entry.events or (None,):
        log.debug(
            "uid=%s message-id=%s kind=%s reason=%s severity=%s rule=%s outcome=%s",
            entry.uid,
            entry.message_id,
            event.kind.value if event else "-",
            event.reason.value if event else "-",
            event.severity.value if event else "-",
            event.rule_id if event else "-",
            entry.outcome.value,
        )


def _warn_unexpunged(report: CycleReport) -> None:
    if report.unexpunged:
        log.warning(
            "mailbox=%s %d messages copied to their folders but not expunged (no UIDPLUS: a "
            "plain EXPUNGE would also remove what others flagged \\Deleted); they stay "
            "flagged \\Deleted, expunge the folder when nobody else needs its flags",
            report.mailbox,
            report.unexpunged,
        )


def _start_uid(source: MailSource, store: Store, report: CycleReport) -> int:
    checkpoint = store.get_checkpoint(source.mailbox)
    if checkpoint is None:
        return 0
    if checkpoint.uidvalidity != source.uidvalidity:
        log.warning(
            "mailbox=%s UIDVALIDITY changed %s -> %s: rescanning (replays are recognised)",
            source.mailbox,
            checkpoint.uidvalidity,
            source.uidvalidity,
        )
        report.rescanned = True
        return 0
    return checkpoint.last_uid


def _tally(report: CycleReport, entries: Sequence[LedgerEntry], result: BatchResult) -> None:
    """Count what the batch recorded: replays (duplicates, already) add no outcome or event."""
    report.duplicates += len(result.duplicates)
    report.already += len(result.already)
    report.requeued += len(result.requeued)
    recorded = set(result.recorded)
    for entry in entries:
        if entry.uid not in recorded:
            continue
        report.outcomes[entry.outcome] += 1
        report.events += len(entry.events)
        report.severities.update(e.severity.value for e in entry.events)
        report.reasons.update(e.reason.value for e in entry.events)


def _analyse(batch: Sequence[RawMessage], ctx: CycleContext, folders: Folders) -> _Queued:
    now = ctx.clock()
    if ctx.helpers is not None and ctx.helpers.wanted(len(batch)):
        return _Queued(batch, ctx.helpers.submit(batch, Destinations.of(folders), now), now)
    stages = Stages(ctx.classifier, ctx.verp)  # a small batch: here, with this context's rules
    return _Queued(batch, lambda: analyse_batch(stages, batch, folders, now), now)


def _commit(
    queued: _Queued,
    source: MailSource,
    store: Store,
    ctx: CycleContext,
    drain: _Drain,
) -> None:
    """Record one analysed batch in one transaction, then move it (in the background when
    the mover works so); run the decide stage."""
    folders, report, last_uid = drain.folders, drain.report, drain.last_uid
    entries, failed = _entries(queued, store, ctx, folders)
    report.seen += len(queued.batch)
    report.failed.extend(failed)
    done = [e.uid for e in entries]
    # never move the checkpoint past a message that is to be retried, in this batch or an
    # earlier one (else later batches would carry it past, and it would never be read again)
    held = [f.uid for f in report.failed]
    high = min(held) - 1 if held else max(done, default=last_uid)
    checkpoint = Checkpoint(source.mailbox, source.uidvalidity, max(high, last_uid))
    recorded = record_entries(store, entries, ctx.clock(), checkpoint, folders.quarantine_folder)
    report.refused.extend(recorded.refused)
    _tally(report, recorded.entries, recorded.result)
    drain.mover.move_due()
    if ctx.after_batch is not None and recorded.result.recorded:
        ctx.after_batch(ctx.clock())


def poll_mailbox(
    source: MailSource, store: Store, folders: MailboxSettings, ctx: CycleContext
) -> CycleReport:
    """Drain one opened mailbox into the store; returns the counts of the cycle.

    With helper processes, the next batch is analysed while the one before is committed and
    moved (batches are still committed one at a time, in order); over IMAP, a backlog of
    more than one batch is fetched one batch ahead over a second, read-only connection
    (`source.ahead`).  A stop request ends the cycle after the batch being committed; a batch
    fetched or analysed ahead is left for the next cycle (nothing of it was recorded or moved).
    """
    report = CycleReport(mailbox=source.mailbox, uidvalidity=source.uidvalidity)
    Mover(source, store, ctx.clock, report.count_moved).move_due()  # an earlier cycle's
    last_uid = _start_uid(source, store, report)
    uids = source.uids_after(last_uid)
    if ctx.helpers is not None and ctx.helpers.wanted(len(uids)):
        ctx.helpers.start()  # they start while the first batch is fetched, not after it
    with _batches(source, uids, folders) as batches:
        # fetched over a second connection: this one only moves, and may do so meanwhile
        apart = isinstance(batches, ReadAhead)
        with Mover(source, store, ctx.clock, report.count_moved, background=apart) as mover:
            stopped = _drain(batches, source, store, ctx, _Drain(folders, report, last_uid, mover))
            if not stopped and not ctx.decide_every_cycle and ctx.settle is not None:
                ctx.settle()  # the decide stage owed, while the last batch is moved
    report.stopped = stopped
    store.set_checkpoint(_finished(store, source, ctx), ctx.clock())
    if ctx.decide_every_cycle and ctx.after_batch is not None and not stopped:
        ctx.after_batch(ctx.clock())  # after the checkpoint: this cycle's reading counts
    report.backlog = max(len(uids) - report.seen, 0) + len(report.failed)
    _warn_unexpunged(report)
    return report


def _drain(
    batches: Iterable[list[RawMessage]],
    source: MailSource,
    store: Store,
    ctx: CycleContext,
    drain: _Drain,
) -> bool:
    """Analyse, commit and move each batch in turn (with helpers, the next batch is analysed
    while one is committed); True when a stop request ended it."""
    queued: _Queued | None = None  # the batch to commit next
    for batch in batches:
        ahead: _Queued | None = _analyse(batch, ctx, drain.folders)  # helpers start on it now
        if ctx.helpers is None:  # nothing runs meanwhile: commit this very batch
            queued, ahead = ahead, None
        if queued is not None:
            _commit(queued, source, store, ctx, drain)
            if ctx.stop.is_set():
                return True  # a batch analysed ahead waits for the next cycle
        queued = ahead
    if queued is None:  # the last batch, analysed ahead
        return False
    if ctx.stop.is_set():
        return True
    _commit(queued, source, store, ctx, drain)
    return ctx.stop.is_set()


@contextmanager
def _batches(
    source: MailSource, uids: Sequence[int], folders: MailboxSettings
) -> Iterator[Iterable[list[RawMessage]]]:
    """The batches of `uids`: fetched ahead over a second connection (IMAP), while this one
    records and moves; else, or when the server refuses a second connection, in turn."""
    reader = None
    if isinstance(source, ImapSource) and len(uids) > folders.batch_size:
        try:
            reader = source.reader()
        except SourceError as err:
            log.info("mailbox=%s no second connection (%s): fetching in turn", source.mailbox, err)
    if reader is None:
        yield fetch_batches(source, uids, folders.batch_size, folders.fetch_bytes)
        return
    try:
        with ReadAhead(reader, uids, folders.batch_size, folders.fetch_bytes) as ahead:
            yield ahead
    finally:
        reader.close()


def _finished(store: Store, source: MailSource, ctx: CycleContext) -> Checkpoint:
    current = store.get_checkpoint(source.mailbox)
    last = current.last_uid if current and current.uidvalidity == source.uidvalidity else 0
    return Checkpoint(source.mailbox, source.uidvalidity, last, last_success=ctx.clock())


@dataclass(slots=True)
class RunResult:
    """One cycle over every configured mailbox."""

    reports: list[CycleReport] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # mailbox name -> why it failed

    @property
    def ok(self) -> bool:
        return not self.errors


def open_source(folders: MailboxSettings, *, read_only: bool = False) -> ImapSource:
    """Connect (with backoff and jitter on connection failures) and select the folder."""
    return connect_with_retry(lambda: ImapSource(folders, read_only=read_only), Backoff())


def run_once(
    mailboxes: Sequence[MailboxSettings],
    store: Store,
    ctx: CycleContext,
    mode: Mode,
    lease: LeaseTerms | None = None,
) -> RunResult:
    """Poll each mailbox once.  A mailbox that fails is logged and reported; the others go on.

    Each mailbox is polled under its lease (`lease`: default ``host:pid``, 120 s), so a running
    daemon worker's mailbox is skipped (logged) rather than drained twice at once.
    """
    result = RunResult()
    terms = lease or lease_terms(DaemonSettings())
    log.info("cycle start mode=%s mailboxes=%d", mode, len(mailboxes))
    for folders in mailboxes:
        if ctx.stop.is_set():
            break
        try:
            if not claim(store, folders.name, terms, ctx.clock()):
                continue
            tenure = Tenure(store, folders.name, terms, ctx.hooks())
            with tenure, open_source(folders) as source:
                report = poll_mailbox(source, store, folders, ctx.under(tenure))
        except ReconcilerError as err:
            log.error("mailbox=%s cycle failed: %s", folders.name, err)
            result.errors[folders.name] = str(err)
            continue
        except Exception as err:  # the cycle boundary: one mailbox never stops the others
            log.exception("mailbox=%s cycle failed unexpectedly", folders.name)
            result.errors[folders.name] = f"unexpected {type(err).__name__}: {err}"
            continue
        log.info("cycle %s", report.summary())
        result.reports.append(report)
    return result

"""The daemon: APScheduler 3 BlockingScheduler, one interval job per mailbox (STYLE 2.12).

Each job runs one cycle over its mailbox (`max_instances=1`, `coalesce=True`, a misfire grace
time), plus a daily maintenance job that prunes old evidence.  Several daemons may share one
database (issue 7): a cycle runs only under the mailbox's lease, and a lease job renews this
worker's presence every third of `lease_seconds` and wakes the mailboxes it was refused once
they are free (a held lease, or its fair share reached: see `reconciler.service.leasing`).

SIGTERM or SIGINT sets the stop flag: the running cycle finishes its current batch (committed
and moved), releases its lease, and the process exits 0.  apscheduler is imported here and
nowhere else.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from reconciler.errors import ReconcilerError, StoreError
from reconciler.records import Mode
from reconciler.service.cycle import CycleContext, open_source, poll_mailbox
from reconciler.service.digest import send_digest
from reconciler.service.leasing import Crew, Tenure, lease_terms
from reconciler.service.metrics import NoMetrics
from reconciler.settings import DaemonSettings, DigestSettings, MailboxSettings
from reconciler.store import Store

__all__ = ["DaemonPlan", "run_daemon", "watch_mailbox"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DaemonPlan:
    """Everything the daemon runs: mailboxes, timing, the store, and how to read the mode."""

    mailboxes: tuple[MailboxSettings, ...]
    daemon: DaemonSettings
    retention_days: int
    store: Store
    ctx: CycleContext
    mode: Callable[[], Mode]  # read at each cycle: a mode change needs no restart
    metrics: NoMetrics = field(default_factory=NoMetrics)  # the Prometheus endpoint, if any
    digest: DigestSettings = field(default_factory=DigestSettings)


def _poll(plan: DaemonPlan, crew: Crew, folders: MailboxSettings, woken: threading.Event) -> None:
    """Cycles over one mailbox: again while new mail was announced during the last one (a wake
    while the job runs is dropped by APScheduler: `max_instances=1`)."""
    while not plan.ctx.stop.is_set():
        woken.clear()
        if not _cycle(plan, crew, folders) or not woken.is_set():
            woken.clear()  # refused or failed: the next wake (IDLE, heartbeat) runs the job
            return
        log.info("mailbox=%s new mail during the cycle: polling again", folders.name)


def _cycle(plan: DaemonPlan, crew: Crew, folders: MailboxSettings) -> bool:
    """One cycle under the mailbox's lease; False when refused or failed (the job boundary
    catches and logs every failure)."""
    store = plan.store
    try:
        if not crew.claim(store, folders.name, plan.ctx.clock()):
            return False
        log.info("cycle start mailbox=%s mode=%s", folders.name, plan.mode())

        def keep(now: datetime) -> bool:
            return crew.keeps(store, folders.name, now)

        started = time.monotonic()
        tenure = Tenure(store, folders.name, crew.terms, plan.ctx.hooks(), keep)
        with tenure, open_source(folders) as source:
            report = poll_mailbox(source, store, folders, plan.ctx.under(tenure))
        log.info("cycle %s", report.summary())
        plan.metrics.observe_cycle(report, time.monotonic() - started)
        plan.metrics.set_backlog(folders.name, report.backlog)
        plan.metrics.set_mode(plan.mode())
        return True
    except StoreError as err:
        log.error("mailbox=%s cycle failed: %s", folders.name, err)
        _reconnect(store)
    except ReconcilerError as err:
        log.error("mailbox=%s cycle failed: %s", folders.name, err)
    except Exception:  # the cycle boundary: the daemon outlives any one failure
        log.exception("mailbox=%s cycle failed unexpectedly", folders.name)
    plan.metrics.observe_failure(folders.name)
    return False


def _reconnect(store: Store) -> None:
    """After a database failure: a fresh connection for this thread (peewee keeps one per
    thread; a connection the server closed stays closed), so a restart costs one cycle."""
    try:
        store.reconnect()
    except StoreError as err:
        log.warning("database still unavailable: %s", err)


def _maintain(plan: DaemonPlan) -> None:
    before = plan.ctx.clock() - timedelta(days=plan.retention_days)
    try:
        pruned = plan.store.prune_evidence(before)
        log.info("maintenance: pruned %d events recorded before %s", pruned, before.date())
        plan.metrics.set_action_failures(len(plan.store.unfinished_actions(limit=1000)))
    except ReconcilerError as err:
        log.error("maintenance failed: %s", err)


def _digest(plan: DaemonPlan) -> None:
    """Hourly: `send_digest` itself decides whether a digest is due (restart-proof)."""
    try:
        reported = send_digest(plan.store, plan.digest, plan.ctx.clock())
        if reported:
            log.info("digest sent: %d unmatched/quarantined message(s)", reported)
    except ReconcilerError as err:
        log.error("digest failed: %s", err)


def _wake(scheduler: BlockingScheduler, woken: dict[str, threading.Event], name: str) -> None:
    """Run the mailbox's job now; if it is running, it polls once more when done."""
    if woken[name].is_set():
        return  # already due: the running cycle polls again when it ends
    woken[name].set()
    with contextlib.suppress(JobLookupError):  # shutting down: the jobs are gone
        scheduler.modify_job(f"poll:{name}", next_run_time=datetime.now(UTC))


def _heartbeat(
    plan: DaemonPlan, crew: Crew, scheduler: BlockingScheduler, woken: dict[str, threading.Event]
) -> None:
    """Renew this worker's presence; wake the refused mailboxes whose lease came free."""
    if plan.ctx.stop.is_set():
        return
    try:
        ready = crew.heartbeat(plan.store, plan.ctx.clock())
    except StoreError as err:
        log.error("lease heartbeat failed: %s", err)
        _reconnect(plan.store)
        return
    for name in ready:
        log.debug("mailbox=%s lease free: waking its job", name)
        _wake(scheduler, woken, name)


def _schedule(
    plan: DaemonPlan, crew: Crew, scheduler: BlockingScheduler, woken: dict[str, threading.Event]
) -> None:
    start = datetime.now(UTC)
    scheduler.add_job(
        _heartbeat,
        IntervalTrigger(seconds=crew.terms.ttl.total_seconds() / 3, timezone=UTC),
        args=(plan, crew, scheduler, woken),
        id="leases",
        max_instances=1,
        coalesce=True,
    )
    for folders in plan.mailboxes:
        scheduler.add_job(
            _poll,
            IntervalTrigger(seconds=plan.daemon.interval_seconds, timezone=UTC),
            args=(plan, crew, folders, woken[folders.name]),
            id=f"poll:{folders.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=plan.daemon.misfire_grace_seconds,
            next_run_time=start,
        )
    # the end of the warm-up (see Crew): take the mailboxes left for a worker to start
    scheduler.add_job(
        _heartbeat,
        "date",
        run_date=start + timedelta(seconds=crew.warm_up + 0.05),
        args=(plan, crew, scheduler, woken),
        id="warmed-up",
    )
    scheduler.add_job(
        _maintain,
        IntervalTrigger(days=1, timezone=UTC),
        args=(plan,),
        id="maintenance",
        max_instances=1,
        coalesce=True,
        next_run_time=start + timedelta(minutes=1),
    )
    if plan.digest.enabled:
        scheduler.add_job(
            _digest,
            IntervalTrigger(hours=1, timezone=UTC),
            args=(plan,),
            id="digest",
            max_instances=1,
            coalesce=True,
            next_run_time=start + timedelta(minutes=2),
        )


def watch_mailbox(
    folders: MailboxSettings, stop: threading.Event, wake: Callable[[], None], wait: float
) -> None:
    """IMAP IDLE on a read-only connection; `wake()` when new mail arrives, until `stop`.

    Connection failures are logged and retried with growing pauses (the poll job still runs
    at its interval meanwhile, so IDLE only ever makes the daemon faster, never slower).
    """
    pause = 1.0
    while not stop.is_set():
        try:
            with open_source(folders, read_only=True) as source:
                pause = 1.0
                while not stop.is_set():
                    if source.wait_for_new(wait):
                        log.debug("mailbox=%s IDLE: new mail", folders.name)
                        wake()
        except ReconcilerError as err:
            log.warning("mailbox=%s IDLE watcher: %s; retrying in %.0f s", folders.name, err, pause)
            stop.wait(pause)
            pause = min(pause * 2, 300.0)


def _start_watchers(
    plan: DaemonPlan, scheduler: BlockingScheduler, woken: dict[str, threading.Event]
) -> None:
    wait = float(min(plan.daemon.interval_seconds, 300))  # re-issue IDLE well before 29 min
    for folders in plan.mailboxes:

        def wake(name: str = folders.name) -> None:
            _wake(scheduler, woken, name)

        threading.Thread(
            target=watch_mailbox,
            args=(folders, plan.ctx.stop, wake, wait),
            name=f"idle:{folders.name}",
            daemon=True,
        ).start()


def run_daemon(plan: DaemonPlan) -> int:
    """Run until SIGTERM or SIGINT; returns the exit code: 0 after SIGTERM (a service stop),
    130 after SIGINT (Ctrl-C, as a shell reports it), in both cases after a clean stop."""
    scheduler = BlockingScheduler(timezone=UTC)
    crew = Crew(lease_terms(plan.daemon), len(plan.mailboxes))
    crew.heartbeat(plan.store, plan.ctx.clock())  # present before the first claim
    woken = {folders.name: threading.Event() for folders in plan.mailboxes}
    _schedule(plan, crew, scheduler, woken)

    stopped_by: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if plan.ctx.stop.is_set():
            return
        stopped_by.append(signum)
        name = signal.Signals(signum).name
        log.info("%s: finishing the current batch, then stopping", name)
        plan.ctx.stop.set()
        # shutdown(wait=True) waits for the running cycle; from a thread, so that the main
        # thread (blocked in the scheduler loop) is woken only once the cycle has finished.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    if plan.daemon.idle:
        _start_watchers(plan, scheduler, woken)
    log.info(
        "daemon start worker=%s mailboxes=%d interval=%ss lease=%ss mode=%s",
        crew.terms.worker,
        len(plan.mailboxes),
        plan.daemon.interval_seconds,
        plan.daemon.lease_seconds,
        plan.mode(),
    )
    try:
        scheduler.start()
    finally:
        _reconnect(plan.store)  # the main thread's connection may be stale after a restart
        crew.leave(plan.store, plan.ctx.clock())
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("daemon stopped")
    return 128 + signal.SIGINT if stopped_by == [signal.SIGINT] else 0
